package gateway

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vpgw/vpgw/store"
)

// storeAPI serves the object routes from a real state store in a temporary
// directory; its "apply" only records the derived configuration (the
// daemon's Mutate does the same transaction and then Daemon.apply).
type storeAPI struct {
	*fakeAPI
	st       *store.Store
	settings GatewayConfig
	cfg      *Config
	applied  int
}

func (f *storeAPI) Mutate(fn func(tx *store.Tx) error) (string, error) {
	var cfg *Config
	err := f.st.Update(func(tx *store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		var err error
		if cfg, err = deriveConfig(tx, f.settings); err != nil {
			return err
		}
		if errs := cfg.Validate(); len(errs) > 0 {
			return FieldErrors(errs)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	f.cfg = cfg
	f.applied++
	return fmt.Sprintf("applied #%d", f.applied), nil
}

func (f *storeAPI) View(fn func(tx *store.Tx) error) error { return f.st.View(fn) }

func (f *storeAPI) ExportYAML() ([]byte, error) { return ExportYAML(f.cfg) }

var testLocalAddrs = []netip.Addr{netip.MustParseAddr("203.0.113.2"), netip.MustParseAddr("203.0.113.3"),
	netip.MustParseAddr("203.0.113.4"), netip.MustParseAddr("203.0.113.5")}

// newObjectServer starts a control socket over a fresh store.
func newObjectServer(t *testing.T) (*Client, *storeAPI) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	settings := DefaultGatewayConfig()
	settings.Name = "vgw-file"
	settings.StateDir = filepath.Join(dir, "state")
	settings.ControlSocket = filepath.Join(dir, "vpgw.sock")
	api := &storeAPI{fakeAPI: &fakeAPI{status: sampleStatus()}, st: st, settings: settings}
	old := localAddrs
	localAddrs = func() ([]netip.Addr, error) { return testLocalAddrs, nil }
	t.Cleanup(func() { localAddrs = old })
	srv, err := listenControl(settings.ControlSocket, api, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return NewClient(settings.ControlSocket), api
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// wantErr checks a refused call: its kind and the store's message.
func wantErr(t *testing.T, what string, err error, kind error, msg string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: accepted, want %q", what, msg)
		return
	}
	if !errors.Is(err, kind) {
		t.Errorf("%s: err %v is not %v", what, err, kind)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("%s: err = %q, want it to contain %q", what, err, msg)
	}
}

const (
	pskA = "example.psk_0123456789"
	pskB = "12345678" // looks like a number: must stay a string in the export
)

// setupWorkflow runs AWS's steps: customer gateway, VPN gateway, attach,
// propagation, VPN connection.
func setupWorkflow(t *testing.T, c *Client) VPNConnectionInfo {
	t.Helper()
	cg := must[ObjectReply[store.CustomerGateway]](t, "create cgw")(c.CreateCustomerGateway(CreateCustomerGatewayRequest{
		Name: "cgw-1", IP: netip.MustParseAddr("198.51.100.2"), BGPASN: 65000}))
	if !store.IsID(store.PrefixCustomerGateway, cg.Object.ID) || cg.Object.Name != "cgw-1" {
		t.Fatalf("created cgw = %+v", cg.Object)
	}
	must[ObjectReply[store.VPNGateway]](t, "create vgw")(c.CreateVPNGateway(CreateVPNGatewayRequest{Name: "vgw-1"}))
	g := must[ObjectReply[store.VPNGateway]](t, "attach")(c.AttachVPNGateway("vgw-1", AttachVPNGatewayRequest{
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}}))
	if !g.Object.Attached || g.Object.RouteTable != 254 || g.Object.ASN != 64512 {
		t.Fatalf("attached vgw = %+v", g.Object)
	}
	must[ObjectReply[store.VPNGateway]](t, "propagation")(c.SetRoutePropagation("vgw-1", true))
	vpn := must[ObjectReply[VPNConnectionInfo]](t, "create vpn")(c.CreateVPNConnection(CreateVPNConnectionRequest{
		Name: "vpn-1", CustomerGateway: "cgw-1", VPNGateway: "vgw-1", Routing: "static",
		StaticRoutes: []netip.Prefix{netip.MustParsePrefix("172.16.0.0/24")},
		Tunnel1:      TunnelSpec{OutsideIP: netip.MustParseAddr("203.0.113.2"), InsideCIDR: netip.MustParsePrefix("169.254.10.0/30"), PSK: pskA},
		Tunnel2:      TunnelSpec{OutsideIP: netip.MustParseAddr("203.0.113.3"), PSK: pskB},
	}))
	return vpn.Object
}

func TestObjectWorkflowThroughTheClient(t *testing.T) {
	c, api := newObjectServer(t)
	vpn := setupWorkflow(t, c)
	if vpn.State != ConnStateAvailable || vpn.CustomerGateway != "cgw-1" || vpn.VPNGateway != "vgw-1" {
		t.Errorf("created vpn = %+v", vpn)
	}
	def := DefaultTunnel()
	for i, tn := range vpn.Tunnels {
		if tn.PSK != "" {
			t.Errorf("create reply shows tunnel %d's PSK", i+1)
		}
		if tn.DPDTimeout != def.DPDTimeout.String() || tn.RekeyMargin != def.RekeyMargin.String() ||
			!reflect.DeepEqual(tn.Phase1.DHGroups, def.Phase1.DHGroups) || tn.StartupAction != def.StartupAction {
			t.Errorf("tunnel %d does not start from AWS's defaults: %+v", i+1, tn)
		}
	}
	if !vpn.Tunnels[1].InsideCIDR.IsValid() || vpn.Tunnels[0].VGWInsideIP != netip.MustParseAddr("169.254.10.1") {
		t.Errorf("inside CIDRs: %+v", vpn.Tunnels)
	}
	// The running configuration follows the store.
	if api.cfg == nil || len(api.cfg.VPNConnections) != 1 || api.cfg.Gateway.Name != "vgw-1" {
		t.Fatalf("derived config after create: %+v", api.cfg)
	}

	list := must[[]VPNConnectionInfo](t, "list")(c.VPNConnections())
	if len(list) != 1 || list[0].Tunnels[0].PSK != "" || list[0].Tunnels[1].PSK != "" {
		t.Errorf("list = %+v (PSKs must not be listed)", list)
	}
	d := must[VPNConnectionInfo](t, "describe")(c.VPNConnection("vpn-1", false))
	if d.Tunnels[0].PSK != "" {
		t.Error("describe without show_psk shows the PSK")
	}
	d = must[VPNConnectionInfo](t, "describe --show-psk")(c.VPNConnection(vpn.ID, true))
	if d.Tunnels[0].PSK != pskA || d.Tunnels[1].PSK != pskB {
		t.Errorf("describe --show-psk: PSKs %q %q", d.Tunnels[0].PSK, d.Tunnels[1].PSK)
	}
	if cgs := must[[]store.CustomerGateway](t, "list cgw")(c.CustomerGateways()); len(cgs) != 1 {
		t.Errorf("customer gateways = %+v", cgs)
	}
	if g := must[store.VPNGateway](t, "get vgw")(c.VPNGateway("vgw-1")); !g.RoutePropagation {
		t.Errorf("vgw = %+v", g)
	}

	// Static routes.
	p := netip.MustParsePrefix("172.16.1.0/24")
	r := must[ObjectReply[VPNConnectionInfo]](t, "add route")(c.AddStaticRoute("vpn-1", p))
	if len(r.Object.StaticRoutes) != 2 || len(api.cfg.VPNConnections[0].StaticRoutes) != 2 {
		t.Errorf("after add: %v", r.Object.StaticRoutes)
	}
	_, err := c.AddStaticRoute("vpn-1", p)
	wantErr(t, "add route twice", err, store.ErrConflict, "VPN connection "+vpn.ID+" (vpn-1) already has static route 172.16.1.0/24")
	_, err = c.AddStaticRoute("vpn-1", netip.MustParsePrefix("10.0.1.0/24"))
	wantErr(t, "route in the VPC", err, store.ErrConflict, "static route 10.0.1.0/24 overlaps VPC CIDR 10.0.0.0/16")
	must[ObjectReply[VPNConnectionInfo]](t, "delete route")(c.DeleteStaticRoute("vpn-1", p))
	_, err = c.DeleteStaticRoute("vpn-1", p)
	wantErr(t, "delete a missing route", err, store.ErrNotFound, "has no static route 172.16.1.0/24")

	// Tunnel options.
	dpd, action, enc := "45s", "restart", []string{"aes256-gcm-16"}
	m := must[ObjectReply[VPNConnectionInfo]](t, "modify")(c.ModifyTunnel("vpn-1", 2, ModifyTunnelRequest{
		DPDTimeout: &dpd, DPDTimeoutAction: &action, Phase1: PhaseModify{Encryption: enc}}))
	t2 := m.Object.Tunnels[1]
	if t2.DPDTimeout != "45s" || t2.DPDTimeoutAction != "restart" || !reflect.DeepEqual(t2.Phase1.Encryption, enc) ||
		m.Object.Tunnels[0].DPDTimeout != "40s" {
		t.Errorf("after modify: %+v", m.Object.Tunnels)
	}
	if got := api.cfg.VPNConnections[0].Tunnels[1]; got.DPDTimeout.String() != "45s" {
		t.Errorf("running tunnel 2 dpd_timeout = %v", got.DPDTimeout)
	}
	bad := "10s"
	_, err = c.ModifyTunnel("vpn-1", 1, ModifyTunnelRequest{DPDTimeout: &bad})
	wantErr(t, "dpd_timeout 10s", err, store.ErrInvalid, "tunnel1.dpd_timeout: must be at least 30s, got 10s")
	badEnc := []string{"des"}
	_, err = c.ModifyTunnel("vpn-1", 1, ModifyTunnelRequest{Phase2: PhaseModify{Encryption: badEnc}})
	wantErr(t, "phase2 des", err, store.ErrInvalid, "tunnel1.phase2.encryption")
	_, err = c.ModifyTunnel("vpn-1", 3, ModifyTunnelRequest{DPDTimeout: &dpd})
	wantErr(t, "tunnel 3", err, store.ErrInvalid, "has tunnels 1 and 2, not 3")
	_, err = c.ModifyTunnel("vpn-9", 1, ModifyTunnelRequest{DPDTimeout: &dpd})
	wantErr(t, "unknown connection", err, store.ErrNotFound, `VPN connection "vpn-9" does not exist`)
	shortPSK := "short"
	_, err = c.ModifyTunnel("vpn-1", 1, ModifyTunnelRequest{PSK: &shortPSK})
	wantErr(t, "short psk", err, store.ErrInvalid, "tunnel1.psk")
	if err != nil && strings.Contains(err.Error(), shortPSK) {
		t.Errorf("the PSK is echoed: %v", err)
	}
	_, err = c.ModifyTunnel("vpn-1", 1, ModifyTunnelRequest{PSK: &shortPSK, GeneratePSK: true})
	wantErr(t, "psk and generate", err, store.ErrInvalid, "not both")
	must[ObjectReply[VPNConnectionInfo]](t, "generate psk")(c.ModifyTunnel("vpn-1", 1, ModifyTunnelRequest{GeneratePSK: true}))
	d = must[VPNConnectionInfo](t, "describe")(c.VPNConnection("vpn-1", true))
	if d.Tunnels[0].PSK == pskA || len(d.Tunnels[0].PSK) != store.GeneratedPSKLen || d.Tunnels[1].PSK != pskB {
		t.Errorf("after generate-psk: tunnel 1 PSK has length %d, tunnel 2 changed: %v", len(d.Tunnels[0].PSK), d.Tunnels[1].PSK != pskB)
	}

	// Configuration download.
	dl := must[ConfigDownload](t, "download")(c.DownloadConfig(ConfigDownloadRequest{Connection: "vpn-1", Device: "strongswan-swanctl", IKEVersion: "ikev2"}))
	for _, want := range []string{d.Tunnels[0].PSK, pskB, "203.0.113.2", "198.51.100.2", "aes256gcm16"} {
		if !strings.Contains(dl.Config, want) {
			t.Errorf("downloaded config lacks %q:\n%s", want, dl.Config)
		}
	}
	_, err = c.DownloadConfig(ConfigDownloadRequest{Connection: "vpn-1", Device: "cisco-ios"})
	wantErr(t, "unknown device", err, store.ErrInvalid, `unknown device "cisco-ios"`)
	_, err = c.DownloadConfig(ConfigDownloadRequest{Connection: "vpn-1", Device: "generic", IKEVersion: "ikev3"})
	wantErr(t, "ikev3", err, store.ErrInvalid, "IKE version must be ikev1 or ikev2")
}

func TestObjectRulesThroughTheClient(t *testing.T) {
	c, api := newObjectServer(t)
	vpn := setupWorkflow(t, c)
	cg := must[store.CustomerGateway](t, "get cgw")(c.CustomerGateway("cgw-1"))
	g := must[store.VPNGateway](t, "get vgw")(c.VPNGateway("vgw-1"))
	cgL, gL, vpnL := cg.ID+" (cgw-1)", g.ID+" (vgw-1)", vpn.ID+" (vpn-1)"

	_, err := c.CreateCustomerGateway(CreateCustomerGatewayRequest{Name: "cgw-1", IP: netip.MustParseAddr("198.51.100.9")})
	wantErr(t, "duplicate cgw name", err, store.ErrConflict, `customer gateway name "cgw-1" is already used by `+cg.ID)
	_, err = c.CreateCustomerGateway(CreateCustomerGatewayRequest{Name: "cgw-6", IP: netip.MustParseAddr("2001:db8::1")})
	wantErr(t, "IPv6 cgw", err, store.ErrInvalid, "customer gateway IP 2001:db8::1 must be an IPv4 address")
	_, err = c.CreateVPNGateway(CreateVPNGatewayRequest{Name: "vgw-x", ASN: 100})
	wantErr(t, "bad asn", err, store.ErrInvalid, "VPN gateway Amazon-side ASN 100 must be in 64512–65534 or 4200000000–4294967294")

	// One vpgw serves one VPC.
	must[ObjectReply[store.VPNGateway]](t, "create vgw-2")(c.CreateVPNGateway(CreateVPNGatewayRequest{Name: "vgw-2", ASN: 65000}))
	_, err = c.AttachVPNGateway("vgw-2", AttachVPNGatewayRequest{VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	wantErr(t, "second attach", err, store.ErrConflict, "VPN gateway "+g.ID+" (vgw-1) is already attached: this vpgw serves one VPC, detach it first")
	_, err = c.AttachVPNGateway("vgw-1", AttachVPNGatewayRequest{VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	wantErr(t, "attach twice", err, store.ErrConflict, "VPN gateway "+gL+" is already attached to a VPC")

	// Connection rules.
	req := CreateVPNConnectionRequest{Name: "vpn-2", CustomerGateway: "cgw-1", VPNGateway: "vgw-1",
		Tunnel1: TunnelSpec{OutsideIP: netip.MustParseAddr("203.0.113.4")},
		Tunnel2: TunnelSpec{OutsideIP: netip.MustParseAddr("203.0.113.5")}}
	_, err = c.CreateVPNConnection(req)
	wantErr(t, "second connection to the same cgw IP", err, store.ErrConflict, "a VPN gateway cannot have two connections to the same customer gateway IP")
	must[ObjectReply[store.CustomerGateway]](t, "cgw-2")(c.CreateCustomerGateway(CreateCustomerGatewayRequest{Name: "cgw-2", IP: netip.MustParseAddr("198.51.100.3")}))
	req.CustomerGateway = "cgw-2"
	req.Tunnel1.OutsideIP = netip.MustParseAddr("198.18.0.1")
	_, err = c.CreateVPNConnection(req)
	wantErr(t, "outside IP not on this host", err, store.ErrInvalid, "tunnel1.outside_ip: 198.18.0.1 is not an address of this host")
	req.Tunnel1.OutsideIP = netip.MustParseAddr("203.0.113.2")
	_, err = c.CreateVPNConnection(req)
	wantErr(t, "outside IP in use", err, store.ErrConflict, "tunnel 1 outside IP 203.0.113.2 is already used by tunnel 1 of VPN connection "+vpnL)
	req.Tunnel1 = TunnelSpec{OutsideIP: netip.MustParseAddr("203.0.113.4"), InsideCIDR: netip.MustParsePrefix("169.254.3.0/30")}
	_, err = c.CreateVPNConnection(req)
	wantErr(t, "reserved inside", err, store.ErrInvalid, "tunnel1.inside_cidr: 169.254.3.0/30 is reserved")
	req.Tunnel1.InsideCIDR = netip.Prefix{}
	req.Routing = "dynamic"
	_, err = c.CreateVPNConnection(req)
	wantErr(t, "dynamic without ASN", err, store.ErrInvalid, "dynamic routing needs a BGP ASN, and customer gateway")
	if len(api.cfg.VPNConnections) != 1 {
		t.Errorf("refused creates changed the running configuration: %d connections", len(api.cfg.VPNConnections))
	}

	// Deletion rules, each refused with the store's message.
	_, err = c.DeleteCustomerGateway("cgw-1")
	wantErr(t, "delete used cgw", err, store.ErrInUse, "customer gateway "+cgL+" is used by VPN connection "+vpnL+": delete the connection first")
	_, err = c.DetachVPNGateway("vgw-1")
	wantErr(t, "detach used vgw", err, store.ErrInUse, "VPN gateway "+gL+" is used by VPN connection "+vpnL+": delete the connection before detaching the gateway")
	_, err = c.DeleteVPNGateway("vgw-1")
	wantErr(t, "delete used vgw", err, store.ErrInUse, "VPN gateway "+gL+" is used by VPN connection "+vpnL+": delete the connection first")
	_, err = c.DeleteVPNConnection("vpn-9")
	wantErr(t, "delete missing vpn", err, store.ErrNotFound, `VPN connection "vpn-9" does not exist`)

	// The allowed order.
	must[ObjectReply[VPNConnectionInfo]](t, "delete vpn")(c.DeleteVPNConnection("vpn-1"))
	if len(api.cfg.VPNConnections) != 0 {
		t.Error("deleted connection still runs")
	}
	_, err = c.DeleteVPNGateway("vgw-1")
	wantErr(t, "delete attached vgw", err, store.ErrInUse, "VPN gateway "+gL+" is attached to a VPC: detach it first")
	must[ObjectReply[store.CustomerGateway]](t, "delete cgw")(c.DeleteCustomerGateway("cgw-1"))
	must[ObjectReply[store.VPNGateway]](t, "detach")(c.DetachVPNGateway("vgw-1"))
	_, err = c.DetachVPNGateway("vgw-1")
	wantErr(t, "detach twice", err, store.ErrConflict, "VPN gateway "+gL+" is not attached to a VPC")
	must[ObjectReply[store.VPNGateway]](t, "delete vgw")(c.DeleteVPNGateway(g.ID))
	_, err = c.VPNGateway("vgw-1")
	wantErr(t, "get deleted vgw", err, store.ErrNotFound, `VPN gateway "vgw-1" does not exist`)
	// Now vgw-2 may be attached.
	must[ObjectReply[store.VPNGateway]](t, "attach vgw-2")(c.AttachVPNGateway("vgw-2", AttachVPNGatewayRequest{
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, RouteTable: 100}))
	if api.cfg.Gateway.Name != "vgw-2" || api.cfg.Gateway.RouteTable != 100 || api.cfg.Gateway.ASN != 65000 {
		t.Errorf("running gateway after attaching vgw-2: %+v", api.cfg.Gateway)
	}
}

func TestObjectPendingConnection(t *testing.T) {
	c, api := newObjectServer(t)
	must[ObjectReply[store.CustomerGateway]](t, "cgw")(c.CreateCustomerGateway(CreateCustomerGatewayRequest{Name: "cgw-1", IP: netip.MustParseAddr("198.51.100.2")}))
	must[ObjectReply[store.VPNGateway]](t, "vgw")(c.CreateVPNGateway(CreateVPNGatewayRequest{Name: "vgw-1"}))
	r := must[ObjectReply[VPNConnectionInfo]](t, "vpn")(c.CreateVPNConnection(CreateVPNConnectionRequest{
		Name: "vpn-1", CustomerGateway: "cgw-1", VPNGateway: "vgw-1",
		Tunnel1: TunnelSpec{OutsideIP: netip.MustParseAddr("203.0.113.2")},
		Tunnel2: TunnelSpec{OutsideIP: netip.MustParseAddr("203.0.113.3")}}))
	if r.Object.State != ConnStatePending || !strings.Contains(r.Summary, "not attached") || r.Object.Routing != "static" {
		t.Errorf("connection on a detached gateway: %+v, summary %q", r.Object, r.Summary)
	}
	if len(api.cfg.VPNConnections) != 0 {
		t.Error("a connection of a detached VPN gateway runs")
	}
	_, err := c.DownloadConfig(ConfigDownloadRequest{Connection: "vpn-1", Device: "generic"})
	wantErr(t, "download before attach", err, store.ErrConflict, "is not attached to a VPC; attach it first")
	must[ObjectReply[store.VPNGateway]](t, "attach")(c.AttachVPNGateway("vgw-1", AttachVPNGatewayRequest{
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}}))
	if len(api.cfg.VPNConnections) != 1 {
		t.Error("attaching the gateway did not start its connection")
	}
	if _, err := c.DownloadConfig(ConfigDownloadRequest{Connection: "vpn-1", Device: "generic"}); err != nil {
		t.Errorf("download after attach: %v", err)
	}
}

func TestObjectBadRequests(t *testing.T) {
	c, _ := newObjectServer(t)
	err := c.objectCall("POST", "/v1/customer-gateways", map[string]any{"name": "x", "ip": "198.51.100.2", "colour": 1}, &struct{}{})
	if err == nil || !strings.Contains(err.Error(), "bad request") || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown field: %v", err)
	}
	err = c.objectCall("DELETE", "/v1/vpn-connections/vpn-1/static-routes?prefix=nope", nil, &struct{}{})
	wantErr(t, "bad prefix", err, store.ErrInvalid, `static route "nope" is not a CIDR prefix`)
	_, err = c.DownloadConfig(ConfigDownloadRequest{Connection: "vpn-1"})
	wantErr(t, "no device", err, store.ErrInvalid, "a device type is required")
}

// TestExportRoundTrip: export → ParseConfig → Validate gives the running
// configuration back field by field, and importing it into a new store
// (what `vpgw run` on the export does) derives the same configuration.
func TestExportRoundTrip(t *testing.T) {
	c, api := newObjectServer(t)
	setupWorkflow(t, c)
	must[ObjectReply[store.CustomerGateway]](t, "cgw-2")(c.CreateCustomerGateway(CreateCustomerGatewayRequest{
		Name: "cgw-2", IP: netip.MustParseAddr("198.51.100.3"), BGPASN: 65001}))
	must[ObjectReply[VPNConnectionInfo]](t, "vpn-2")(c.CreateVPNConnection(CreateVPNConnectionRequest{
		Name: "vpn-2", CustomerGateway: "cgw-2", VPNGateway: "vgw-1", Routing: "dynamic",
		Tunnel1: TunnelSpec{OutsideIP: netip.MustParseAddr("203.0.113.4"), PSK: "true.false"},
		Tunnel2: TunnelSpec{OutsideIP: netip.MustParseAddr("203.0.113.5"), PSK: "1e100000"}}))
	fuzz, margin, life, v2 := 0, "5m30s", "30m", []string{"ikev2"}
	must[ObjectReply[VPNConnectionInfo]](t, "modify")(c.ModifyTunnel("vpn-2", 1, ModifyTunnelRequest{
		RekeyFuzz: &fuzz, RekeyMargin: &margin, IKEVersions: v2, Phase2: PhaseModify{Lifetime: &life, DHGroups: []int{19}}}))
	must[ObjectReply[store.VPNGateway]](t, "propagation off")(c.SetRoutePropagation("vgw-1", false))
	api.settings.MetricsListen = "" // an explicit empty value must survive too
	must[ObjectReply[VPNConnectionInfo]](t, "touch")(c.AddStaticRoute("vpn-1", netip.MustParsePrefix("172.16.9.0/24")))

	out, err := c.Export()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`psk: "1e100000"`, `psk: "12345678"`, "rekey_margin: 5m30s", "lifetime: 8h0m0s", "dpd_timeout: 40s", pskA, "route_propagation: false"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("export lacks %q:\n%s", want, out)
		}
	}
	path := filepath.Join(t.TempDir(), "export.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("LoadConfig(export): %v\n%s", err, out)
	}
	if errs := got.Validate(); len(errs) > 0 {
		t.Fatalf("export does not validate: %v\n%s", FieldErrors(errs), out)
	}
	compareConfig(t, "export", reflect.ValueOf(*api.cfg), reflect.ValueOf(*got))

	// `vpgw run` on the export: importConfig into a fresh store, deriveConfig.
	st, err := store.Open(filepath.Join(t.TempDir(), "state2"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var again *Config
	err = st.Update(func(tx *store.Tx) error {
		if err := importConfig(tx, got); err != nil {
			return err
		}
		again, err = deriveConfig(tx, got.Gateway)
		return err
	})
	if err != nil {
		t.Fatalf("importing the export: %v", err)
	}
	compareConfig(t, "run on export", reflect.ValueOf(*api.cfg), reflect.ValueOf(*again))
}

// compareConfig compares two configurations field by field (an empty and
// a nil list are equal) and reports each difference by path.
func compareConfig(t *testing.T, path string, want, got reflect.Value) {
	t.Helper()
	switch want.Kind() {
	case reflect.Struct:
		if want.Type() == cfgTypeAddr || want.Type() == cfgTypePrefix {
			break
		}
		for i := range want.NumField() {
			compareConfig(t, path+"."+want.Type().Field(i).Name, want.Field(i), got.Field(i))
		}
		return
	case reflect.Slice:
		if want.Len() != got.Len() {
			t.Errorf("%s: %d elements, want %d", path, got.Len(), want.Len())
			return
		}
		for i := range want.Len() {
			compareConfig(t, fmt.Sprintf("%s[%d]", path, i), want.Index(i), got.Index(i))
		}
		return
	}
	if !reflect.DeepEqual(want.Interface(), got.Interface()) {
		if strings.HasSuffix(path, ".PSK") {
			t.Errorf("%s differs", path)
			return
		}
		t.Errorf("%s = %v, want %v", path, got.Interface(), want.Interface())
	}
}

func TestExportEmptyStore(t *testing.T) {
	cfg := &Config{Gateway: DefaultGatewayConfig()}
	cfg.Gateway.Name = "vgw-file"
	out, err := ExportYAML(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseConfig(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if errs := got.Validate(); len(errs) > 0 {
		t.Fatalf("export of an empty store does not validate: %v\n%s", FieldErrors(errs), out)
	}
	compareConfig(t, "empty", reflect.ValueOf(*cfg), reflect.ValueOf(*got))
}

func TestObjectErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{&store.Error{Kind: store.ErrNotFound, Msg: "x"}, 404},
		{&store.Error{Kind: store.ErrConflict, Msg: "x"}, 409},
		{&store.Error{Kind: store.ErrInUse, Msg: "x"}, 409},
		{&store.Error{Kind: store.ErrInvalid, Msg: "x"}, 422},
		{&store.Error{Kind: store.ErrLimit, Msg: "x"}, 422},
		{fmt.Errorf("gateway: %w", FieldErrors{{Path: "a", Rule: "b"}}), 422},
		{errBusy, 503},
		{&ApplyError{Err: errors.New("tunnel vpn-1/1: outside_ip: bind")}, 500},
		{errors.New("state store: corrupt record"), 500},
	} {
		if got := httpStatus(tc.err); got != tc.want {
			t.Errorf("httpStatus(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	if got := (&ApplyError{Err: errors.New("boom")}).Error(); got != "stored, but applying it to the running gateway failed: boom" {
		t.Errorf("ApplyError = %q", got)
	}
}
