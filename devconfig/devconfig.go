// Package devconfig renders the customer-gateway configuration that AWS
// offers as "Download configuration" for a Site-to-Site VPN connection: a
// text file for one kind of customer device (strongSwan, Cisco ASA, Juniper
// SRX, Yamaha RTX, or a generic listing) with both tunnels, their PSKs,
// proposals that match the tunnel options, and routing (static routes or
// BGP).
//
// The templates live in templates/*.tmpl (embedded); the algorithm name
// tables per device in names.go. The package is a leaf: it imports only
// the standard library and suite, and the caller (the CLI) fills in a
// Connection from the gateway's configuration.
package devconfig

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/vpgw/vpgw/suite"
)

// Connection is one VPN connection as the customer sees it.
type Connection struct {
	ID, Name          string // e.g. vpn-0123456789abcdef0, vpn-1
	VGWASN            uint32
	CustomerGatewayIP netip.Addr
	CustomerASN       uint32 // 0 for static routing
	Routing           string // static | dynamic ("" = static)
	StaticRoutes      []netip.Prefix
	VPCCIDRs          []netip.Prefix
	Tunnels           [2]Tunnel
}

// Tunnel is one tunnel with its AWS tunnel options (vpgw's configuration
// names: aes128, aes256-gcm-16, sha2-256, DH group numbers).
type Tunnel struct {
	OutsideIP      netip.Addr   // the VGW's outside address
	InsideCIDR     netip.Prefix // /30; VGW .1, CGW .2
	PSK            string
	IKEVersions    []string // ikev1, ikev2; empty: both
	Phase1, Phase2 Phase
	DPDTimeout     time.Duration // 0: 40s
	DPDAction      string        // the VGW's dpd_timeout_action (informational)
	StartupAction  string        // the VGW's startup_action (informational)
}

// Phase is the proposal set and lifetime of phase 1 (IKE SA) or phase 2
// (IPsec SA). A zero Lifetime means AWS's default (8h / 1h); an empty
// phase 2 DHGroups means no PFS.
type Phase struct {
	Encryption, Integrity []string
	DHGroups              []int
	Lifetime              time.Duration
}

// Options are the customer's choices when downloading.
type Options struct {
	// IKEVersion is "ikev1" or "ikev2"; empty: per tunnel ikev2 if the
	// tunnel allows it, else ikev1.
	IKEVersion string
	// CustomerLANs are the on-prem prefixes for policy-based devices
	// (strongSwan's local_ts); default: the connection's static routes.
	CustomerLANs []netip.Prefix
}

// Device is one device type Render knows.
type Device struct {
	Name, Description string
}

var devices = []Device{
	{"cisco-asa", "Cisco ASA 9.7+ route-based VPN (VTI: interface Tunnel1/2 with tunnel protection ipsec profile), IKEv1 or IKEv2"},
	{"generic", "Generic: every value per tunnel (IKE, IPsec, tunnel interface, BGP/static routing), like AWS's generic configuration"},
	{"juniper-srx", "Juniper SRX (Junos set commands): route-based st0.1/st0.2, security zones, BGP group ebgp"},
	{"strongswan-ipsec", "strongSwan ipsec.conf and ipsec.secrets (legacy stroke interface), both in one output with file markers"},
	{"strongswan-swanctl", "strongSwan swanctl.conf (vici): two connections and their PSK secrets"},
	{"yamaha-rtx", "Yamaha RTX1210-style: tunnel select 1/2, ipsec ike, ipsec sa policy, ip tunnel, bgp"},
}

// Devices lists the device types, sorted by name.
func Devices() []Device { return slices.Clone(devices) }

func deviceNames() string {
	names := make([]string, len(devices))
	for i, d := range devices {
		names[i] = d.Name
	}
	return strings.Join(names, ", ")
}

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"secs":  func(d time.Duration) int64 { return int64((d + time.Second - 1) / time.Second) },
	"swdur": swanDur,
	"join":  strings.Join,
	"mask":  maskString,
	"joinp": joinPrefixes,
	"add":   func(a, b int) int { return a + b },
	"mul":   func(a, b int) int { return a * b },
}).Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl"))

const (
	defaultPhase1Lifetime = 8 * time.Hour
	defaultPhase2Lifetime = time.Hour
	defaultDPDTimeout     = 40 * time.Second
	// cgwRekeyMargin is how long before the lifetime the customer gateway
	// rekeys (strongSwan's margintime default, as in AWS's samples); at most
	// half the lifetime.
	cgwRekeyMargin = 9 * time.Minute
	dpdDelay       = 10 * time.Second
	bgpHoldTime    = 30 // seconds, as AWS and vpgw's bgp
)

// Render returns the configuration of connection c for device (one of
// Devices). Errors name the device list, the tunnel or the option at fault.
func Render(c Connection, device string, opt Options) ([]byte, error) {
	if !slices.ContainsFunc(devices, func(d Device) bool { return d.Name == device }) {
		return nil, fmt.Errorf("devconfig: unknown device %q (valid: %s)", device, deviceNames())
	}
	v, err := newView(c, device, opt)
	if err != nil {
		return nil, fmt.Errorf("devconfig: %s: %w", device, err)
	}
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, device+".tmpl", v); err != nil {
		return nil, fmt.Errorf("devconfig: %s: %w", device, err)
	}
	return b.Bytes(), nil
}

// view is what the templates see.
type view struct {
	Device      string
	Title       string // "vpn-1 (vpn-0123…)" for comments
	Label       string // vpn-1, safe as an identifier
	ID          string
	Routing     string
	Dynamic     bool
	CGWIP       netip.Addr
	CustomerASN uint32
	VGWASN      uint32
	LANs        []netip.Prefix
	LANsGiven   bool // false: LANs is 0.0.0.0/0, a placeholder
	VPCCIDRs    []netip.Prefix
	// StaticRoutes are the prefixes the VGW routes to the customer (static).
	StaticRoutes []netip.Prefix
	Tunnels      []*tunnelView
	DPDDelay     time.Duration
	HoldTime     int
	// LoadLine is a strongswan.conf charon.load with kernel-libipsec.
	LoadLine string
}

type tunnelView struct {
	N          int
	Name       string // vpn-1-t1
	IKEVersion string // ikev1 | ikev2
	IKEv1      bool
	OutsideIP  netip.Addr
	InsideCIDR netip.Prefix
	VGWInside  netip.Addr
	CGWInside  netip.Addr
	PSK        string

	P1, P2                   algs
	P1Life, P2Life           time.Duration
	P1Rekey, P2Rekey, Margin time.Duration
	DPDTimeout               time.Duration
	DPDAction, StartupAction string

	// strongSwan: IKE and ESP proposals; children (one for IKEv2, one per
	// selector pair for IKEv1, which carries a single pair per CHILD_SA).
	IKEProposals, ESPProposals []string
	LocalTS, RemoteTS          []netip.Prefix
	Children                   []child
}

type child struct {
	Name              string
	LocalTS, RemoteTS []netip.Prefix
}

// algs is one phase's allowed algorithms in a device's syntax, in the
// tunnel options' order, with the first choice for single-proposal devices.
type algs struct {
	Encr   []string // non-AEAD ciphers
	AEAD   []string // AEAD ciphers (need no integrity)
	Integ  []string
	PRF    []string // strongSwan only: PRFs for AEAD IKE proposals
	Groups []string
	Nums   []int // the DH group numbers of Groups

	Enc1     string // first allowed cipher the device has
	Enc1AEAD bool
	Integ1   string // first allowed integrity ("" if none)
	Group1   string // first allowed group ("" if none: no PFS)
	Group1N  int
}

// AnyIKEv1 reports whether a tunnel uses IKEv1.
func (v *view) AnyIKEv1() bool {
	return slices.ContainsFunc(v.Tunnels, func(t *tunnelView) bool { return t.IKEv1 })
}

// PFS reports whether phase 2 uses a DH group.
func (a algs) PFS() bool { return a.Group1 != "" }

// devNames maps one device's phase names; nil maps mean "not used".
type devNames struct {
	encr, integ, prf map[string]string
	dh               map[int]string
	aead             bool // AEAD ciphers allowed in this phase
}

func newView(c Connection, device string, opt Options) (*view, error) {
	v := &view{
		Device:      device,
		ID:          c.ID,
		CGWIP:       c.CustomerGatewayIP,
		CustomerASN: c.CustomerASN,
		VGWASN:      c.VGWASN,
		DPDDelay:    dpdDelay,
		HoldTime:    bgpHoldTime,
		LoadLine:    "random nonce openssl aes sha1 sha2 hmac gcm kdf pem pkcs1 x509 pubkey curve25519 kernel-libipsec kernel-netlink socket-default vici",
	}
	v.Label = identifier(c.Name)
	if v.Label == "" {
		v.Label = identifier(c.ID)
	}
	if v.Label == "" {
		v.Label = "vpn"
	}
	v.Title = commentSafe(c.Name)
	if c.ID != "" && c.ID != c.Name {
		if v.Title != "" {
			v.Title += " (" + commentSafe(c.ID) + ")"
		} else {
			v.Title = commentSafe(c.ID)
		}
	}
	if v.Title == "" {
		v.Title = v.Label
	}

	switch c.Routing {
	case "", "static":
		v.Routing = "static"
	case "dynamic":
		v.Routing = "dynamic"
		v.Dynamic = true
		if c.CustomerASN == 0 {
			return nil, errors.New("dynamic routing needs the customer gateway's BGP ASN")
		}
		if c.VGWASN == 0 {
			return nil, errors.New("dynamic routing needs the virtual private gateway's ASN")
		}
	default:
		return nil, fmt.Errorf("routing %q: want static or dynamic", c.Routing)
	}
	switch opt.IKEVersion {
	case "", "ikev1", "ikev2":
	default:
		return nil, fmt.Errorf("IKE version %q: want ikev1 or ikev2", opt.IKEVersion)
	}
	if !c.CustomerGatewayIP.Is4() {
		return nil, fmt.Errorf("customer gateway IP %v: want an IPv4 address", c.CustomerGatewayIP)
	}
	if len(c.VPCCIDRs) == 0 {
		return nil, errors.New("no VPC CIDRs")
	}
	v.VPCCIDRs = maskAll(c.VPCCIDRs)
	v.StaticRoutes = maskAll(c.StaticRoutes)
	lans := opt.CustomerLANs
	if len(lans) == 0 {
		lans = c.StaticRoutes
	}
	v.LANs, v.LANsGiven = maskAll(lans), len(lans) > 0
	if !v.LANsGiven {
		v.LANs = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	}
	for _, p := range append(slices.Clone(v.VPCCIDRs), v.LANs...) {
		if !p.Addr().Is4() {
			return nil, fmt.Errorf("prefix %v: only IPv4 is supported", p)
		}
	}

	for i := range c.Tunnels {
		tv, err := newTunnelView(v, i+1, c.Tunnels[i], device, opt)
		if err != nil {
			return nil, fmt.Errorf("tunnel %d (%v): %w", i+1, c.Tunnels[i].OutsideIP, err)
		}
		v.Tunnels = append(v.Tunnels, tv)
	}
	if v.Tunnels[0].OutsideIP == v.Tunnels[1].OutsideIP {
		return nil, fmt.Errorf("both tunnels have outside IP %v", v.Tunnels[0].OutsideIP)
	}
	return v, nil
}

func newTunnelView(v *view, n int, t Tunnel, device string, opt Options) (*tunnelView, error) {
	tv := &tunnelView{
		N:             n,
		Name:          fmt.Sprintf("%s-t%d", v.Label, n),
		OutsideIP:     t.OutsideIP,
		PSK:           t.PSK,
		P1Life:        orDefault(t.Phase1.Lifetime, defaultPhase1Lifetime),
		P2Life:        orDefault(t.Phase2.Lifetime, defaultPhase2Lifetime),
		DPDTimeout:    orDefault(t.DPDTimeout, defaultDPDTimeout),
		DPDAction:     orString(t.DPDAction, "clear"),
		StartupAction: orString(t.StartupAction, "add"),
	}
	if !t.OutsideIP.Is4() {
		return nil, fmt.Errorf("outside IP %v: want an IPv4 address", t.OutsideIP)
	}
	if !t.InsideCIDR.IsValid() || !t.InsideCIDR.Addr().Is4() || t.InsideCIDR.Bits() != 30 {
		return nil, fmt.Errorf("inside CIDR %v: want an IPv4 /30", t.InsideCIDR)
	}
	tv.InsideCIDR = t.InsideCIDR.Masked()
	tv.VGWInside = tv.InsideCIDR.Addr().Next()
	tv.CGWInside = tv.VGWInside.Next()
	if err := checkPSK(t.PSK); err != nil {
		return nil, err
	}

	// IKE version: the one asked for, which the tunnel must allow; else
	// ikev2 when allowed, else ikev1.
	allowed := t.IKEVersions
	if len(allowed) == 0 {
		allowed = []string{"ikev1", "ikev2"}
	}
	for _, a := range allowed {
		if a != "ikev1" && a != "ikev2" {
			return nil, fmt.Errorf("IKE version %q: want ikev1 or ikev2", a)
		}
	}
	switch {
	case opt.IKEVersion != "":
		if !slices.Contains(allowed, opt.IKEVersion) {
			return nil, fmt.Errorf("IKE version %s is not allowed by this tunnel (allowed: %s)", opt.IKEVersion, strings.Join(allowed, ", "))
		}
		tv.IKEVersion = opt.IKEVersion
	case slices.Contains(allowed, "ikev2"):
		tv.IKEVersion = "ikev2"
	default:
		tv.IKEVersion = "ikev1"
	}
	tv.IKEv1 = tv.IKEVersion == "ikev1"

	tv.Margin = min(cgwRekeyMargin, tv.P1Life/2, tv.P2Life/2)
	tv.P1Rekey = tv.P1Life - tv.Margin
	tv.P2Rekey = tv.P2Life - tv.Margin

	p1, p2 := phaseNames(device, tv.IKEv1)
	var err error
	if tv.P1, err = buildAlgs(t.Phase1, p1, true); err != nil {
		return nil, fmt.Errorf("phase 1: %w", err)
	}
	if tv.P2, err = buildAlgs(t.Phase2, p2, false); err != nil {
		return nil, fmt.Errorf("phase 2: %w", err)
	}
	if device == "yamaha-rtx" && tv.P2.PFS() {
		// RTX uses the IKE group for PFS too: pick one both phases allow.
		g := 0
		for _, n := range tv.P1.Nums {
			if slices.Contains(tv.P2.Nums, n) {
				g = n
				break
			}
		}
		if g == 0 {
			return nil, errors.New("yamaha-rtx uses one DH group for IKE and PFS, but phase 1 and phase 2 share no group it supports")
		}
		tv.P1.Group1, tv.P1.Group1N = rtxDH[g], g
		tv.P2.Group1, tv.P2.Group1N = rtxDH[g], g
	}

	if strings.HasPrefix(device, "strongswan-") {
		tv.IKEProposals, tv.ESPProposals = swanProposals(tv.P1, tv.P2, tv.IKEv1)
		tv.LocalTS, tv.RemoteTS = slices.Clone(v.LANs), slices.Clone(v.VPCCIDRs)
		if v.Dynamic {
			tv.LocalTS = append([]netip.Prefix{netip.PrefixFrom(tv.CGWInside, 32)}, tv.LocalTS...)
			tv.RemoteTS = append([]netip.Prefix{netip.PrefixFrom(tv.VGWInside, 32)}, tv.RemoteTS...)
		}
		tv.Children = children(tv, v)
	}
	return tv, nil
}

// children splits the selectors into CHILD_SAs: all in one for IKEv2;
// for IKEv1 (one selector pair per CHILD_SA) the inside /32 pair for BGP
// and one per (on-prem LAN, VPC CIDR) pair.
func children(tv *tunnelView, v *view) []child {
	if !tv.IKEv1 {
		return []child{{Name: tv.Name, LocalTS: tv.LocalTS, RemoteTS: tv.RemoteTS}}
	}
	var pairs [][2]netip.Prefix
	if v.Dynamic {
		pairs = append(pairs, [2]netip.Prefix{netip.PrefixFrom(tv.CGWInside, 32), netip.PrefixFrom(tv.VGWInside, 32)})
	}
	for _, l := range v.LANs {
		for _, r := range v.VPCCIDRs {
			pairs = append(pairs, [2]netip.Prefix{l, r})
		}
	}
	out := make([]child, len(pairs))
	for i, p := range pairs {
		name := tv.Name
		if i > 0 {
			name = fmt.Sprintf("%s-%d", tv.Name, i+1)
		}
		out[i] = child{Name: name, LocalTS: []netip.Prefix{p[0]}, RemoteTS: []netip.Prefix{p[1]}}
	}
	return out
}

func phaseNames(device string, ikev1 bool) (p1, p2 devNames) {
	switch device {
	case "strongswan-swanctl", "strongswan-ipsec":
		return devNames{encr: swanEncr, integ: swanInteg, prf: swanPRF, dh: swanDH, aead: !ikev1},
			devNames{encr: swanEncr, integ: swanInteg, dh: swanDH, aead: true}
	case "cisco-asa":
		if ikev1 {
			return devNames{encr: asaIKEv1Encr, integ: asaIKEv1Hash, dh: asaDH},
				devNames{encr: asaIKEv1ESPEncr, integ: asaIKEv1ESPInteg, dh: asaDH}
		}
		return devNames{encr: asaIKEv2Encr, integ: asaIKEv2Integ, dh: asaDH, aead: true},
			devNames{encr: asaESPv2Encr, integ: asaESPv2Integ, dh: asaDH, aead: true}
	case "juniper-srx":
		return devNames{encr: srxIKEEncr, integ: srxIKEAuth, dh: srxDH, aead: !ikev1},
			devNames{encr: srxESPEncr, integ: srxESPAuth, dh: srxDH, aead: true}
	case "yamaha-rtx":
		return devNames{encr: rtxIKEEncr, integ: rtxIKEHash, dh: rtxDH},
			devNames{encr: rtxESPEncr, integ: rtxESPAuth, dh: rtxDH}
	default: // generic
		return devNames{encr: genericEncr, integ: genericInteg, dh: genericDH, aead: !ikev1},
			devNames{encr: genericEncr, integ: genericInteg, dh: genericDH, aead: true}
	}
}

var genericDH = func() map[int]string {
	m := map[int]string{}
	for g := range swanDH {
		m[g] = fmt.Sprintf("Group %d", g)
	}
	return m
}()

// buildAlgs maps one phase's allowed lists to a device's names, keeping
// their order and leaving out what the device (or this IKE version) cannot
// do. It fails when nothing usable is left, naming the option.
func buildAlgs(ph Phase, dn devNames, phase1 bool) (algs, error) {
	var a algs
	if len(ph.Encryption) == 0 {
		return a, errors.New("encryption list is empty")
	}
	for _, name := range ph.Encryption {
		ci, ok := suite.CipherNames[name]
		if !ok {
			return a, fmt.Errorf("unknown encryption %q", name)
		}
		dev, ok := dn.encr[name]
		if !ok || (ci.IsAEAD() && !dn.aead) {
			continue
		}
		if ci.IsAEAD() {
			a.AEAD = appendNew(a.AEAD, dev)
		} else {
			a.Encr = appendNew(a.Encr, dev)
		}
		if a.Enc1 == "" {
			a.Enc1, a.Enc1AEAD = dev, ci.IsAEAD()
		}
	}
	for _, name := range ph.Integrity {
		if _, ok := suite.IntegNames[name]; !ok {
			return a, fmt.Errorf("unknown integrity %q", name)
		}
		if dev, ok := dn.integ[name]; ok {
			a.Integ = appendNew(a.Integ, dev)
			if dn.prf != nil {
				a.PRF = appendNew(a.PRF, dn.prf[name])
			}
		}
	}
	if len(a.Integ) > 0 {
		a.Integ1 = a.Integ[0]
	}
	for _, g := range ph.DHGroups {
		if dev, ok := dn.dh[g]; ok && !slices.Contains(a.Nums, g) {
			a.Groups = append(a.Groups, dev)
			a.Nums = append(a.Nums, g)
		}
	}
	if len(a.Groups) > 0 {
		a.Group1, a.Group1N = a.Groups[0], a.Nums[0]
	}

	if phase1 && len(a.AEAD) > 0 && len(a.Integ) == 0 {
		// An AEAD IKE SA still needs a PRF, which the integrity option selects.
		a.AEAD = nil
		if a.Enc1AEAD {
			a.Enc1, a.Enc1AEAD = "", false
			if len(a.Encr) > 0 {
				a.Enc1 = a.Encr[0]
			}
		}
	}
	switch {
	case len(a.Encr) == 0 && len(a.AEAD) == 0:
		why := ""
		if !dn.aead && slices.ContainsFunc(ph.Encryption, func(n string) bool { return suite.CipherNames[n].IsAEAD() }) {
			why = " (AES-GCM is not possible here: IKEv1 phase 1 or not in this device's table)"
		} else if phase1 && len(a.Integ) == 0 {
			why = " (AES-GCM in phase 1 needs an integrity option for the PRF)"
		}
		return a, fmt.Errorf("none of the allowed encryption algorithms [%s] is available%s", strings.Join(ph.Encryption, ", "), why)
	case len(a.Encr) > 0 && len(a.Integ) == 0:
		if len(a.AEAD) == 0 {
			return a, fmt.Errorf("none of the allowed integrity algorithms [%s] is available", strings.Join(ph.Integrity, ", "))
		}
		a.Encr = nil // only the AEAD ciphers are usable
		a.Enc1, a.Enc1AEAD = a.AEAD[0], true
	}
	if phase1 && len(a.Groups) == 0 {
		return a, fmt.Errorf("none of the allowed DH groups %v is available", ph.DHGroups)
	}
	if !phase1 && len(ph.DHGroups) > 0 && len(a.Groups) == 0 {
		return a, fmt.Errorf("none of the allowed PFS DH groups %v is available", ph.DHGroups)
	}
	return a, nil
}

// swanProposals builds strongSwan's ike and esp proposal lists. IKEv2 takes
// several algorithms per kind in one proposal (one for CBC+HMAC, one for
// AEAD); IKEv1 takes one per kind, so every combination becomes a proposal,
// and Quick Mode sends one KE, so all ESP proposals carry the first PFS
// group.
func swanProposals(p1, p2 algs, ikev1 bool) (ike, esp []string) {
	dash := func(parts ...[]string) string {
		var all []string
		for _, p := range parts {
			all = append(all, p...)
		}
		return strings.Join(all, "-")
	}
	if !ikev1 {
		cbc := func() {
			if len(p1.Encr) > 0 {
				ike = append(ike, dash(p1.Encr, p1.Integ, p1.Groups))
			}
		}
		gcm := func() {
			if len(p1.AEAD) > 0 {
				ike = append(ike, dash(p1.AEAD, p1.PRF, p1.Groups))
			}
		}
		if p1.Enc1AEAD {
			gcm()
			cbc()
		} else {
			cbc()
			gcm()
		}
		cbc2 := func() {
			if len(p2.Encr) > 0 {
				esp = append(esp, dash(p2.Encr, p2.Integ, p2.Groups))
			}
		}
		gcm2 := func() {
			if len(p2.AEAD) > 0 {
				esp = append(esp, dash(p2.AEAD, p2.Groups))
			}
		}
		if p2.Enc1AEAD {
			gcm2()
			cbc2()
		} else {
			cbc2()
			gcm2()
		}
		return ike, esp
	}
	for _, e := range p1.Encr {
		for _, i := range p1.Integ {
			for _, g := range p1.Groups {
				ike = append(ike, e+"-"+i+"-"+g)
			}
		}
	}
	pfs := ""
	if p2.PFS() {
		pfs = "-" + p2.Group1
	}
	addCBC := func() {
		for _, e := range p2.Encr {
			for _, i := range p2.Integ {
				esp = append(esp, e+"-"+i+pfs)
			}
		}
	}
	addGCM := func() {
		for _, e := range p2.AEAD {
			esp = append(esp, e+pfs)
		}
	}
	if p2.Enc1AEAD {
		addGCM()
		addCBC()
	} else {
		addCBC()
		addGCM()
	}
	return ike, esp
}

// checkPSK accepts AWS's PSK alphabet, which every device's syntax can
// carry unquoted or in double quotes without escaping.
func checkPSK(psk string) error {
	if psk == "" {
		return errors.New("PSK is missing")
	}
	for _, r := range psk {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_') {
			return errors.New("PSK holds characters other than A-Z, a-z, 0-9, '.' and '_'")
		}
	}
	return nil
}

// identifier keeps [A-Za-z0-9_-] and turns anything else into '_'.
func identifier(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// commentSafe keeps a value on one comment line.
func commentSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func maskAll(ps []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if m := p.Masked(); !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// swanDur writes a duration as strongSwan does: the largest of h, m, s
// that divides it.
func swanDur(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	switch {
	case s > 0 && s%3600 == 0:
		return fmt.Sprintf("%dh", s/3600)
	case s > 0 && s%60 == 0:
		return fmt.Sprintf("%dm", s/60)
	}
	return fmt.Sprintf("%ds", s)
}

// maskString is a prefix's dotted netmask (255.255.255.252).
func maskString(p netip.Prefix) string {
	bits := p.Bits()
	var m [4]byte
	for i := range m {
		switch {
		case bits >= 8:
			m[i] = 0xff
			bits -= 8
		case bits > 0:
			m[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return netip.AddrFrom4(m).String()
}

func joinPrefixes(ps []netip.Prefix, sep string) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, sep)
}
