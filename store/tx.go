package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tx is one transaction (Store.Update or Store.View). Its methods check
// the store's rules against the state as of this transaction; none of a
// failed Update's changes are kept. A Tx must not be used after the
// function it was given to returns, nor from another goroutine.
type Tx struct {
	s     *Store
	tx    *bolt.Tx
	dirty bool
}

type kind struct {
	word   string
	prefix string
	bucket []byte
	names  []byte
}

var (
	kindCGW = kind{"customer gateway", PrefixCustomerGateway, bCGW, bCGWNames}
	kindVGW = kind{"VPN gateway", PrefixVPNGateway, bVGW, bVGWNames}
	kindVPN = kind{"VPN connection", PrefixVPNConnection, bVPN, bVPNNames}
)

// Rules' constants (AWS's).
const (
	MaxNameLen      = 64
	MaxCGWBGPASN    = 2147483647
	DefaultASN      = 64512
	DefaultRouteTbl = 254 // main
	maxRouteTable   = 4294967295
	localRouteTable = 255
)

// Revision is the store's revision as of this transaction (before this
// Update's own increment).
func (t *Tx) Revision() uint64 { return readRevision(t.tx) }

func (t *Tx) writable() error {
	if !t.tx.Writable() {
		return errors.New("state store: cannot change objects in a read-only transaction (use Store.Update)")
	}
	return nil
}

func (t *Tx) get(b []byte, k string) []byte { return t.tx.Bucket(b).Get([]byte(k)) }

func (t *Tx) put(b []byte, k string, v []byte) error {
	t.dirty = true
	return t.tx.Bucket(b).Put([]byte(k), v)
}

func (t *Tx) del(b []byte, k string) error {
	t.dirty = true
	return t.tx.Bucket(b).Delete([]byte(k))
}

func (t *Tx) load(k kind, id string, v any) error {
	raw := t.get(k.bucket, id)
	if raw == nil {
		return errf(ErrNotFound, "%s %s does not exist", k.word, id)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("state store: %s %s: corrupt record: %w", k.word, id, err)
	}
	return nil
}

// resolve finds an object's ID from its ID or its name.
func (t *Tx) resolve(k kind, idOrName string) (string, error) {
	if idOrName == "" {
		return "", errf(ErrInvalid, "no %s given", k.word)
	}
	if t.get(k.bucket, idOrName) != nil {
		return idOrName, nil
	}
	if id := t.get(k.names, idOrName); id != nil {
		return string(id), nil
	}
	return "", errf(ErrNotFound, "%s %q does not exist", k.word, idOrName)
}

// assignID returns the given ID after checking it, or a new one.
func (t *Tx) assignID(k kind, id string) (string, error) {
	if id == "" {
		for {
			id = newID(k.prefix)
			if t.get(k.bucket, id) == nil && t.get(k.names, id) == nil {
				return id, nil
			}
		}
	}
	if !IsID(k.prefix, id) {
		return "", errf(ErrInvalid, "%s ID %q must be %s- and %d hex digits (leave it empty to have one generated)", k.word, id, k.prefix, idHexLen)
	}
	if t.get(k.bucket, id) != nil {
		return "", errf(ErrConflict, "%s %s already exists", k.word, id)
	}
	if other := t.get(k.names, id); other != nil {
		return "", errf(ErrConflict, "%s ID %s is already the name of %s", k.word, id, string(other))
	}
	return id, nil
}

// checkName checks a new object's name (an empty name becomes the ID).
func (t *Tx) checkName(k kind, id, name string) (string, error) {
	if name == "" {
		return id, nil
	}
	if len(name) > MaxNameLen || !nameOK(name) {
		return "", errf(ErrInvalid, "%s name %q: must be 1–%d characters of A-Z a-z 0-9 . _ - starting with a letter or digit", k.word, name, MaxNameLen)
	}
	if name != id && looksLikeID(name) {
		return "", errf(ErrInvalid, "%s name %q has the form of an ID: choose another name", k.word, name)
	}
	if other := t.get(k.names, name); other != nil {
		return "", errf(ErrConflict, "%s name %q is already used by %s", k.word, name, string(other))
	}
	if t.get(k.bucket, name) != nil {
		return "", errf(ErrConflict, "%s name %q is the ID of another %s", k.word, name, k.word)
	}
	return name, nil
}

func nameOK(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case (r == '.' || r == '_' || r == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// count walks the bucket: Bucket.Stats does not see keys written earlier
// in the same write transaction, so a bulk import could pass a limit.
func (t *Tx) count(b []byte) int {
	n := 0
	c := t.tx.Bucket(b).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

func (t *Tx) limit(l Limit) int { return t.s.Limit(l) }

func now() time.Time { return time.Now().UTC() }

// ---- customer gateways ----

// CreateCustomerGateway stores a new customer gateway and returns it with
// its ID (generated unless cg.ID is a well-formed unused ID) and CreatedAt.
// An empty Name becomes the ID.
func (t *Tx) CreateCustomerGateway(cg CustomerGateway) (CustomerGateway, error) {
	if err := t.writable(); err != nil {
		return CustomerGateway{}, err
	}
	cg.IP = cg.IP.Unmap()
	switch {
	case !cg.IP.IsValid():
		return CustomerGateway{}, errf(ErrInvalid, "customer gateway IP address is required")
	case !cg.IP.Is4():
		return CustomerGateway{}, errf(ErrInvalid, "customer gateway IP %s must be an IPv4 address", cg.IP)
	case cg.BGPASN > MaxCGWBGPASN:
		return CustomerGateway{}, errf(ErrInvalid, "customer gateway BGP ASN %d must be in 1–%d (or 0: not set)", cg.BGPASN, MaxCGWBGPASN)
	}
	if n, max := t.count(bCGW), t.limit(LimitCustomerGateways); n >= max {
		return CustomerGateway{}, errf(ErrLimit, "cannot create customer gateway: the limit of %d customer gateways is reached", max)
	}
	var err error
	if cg.ID, err = t.assignID(kindCGW, cg.ID); err != nil {
		return CustomerGateway{}, err
	}
	if cg.Name, err = t.checkName(kindCGW, cg.ID, cg.Name); err != nil {
		return CustomerGateway{}, err
	}
	if cg.CreatedAt.IsZero() {
		cg.CreatedAt = now()
	}
	if err := t.put(bCGW, cg.ID, mustJSON(cg)); err != nil {
		return CustomerGateway{}, err
	}
	return cg, t.put(bCGWNames, cg.Name, []byte(cg.ID))
}

// GetCustomerGateway returns the customer gateway with that ID or name.
func (t *Tx) GetCustomerGateway(idOrName string) (CustomerGateway, error) {
	id, err := t.resolve(kindCGW, idOrName)
	if err != nil {
		return CustomerGateway{}, err
	}
	var cg CustomerGateway
	return cg, t.load(kindCGW, id, &cg)
}

// ListCustomerGateways returns every customer gateway, by name.
func (t *Tx) ListCustomerGateways() ([]CustomerGateway, error) {
	out, err := list[CustomerGateway](t, kindCGW)
	slices.SortFunc(out, func(a, b CustomerGateway) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// DeleteCustomerGateway deletes a customer gateway that no VPN connection
// uses.
func (t *Tx) DeleteCustomerGateway(idOrName string) error {
	if err := t.writable(); err != nil {
		return err
	}
	cg, err := t.GetCustomerGateway(idOrName)
	if err != nil {
		return err
	}
	if conns := t.prefixValues(bCGWConn, cg.ID+"|", true); len(conns) > 0 {
		return errf(ErrInUse, "customer gateway %s is used by VPN connection %s: delete the connection first",
			label(cg.ID, cg.Name), t.vpnLabel(conns[0]))
	}
	if err := t.del(bCGW, cg.ID); err != nil {
		return err
	}
	return t.del(bCGWNames, cg.Name)
}

// ---- VPN gateways ----

// CreateVPNGateway stores a new virtual private gateway. ASN 0 becomes
// AWS's default 64512. If g.Attached is set, g.VPCCIDRs and g.RouteTable
// are checked as by AttachVPNGateway.
func (t *Tx) CreateVPNGateway(g VPNGateway) (VPNGateway, error) {
	if err := t.writable(); err != nil {
		return VPNGateway{}, err
	}
	g = g.clone()
	if g.ASN == 0 {
		g.ASN = DefaultASN
	}
	if !(g.ASN >= 64512 && g.ASN <= 65534) && !(g.ASN >= 4200000000 && g.ASN <= 4294967294) {
		return VPNGateway{}, errf(ErrInvalid, "VPN gateway Amazon-side ASN %d must be in 64512–65534 or 4200000000–4294967294", g.ASN)
	}
	if g.Attached {
		rt, err := checkVPC(g.VPCCIDRs, g.RouteTable)
		if err != nil {
			return VPNGateway{}, err
		}
		g.RouteTable = rt
	} else if len(g.VPCCIDRs) > 0 || g.RouteTable != 0 {
		return VPNGateway{}, errf(ErrInvalid, "VPN gateway: VPC CIDRs and route table are set only for an attached gateway")
	}
	if n, max := t.count(bVGW), t.limit(LimitVPNGateways); n >= max {
		return VPNGateway{}, errf(ErrLimit, "cannot create VPN gateway: the limit of %d VPN gateways is reached", max)
	}
	var err error
	if g.ID, err = t.assignID(kindVGW, g.ID); err != nil {
		return VPNGateway{}, err
	}
	if g.Name, err = t.checkName(kindVGW, g.ID, g.Name); err != nil {
		return VPNGateway{}, err
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = now()
	}
	if err := t.put(bVGW, g.ID, mustJSON(g)); err != nil {
		return VPNGateway{}, err
	}
	return g, t.put(bVGWNames, g.Name, []byte(g.ID))
}

// GetVPNGateway returns the VPN gateway with that ID or name.
func (t *Tx) GetVPNGateway(idOrName string) (VPNGateway, error) {
	id, err := t.resolve(kindVGW, idOrName)
	if err != nil {
		return VPNGateway{}, err
	}
	var g VPNGateway
	return g, t.load(kindVGW, id, &g)
}

// ListVPNGateways returns every VPN gateway, by name.
func (t *Tx) ListVPNGateways() ([]VPNGateway, error) {
	out, err := list[VPNGateway](t, kindVGW)
	slices.SortFunc(out, func(a, b VPNGateway) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// AttachVPNGateway attaches a detached VPN gateway to a VPC: the VPC's
// CIDRs (what the tunnels may reach, advertised to customers) and the
// kernel route table for propagated routes (0: 254, main).
func (t *Tx) AttachVPNGateway(idOrName string, vpcCIDRs []netip.Prefix, routeTable int) (VPNGateway, error) {
	return t.attach(idOrName, vpcCIDRs, routeTable, false)
}

// ModifyVPNGatewayAttachment changes the VPC CIDRs and route table of an
// attached VPN gateway (AWS: associating CIDRs with the VPC), which a
// gateway with VPN connections cannot get by detaching.
func (t *Tx) ModifyVPNGatewayAttachment(idOrName string, vpcCIDRs []netip.Prefix, routeTable int) (VPNGateway, error) {
	return t.attach(idOrName, vpcCIDRs, routeTable, true)
}

func (t *Tx) attach(idOrName string, vpcCIDRs []netip.Prefix, routeTable int, modify bool) (VPNGateway, error) {
	if err := t.writable(); err != nil {
		return VPNGateway{}, err
	}
	g, err := t.GetVPNGateway(idOrName)
	if err != nil {
		return VPNGateway{}, err
	}
	switch {
	case modify && !g.Attached:
		return VPNGateway{}, errf(ErrConflict, "VPN gateway %s is not attached to a VPC: attach it first", label(g.ID, g.Name))
	case !modify && g.Attached:
		return VPNGateway{}, errf(ErrConflict, "VPN gateway %s is already attached to a VPC", label(g.ID, g.Name))
	}
	rt, err := checkVPC(vpcCIDRs, routeTable)
	if err != nil {
		return VPNGateway{}, err
	}
	for _, vpnID := range t.prefixValues(bVGWConn, g.ID+"|", false) {
		var c VPNConnection
		if err := t.load(kindVPN, vpnID, &c); err != nil {
			return VPNGateway{}, err
		}
		for _, r := range c.StaticRoutes {
			for _, v := range vpcCIDRs {
				if r.Overlaps(v) {
					return VPNGateway{}, errf(ErrConflict, "VPC CIDR %s overlaps static route %s of VPN connection %s", v, r, label(c.ID, c.Name))
				}
			}
		}
	}
	g.Attached = true
	g.VPCCIDRs = slices.Clone(vpcCIDRs)
	g.RouteTable = rt
	return g, t.put(bVGW, g.ID, mustJSON(g))
}

// checkVPC checks VPC CIDRs and a route table and returns the route table
// with its default applied.
func checkVPC(cidrs []netip.Prefix, rt int) (int, error) {
	if len(cidrs) == 0 {
		return 0, errf(ErrInvalid, "VPC CIDRs: at least one IPv4 prefix is required")
	}
	for i, p := range cidrs {
		switch {
		case !p.IsValid() || !p.Addr().Is4():
			return 0, errf(ErrInvalid, "VPC CIDR %s must be an IPv4 prefix", p)
		case p != p.Masked():
			return 0, errf(ErrInvalid, "VPC CIDR %s is not a network address (did you mean %s?)", p, p.Masked())
		}
		for _, q := range cidrs[:i] {
			if p.Overlaps(q) {
				return 0, errf(ErrInvalid, "VPC CIDR %s overlaps VPC CIDR %s", p, q)
			}
		}
	}
	if rt == 0 {
		rt = DefaultRouteTbl
	}
	if rt < 1 || rt > maxRouteTable || rt == localRouteTable {
		return 0, errf(ErrInvalid, "route table %d must be in 1–%d except 255 (local)", rt, maxRouteTable)
	}
	return rt, nil
}

// DetachVPNGateway detaches a VPN gateway from its VPC. It is refused
// while VPN connections use the gateway (they would carry no traffic).
func (t *Tx) DetachVPNGateway(idOrName string) (VPNGateway, error) {
	if err := t.writable(); err != nil {
		return VPNGateway{}, err
	}
	g, err := t.GetVPNGateway(idOrName)
	if err != nil {
		return VPNGateway{}, err
	}
	if !g.Attached {
		return VPNGateway{}, errf(ErrConflict, "VPN gateway %s is not attached to a VPC", label(g.ID, g.Name))
	}
	if conns := t.prefixValues(bVGWConn, g.ID+"|", false); len(conns) > 0 {
		return VPNGateway{}, errf(ErrInUse, "VPN gateway %s is used by VPN connection %s: delete the connection before detaching the gateway",
			label(g.ID, g.Name), t.vpnLabel(conns[0]))
	}
	g.Attached, g.VPCCIDRs, g.RouteTable = false, nil, 0
	return g, t.put(bVGW, g.ID, mustJSON(g))
}

// DeleteVPNGateway deletes a VPN gateway that has no VPN connections and
// is detached.
func (t *Tx) DeleteVPNGateway(idOrName string) error {
	if err := t.writable(); err != nil {
		return err
	}
	g, err := t.GetVPNGateway(idOrName)
	if err != nil {
		return err
	}
	if conns := t.prefixValues(bVGWConn, g.ID+"|", false); len(conns) > 0 {
		return errf(ErrInUse, "VPN gateway %s is used by VPN connection %s: delete the connection first",
			label(g.ID, g.Name), t.vpnLabel(conns[0]))
	}
	if g.Attached {
		return errf(ErrInUse, "VPN gateway %s is attached to a VPC: detach it first", label(g.ID, g.Name))
	}
	if err := t.del(bVGW, g.ID); err != nil {
		return err
	}
	return t.del(bVGWNames, g.Name)
}

// SetRoutePropagation turns route propagation of a VPN gateway on or off.
func (t *Tx) SetRoutePropagation(idOrName string, on bool) (VPNGateway, error) {
	if err := t.writable(); err != nil {
		return VPNGateway{}, err
	}
	g, err := t.GetVPNGateway(idOrName)
	if err != nil {
		return VPNGateway{}, err
	}
	if g.RoutePropagation == on {
		return g, nil
	}
	g.RoutePropagation = on
	return g, t.put(bVGW, g.ID, mustJSON(g))
}

// ---- VPN connections ----

// CreateVPNConnection stores a new VPN connection. CustomerGatewayID and
// VPNGatewayID may be IDs or names (IDs are stored). Routing "" becomes
// static. A tunnel without PSK gets a generated one and a tunnel without
// inside CIDR a random free one, as AWS does. The rules: both gateways
// exist; a VPN gateway has at most one connection per customer gateway IP
// and at most Limit(LimitVPNConnectionsPerGateway) connections; inside
// CIDRs and outside IPs are unique across all tunnels; static routes are
// valid, distinct, at most Limit(LimitStaticRoutesPerConnection) and do not
// overlap the VPC CIDRs; dynamic routing needs a customer gateway BGP ASN
// other than the gateway's ASN. Other tunnel options are the caller's to
// validate.
func (t *Tx) CreateVPNConnection(c VPNConnection) (VPNConnection, error) {
	if err := t.writable(); err != nil {
		return VPNConnection{}, err
	}
	c = c.clone()
	// The new connection is named by its name: its ID means nothing to
	// the operator until it is created.
	cl := "new VPN connection"
	if c.Name != "" {
		cl = "VPN connection " + c.Name
	}
	var err error
	if c.ID, err = t.assignID(kindVPN, c.ID); err != nil {
		return VPNConnection{}, err
	}
	if c.Name, err = t.checkName(kindVPN, c.ID, c.Name); err != nil {
		return VPNConnection{}, err
	}
	if c.CustomerGatewayID == "" {
		return VPNConnection{}, errf(ErrInvalid, "%s: a customer gateway is required", cl)
	}
	if c.VPNGatewayID == "" {
		return VPNConnection{}, errf(ErrInvalid, "%s: a VPN gateway is required", cl)
	}
	cg, err := t.GetCustomerGateway(c.CustomerGatewayID)
	if err != nil {
		return VPNConnection{}, err
	}
	g, err := t.GetVPNGateway(c.VPNGatewayID)
	if err != nil {
		return VPNConnection{}, err
	}
	c.CustomerGatewayID, c.VPNGatewayID = cg.ID, g.ID
	switch c.Routing {
	case "":
		c.Routing = RoutingStatic
	case RoutingStatic:
	case RoutingDynamic:
		if cg.BGPASN == 0 {
			return VPNConnection{}, errf(ErrInvalid, "%s: dynamic routing needs a BGP ASN, and customer gateway %s has none",
				cl, label(cg.ID, cg.Name))
		}
		if cg.BGPASN == g.ASN {
			return VPNConnection{}, errf(ErrInvalid, "%s: customer gateway %s has BGP ASN %d, the Amazon-side ASN of VPN gateway %s; eBGP needs different ASNs",
				cl, label(cg.ID, cg.Name), cg.BGPASN, label(g.ID, g.Name))
		}
	default:
		return VPNConnection{}, errf(ErrInvalid, "%s: routing must be static or dynamic, got %q", cl, c.Routing)
	}
	if n, max := len(t.prefixValues(bVGWConn, g.ID+"|", false)), t.limit(LimitVPNConnectionsPerGateway); n >= max {
		return VPNConnection{}, errf(ErrLimit, "VPN gateway %s has reached its limit of %d VPN connections", label(g.ID, g.Name), max)
	}
	if other := t.get(bVGWConn, vgwConnKey(g.ID, cg.IP)); other != nil {
		return VPNConnection{}, errf(ErrConflict, "VPN gateway %s already has VPN connection %s to customer gateway IP %s: a VPN gateway cannot have two connections to the same customer gateway IP",
			label(g.ID, g.Name), t.vpnLabel(string(other)), cg.IP)
	}
	if max := t.limit(LimitStaticRoutesPerConnection); len(c.StaticRoutes) > max {
		return VPNConnection{}, errf(ErrLimit, "%s would have %d static routes: the limit is %d", cl, len(c.StaticRoutes), max)
	}
	for i, r := range c.StaticRoutes {
		if err := checkRoute(r, g); err != nil {
			return VPNConnection{}, err
		}
		if slices.Contains(c.StaticRoutes[:i], r) {
			return VPNConnection{}, errf(ErrConflict, "%s: static route %s is given twice", cl, r)
		}
	}
	if err := t.fillTunnels(&c, cl); err != nil {
		return VPNConnection{}, err
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	if err := t.put(bVPN, c.ID, mustJSON(c)); err != nil {
		return VPNConnection{}, err
	}
	if err := t.put(bVPNNames, c.Name, []byte(c.ID)); err != nil {
		return VPNConnection{}, err
	}
	if err := t.put(bVGWConn, vgwConnKey(g.ID, cg.IP), []byte(c.ID)); err != nil {
		return VPNConnection{}, err
	}
	if err := t.put(bCGWConn, cg.ID+"|"+c.ID, nil); err != nil {
		return VPNConnection{}, err
	}
	return c, t.indexTunnels(&c)
}

func vgwConnKey(vgwID string, cgwIP netip.Addr) string { return vgwID + "|" + cgwIP.String() }

func checkRoute(r netip.Prefix, g VPNGateway) error {
	switch {
	case !r.IsValid() || !r.Addr().Is4():
		return errf(ErrInvalid, "static route %s must be an IPv4 prefix", r)
	case r != r.Masked():
		return errf(ErrInvalid, "static route %s is not a network address (did you mean %s?)", r, r.Masked())
	}
	for _, v := range g.VPCCIDRs {
		if r.Overlaps(v) {
			return errf(ErrConflict, "static route %s overlaps VPC CIDR %s of VPN gateway %s", r, v, label(g.ID, g.Name))
		}
	}
	return nil
}

func tunnelOwner(vpnID string, tunnel int) string { return vpnID + "#" + strconv.Itoa(tunnel) }

// ownerLabel turns an index value "vpn-…#2" into "tunnel 2 of VPN
// connection vpn-… (name)".
func (t *Tx) ownerLabel(v []byte) string {
	id, n, _ := strings.Cut(string(v), "#")
	return "tunnel " + n + " of VPN connection " + t.vpnLabel(id)
}

func (t *Tx) vpnLabel(id string) string {
	var c VPNConnection
	if t.load(kindVPN, id, &c) != nil {
		return id
	}
	return label(c.ID, c.Name)
}

// fillTunnels checks the tunnels' identities against each other and the
// index (which must not hold this connection's tunnels), then generates
// missing inside CIDRs and PSKs.
// what names the connection in messages.
func (t *Tx) fillTunnels(c *VPNConnection, what string) error {
	cl := what
	for i := range c.Tunnels {
		tn, n := &c.Tunnels[i], i+1
		if tn.OutsideIP.IsValid() {
			if i == 1 && c.Tunnels[0].OutsideIP == tn.OutsideIP {
				return errf(ErrConflict, "%s: tunnel 2 outside IP %s is the same as tunnel 1's", cl, tn.OutsideIP)
			}
			if o := t.get(bOutside, tn.OutsideIP.String()); o != nil {
				return errf(ErrConflict, "%s: tunnel %d outside IP %s is already used by %s", cl, n, tn.OutsideIP, t.ownerLabel(o))
			}
		}
		if p := tn.InsideCIDR; p.IsValid() {
			switch {
			case !p.Addr().Is4() || p.Bits() != 30:
				return errf(ErrInvalid, "%s: tunnel %d inside CIDR %s must be an IPv4 /30", cl, n, p)
			case p != p.Masked():
				return errf(ErrInvalid, "%s: tunnel %d inside CIDR %s is not a network address (did you mean %s?)", cl, n, p, p.Masked())
			case !insideSpace.Contains(p.Addr()):
				return errf(ErrInvalid, "%s: tunnel %d inside CIDR %s is not inside 169.254.0.0/16", cl, n, p)
			case slices.Contains(ReservedInsideCIDRs, p):
				return errf(ErrInvalid, "%s: tunnel %d inside CIDR %s is reserved by AWS", cl, n, p)
			case i == 1 && c.Tunnels[0].InsideCIDR == p:
				return errf(ErrConflict, "%s: tunnel 2 inside CIDR %s is the same as tunnel 1's", cl, p)
			}
			if o := t.get(bInside, p.String()); o != nil {
				return errf(ErrConflict, "%s: tunnel %d inside CIDR %s is already used by %s", cl, n, p, t.ownerLabel(o))
			}
		}
	}
	for i := range c.Tunnels {
		tn := &c.Tunnels[i]
		if !tn.InsideCIDR.IsValid() {
			p, ok := generateInsideCIDR(func(p netip.Prefix) bool {
				return p == c.Tunnels[1-i].InsideCIDR || t.get(bInside, p.String()) != nil
			})
			if !ok {
				return errf(ErrLimit, "%s: no free inside CIDR is left in 169.254.0.0/16", cl)
			}
			tn.InsideCIDR = p
		}
		if tn.PSK == "" {
			tn.PSK = GeneratePSK()
		}
	}
	return nil
}

func (t *Tx) indexTunnels(c *VPNConnection) error {
	for i, tn := range c.Tunnels {
		owner := []byte(tunnelOwner(c.ID, i+1))
		if err := t.put(bInside, tn.InsideCIDR.String(), owner); err != nil {
			return err
		}
		if tn.OutsideIP.IsValid() {
			if err := t.put(bOutside, tn.OutsideIP.String(), owner); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *Tx) unindexTunnels(c *VPNConnection) error {
	for _, tn := range c.Tunnels {
		if err := t.del(bInside, tn.InsideCIDR.String()); err != nil {
			return err
		}
		if tn.OutsideIP.IsValid() {
			if err := t.del(bOutside, tn.OutsideIP.String()); err != nil {
				return err
			}
		}
	}
	return nil
}

// GetVPNConnection returns the VPN connection with that ID or name.
func (t *Tx) GetVPNConnection(idOrName string) (VPNConnection, error) {
	id, err := t.resolve(kindVPN, idOrName)
	if err != nil {
		return VPNConnection{}, err
	}
	var c VPNConnection
	return c, t.load(kindVPN, id, &c)
}

// ListVPNConnections returns every VPN connection, by name.
func (t *Tx) ListVPNConnections() ([]VPNConnection, error) {
	out, err := list[VPNConnection](t, kindVPN)
	slices.SortFunc(out, func(a, b VPNConnection) int { return strings.Compare(a.Name, b.Name) })
	return out, err
}

// DeleteVPNConnection deletes a VPN connection (and frees its inside CIDRs,
// outside IPs and customer gateway IP slot).
func (t *Tx) DeleteVPNConnection(idOrName string) error {
	if err := t.writable(); err != nil {
		return err
	}
	c, err := t.GetVPNConnection(idOrName)
	if err != nil {
		return err
	}
	cg, err := t.GetCustomerGateway(c.CustomerGatewayID)
	if err != nil {
		return fmt.Errorf("state store: VPN connection %s: %w", label(c.ID, c.Name), err)
	}
	for _, k := range []struct {
		b []byte
		k string
	}{
		{bVPN, c.ID}, {bVPNNames, c.Name}, {bVGWConn, vgwConnKey(c.VPNGatewayID, cg.IP)}, {bCGWConn, cg.ID + "|" + c.ID},
	} {
		if err := t.del(k.b, k.k); err != nil {
			return err
		}
	}
	return t.unindexTunnels(&c)
}

// AddStaticRoute adds a static route (a customer prefix) to a VPN
// connection.
func (t *Tx) AddStaticRoute(conn string, prefix netip.Prefix) (VPNConnection, error) {
	if err := t.writable(); err != nil {
		return VPNConnection{}, err
	}
	c, err := t.GetVPNConnection(conn)
	if err != nil {
		return VPNConnection{}, err
	}
	g, err := t.GetVPNGateway(c.VPNGatewayID)
	if err != nil {
		return VPNConnection{}, err
	}
	cl := label(c.ID, c.Name)
	if slices.Contains(c.StaticRoutes, prefix) {
		return VPNConnection{}, errf(ErrConflict, "VPN connection %s already has static route %s", cl, prefix)
	}
	if max := t.limit(LimitStaticRoutesPerConnection); len(c.StaticRoutes) >= max {
		return VPNConnection{}, errf(ErrLimit, "VPN connection %s has reached its limit of %d static routes", cl, max)
	}
	if err := checkRoute(prefix, g); err != nil {
		return VPNConnection{}, err
	}
	c.StaticRoutes = append(c.StaticRoutes, prefix)
	return c, t.put(bVPN, c.ID, mustJSON(c))
}

// DeleteStaticRoute removes a static route from a VPN connection.
func (t *Tx) DeleteStaticRoute(conn string, prefix netip.Prefix) (VPNConnection, error) {
	if err := t.writable(); err != nil {
		return VPNConnection{}, err
	}
	c, err := t.GetVPNConnection(conn)
	if err != nil {
		return VPNConnection{}, err
	}
	i := slices.Index(c.StaticRoutes, prefix)
	if i < 0 {
		return VPNConnection{}, errf(ErrNotFound, "VPN connection %s has no static route %s", label(c.ID, c.Name), prefix)
	}
	c.StaticRoutes = slices.Delete(c.StaticRoutes, i, i+1)
	return c, t.put(bVPN, c.ID, mustJSON(c))
}

// ModifyTunnelOptions changes tunnel 1 or 2 of a VPN connection: fn edits
// a copy of its options. Validating the options is the caller's; the store
// checks only the identity rules (inside CIDR and outside IP unique). An
// emptied PSK is replaced by a new generated one (AWS's "replace
// credentials") and a cleared inside CIDR by a new random one.
func (t *Tx) ModifyTunnelOptions(conn string, tunnel int, fn func(*TunnelOptions)) (VPNConnection, error) {
	if err := t.writable(); err != nil {
		return VPNConnection{}, err
	}
	c, err := t.GetVPNConnection(conn)
	if err != nil {
		return VPNConnection{}, err
	}
	if tunnel != 1 && tunnel != 2 {
		return VPNConnection{}, errf(ErrInvalid, "VPN connection %s has tunnels 1 and 2, not %d", label(c.ID, c.Name), tunnel)
	}
	old := c.clone()
	tn := c.Tunnels[tunnel-1].clone()
	if fn != nil {
		fn(&tn)
	}
	if bytes.Equal(mustJSON(tn), mustJSON(old.Tunnels[tunnel-1])) {
		return c, nil // no change: no write, no new revision
	}
	c.Tunnels[tunnel-1] = tn
	if err := t.unindexTunnels(&old); err != nil {
		return VPNConnection{}, err
	}
	if err := t.fillTunnels(&c, "VPN connection "+label(c.ID, c.Name)); err != nil {
		return VPNConnection{}, err
	}
	if err := t.indexTunnels(&c); err != nil {
		return VPNConnection{}, err
	}
	return c, t.put(bVPN, c.ID, mustJSON(c))
}

// ---- helpers ----

func list[T any](t *Tx, k kind) ([]T, error) {
	var out []T
	err := t.tx.Bucket(k.bucket).ForEach(func(key, v []byte) error {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("state store: %s %s: corrupt record: %w", k.word, key, err)
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

// prefixValues returns the values (or, with keySuffix, the key suffixes)
// of the index entries whose key starts with prefix.
func (t *Tx) prefixValues(b []byte, prefix string, keySuffix bool) []string {
	var out []string
	p := []byte(prefix)
	c := t.tx.Bucket(b).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if keySuffix {
			out = append(out, string(k[len(p):]))
		} else {
			out = append(out, string(v))
		}
	}
	return out
}

// check rebuilds every index from the objects and compares.
func (t *Tx) check() error {
	want := map[string]map[string]string{}
	for _, b := range indexBkts {
		want[string(b)] = map[string]string{}
	}
	add := func(b []byte, k, v string) error {
		m := want[string(b)]
		if old, dup := m[k]; dup {
			return fmt.Errorf("state store check: %s: key %q claimed by %q and %q", b, k, old, v)
		}
		m[k] = v
		return nil
	}
	cgws, err := t.ListCustomerGateways()
	if err != nil {
		return err
	}
	cgwIP := map[string]netip.Addr{}
	for _, g := range cgws {
		cgwIP[g.ID] = g.IP
		if err := add(bCGWNames, g.Name, g.ID); err != nil {
			return err
		}
	}
	vgws, err := t.ListVPNGateways()
	if err != nil {
		return err
	}
	vgwSet := map[string]bool{}
	for _, g := range vgws {
		vgwSet[g.ID] = true
		if err := add(bVGWNames, g.Name, g.ID); err != nil {
			return err
		}
	}
	conns, err := t.ListVPNConnections()
	if err != nil {
		return err
	}
	for _, c := range conns {
		ip, ok := cgwIP[c.CustomerGatewayID]
		if !ok {
			return fmt.Errorf("state store check: VPN connection %s: customer gateway %s does not exist", c.ID, c.CustomerGatewayID)
		}
		if !vgwSet[c.VPNGatewayID] {
			return fmt.Errorf("state store check: VPN connection %s: VPN gateway %s does not exist", c.ID, c.VPNGatewayID)
		}
		errs := []error{
			add(bVPNNames, c.Name, c.ID),
			add(bVGWConn, vgwConnKey(c.VPNGatewayID, ip), c.ID),
			add(bCGWConn, c.CustomerGatewayID+"|"+c.ID, ""),
		}
		for i, tn := range c.Tunnels {
			if !tn.InsideCIDR.IsValid() || tn.PSK == "" {
				errs = append(errs, fmt.Errorf("state store check: VPN connection %s tunnel %d has no inside CIDR or PSK", c.ID, i+1))
			}
			errs = append(errs, add(bInside, tn.InsideCIDR.String(), tunnelOwner(c.ID, i+1)))
			if tn.OutsideIP.IsValid() {
				errs = append(errs, add(bOutside, tn.OutsideIP.String(), tunnelOwner(c.ID, i+1)))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	for _, b := range indexBkts {
		got := map[string]string{}
		if err := t.tx.Bucket(b).ForEach(func(k, v []byte) error { got[string(k)] = string(v); return nil }); err != nil {
			return err
		}
		for k, v := range want[string(b)] {
			if g, ok := got[k]; !ok || g != v {
				return fmt.Errorf("state store check: %s: key %q is %q, want %q", b, k, g, v)
			}
		}
		for k := range got {
			if _, ok := want[string(b)][k]; !ok {
				return fmt.Errorf("state store check: %s: stale key %q", b, k)
			}
		}
	}
	return nil
}
