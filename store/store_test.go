package store

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func update(t *testing.T, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// wantErr checks an error's kind and exact message.
func wantErr(t *testing.T, err, kind error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v: %q", kind, msg)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q is not %v", err, kind)
	}
	if msg != "" && err.Error() != msg {
		t.Errorf("error\n got: %s\nwant: %s", err, msg)
	}
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func tunnel(outside, inside string) TunnelOptions {
	t := TunnelOptions{
		IKEVersions: []string{"ikev1", "ikev2"},
		Phase1: Phase{Encryption: []string{"aes128", "aes256"}, Integrity: []string{"sha1", "sha2-256"},
			DHGroups: []int{2, 14}, Lifetime: 8 * time.Hour},
		Phase2: Phase{Encryption: []string{"aes128"}, Integrity: []string{"sha1"},
			DHGroups: []int{2, 5, 14}, Lifetime: time.Hour},
		RekeyMargin: 270 * time.Second, RekeyFuzz: 100, ReplayWindow: 1024,
		DPDTimeout: 40 * time.Second, DPDTimeoutAction: "clear", StartupAction: "add",
	}
	if outside != "" {
		t.OutsideIP = addr(outside)
	}
	if inside != "" {
		t.InsideCIDR = pfx(inside)
	}
	return t
}

type fixture struct {
	cg  CustomerGateway
	vgw VPNGateway
	vpn VPNConnection
}

// lab creates cgw-1, vgw-lab (attached, 10.0.0.0/16) and vpn-1.
func lab(t *testing.T, s *Store) fixture {
	t.Helper()
	var f fixture
	update(t, s, func(tx *Tx) error {
		var err error
		if f.cg, err = tx.CreateCustomerGateway(CustomerGateway{Name: "cgw-1", IP: addr("198.51.100.2"), BGPASN: 65000}); err != nil {
			return err
		}
		if f.vgw, err = tx.CreateVPNGateway(VPNGateway{Name: "vgw-lab", RoutePropagation: true}); err != nil {
			return err
		}
		if f.vgw, err = tx.AttachVPNGateway("vgw-lab", []netip.Prefix{pfx("10.0.0.0/16")}, 0); err != nil {
			return err
		}
		f.vpn, err = tx.CreateVPNConnection(VPNConnection{
			Name: "vpn-1", CustomerGatewayID: "cgw-1", VPNGatewayID: "vgw-lab", Routing: RoutingStatic,
			StaticRoutes: []netip.Prefix{pfx("172.16.0.0/24")},
			Tunnels: [2]TunnelOptions{
				tunnel("203.0.113.2", "169.254.10.0/30"),
				tunnel("203.0.113.3", "169.254.11.0/30"),
			},
		})
		return err
	})
	return f
}

var idRE = regexp.MustCompile(`^(cgw|vgw|vpn)-[0-9a-f]{17}$`)

func TestIDFormat(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range []string{PrefixCustomerGateway, PrefixVPNGateway, PrefixVPNConnection} {
		for range 1000 {
			id := newID(p)
			if !idRE.MatchString(id) || !strings.HasPrefix(id, p+"-") || !IsID(p, id) {
				t.Fatalf("bad ID %q", id)
			}
			if seen[id] {
				t.Fatalf("duplicate ID %q", id)
			}
			seen[id] = true
		}
	}
	for _, bad := range []string{"cgw-0a1b2c3d4e5f6789", "cgw-0a1b2c3d4e5f678901", "cgw-0A1B2C3D4E5F67890", "vgw-0a1b2c3d4e5f67890", "cgw_0a1b2c3d4e5f67890"} {
		if IsID(PrefixCustomerGateway, bad) {
			t.Errorf("IsID(cgw, %q) = true", bad)
		}
	}
	s, _ := openTemp(t)
	f := lab(t, s)
	for _, id := range []string{f.cg.ID, f.vgw.ID, f.vpn.ID} {
		if !idRE.MatchString(id) {
			t.Errorf("stored ID %q has not the AWS form", id)
		}
	}
}

func TestCustomerGatewayCRUD(t *testing.T) {
	s, _ := openTemp(t)
	var cg CustomerGateway
	update(t, s, func(tx *Tx) error {
		var err error
		cg, err = tx.CreateCustomerGateway(CustomerGateway{Name: "cgw-1", IP: addr("198.51.100.2"), BGPASN: 65000})
		return err
	})
	if cg.CreatedAt.IsZero() || !IsID(PrefixCustomerGateway, cg.ID) {
		t.Fatalf("created %+v", cg)
	}
	err := s.View(func(tx *Tx) error {
		for _, key := range []string{cg.ID, "cgw-1"} {
			got, err := tx.GetCustomerGateway(key)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, cg) {
				t.Errorf("Get(%s) = %+v, want %+v", key, got, cg)
			}
		}
		_, err := tx.GetCustomerGateway("cgw-2")
		wantErr(t, err, ErrNotFound, `customer gateway "cgw-2" does not exist`)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Names are unique per kind, and valid.
	err = s.Update(func(tx *Tx) error {
		_, err := tx.CreateCustomerGateway(CustomerGateway{Name: "cgw-1", IP: addr("198.51.100.9")})
		return err
	})
	wantErr(t, err, ErrConflict, fmt.Sprintf(`customer gateway name "cgw-1" is already used by %s`, cg.ID))
	for name, msg := range map[string]string{
		"-x":                    `customer gateway name "-x": must be 1–64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit`,
		"a b":                   `customer gateway name "a b": must be 1–64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit`,
		strings.Repeat("a", 65): "",
		"vpn-0a1b2c3d4e5f67890": `customer gateway name "vpn-0a1b2c3d4e5f67890" has the form of an ID: choose another name`,
	} {
		err := s.Update(func(tx *Tx) error {
			_, err := tx.CreateCustomerGateway(CustomerGateway{Name: name, IP: addr("198.51.100.9")})
			return err
		})
		wantErr(t, err, ErrInvalid, msg)
	}
	for ip, msg := range map[string]string{
		"":            "customer gateway IP address is required",
		"2001:db8::1": "customer gateway IP 2001:db8::1 must be an IPv4 address",
	} {
		err := s.Update(func(tx *Tx) error {
			g := CustomerGateway{Name: "x"}
			if ip != "" {
				g.IP = addr(ip)
			}
			_, err := tx.CreateCustomerGateway(g)
			return err
		})
		wantErr(t, err, ErrInvalid, msg)
	}
	err = s.Update(func(tx *Tx) error {
		_, err := tx.CreateCustomerGateway(CustomerGateway{Name: "x", IP: addr("198.51.100.9"), BGPASN: 2147483648})
		return err
	})
	wantErr(t, err, ErrInvalid, "customer gateway BGP ASN 2147483648 must be in 1–2147483647 (or 0: not set)")

	// A gateway of another kind may have the same name; an unnamed one is
	// named by its ID.
	var unnamed CustomerGateway
	update(t, s, func(tx *Tx) error {
		if _, err := tx.CreateVPNGateway(VPNGateway{Name: "cgw-1"}); err != nil {
			return err
		}
		var err error
		unnamed, err = tx.CreateCustomerGateway(CustomerGateway{IP: addr("198.51.100.3")})
		return err
	})
	if unnamed.Name != unnamed.ID {
		t.Errorf("unnamed customer gateway has name %q, want its ID", unnamed.Name)
	}
	update(t, s, func(tx *Tx) error {
		list, err := tx.ListCustomerGateways()
		if err != nil {
			return err
		}
		if len(list) != 2 || list[0].Name != "cgw-1" {
			t.Errorf("list = %+v", list)
		}
		if err := tx.DeleteCustomerGateway("cgw-1"); err != nil {
			return err
		}
		return tx.DeleteCustomerGateway(unnamed.ID)
	})
	update(t, s, func(tx *Tx) error {
		_, err := tx.GetCustomerGateway(cg.ID)
		wantErr(t, err, ErrNotFound, fmt.Sprintf("customer gateway %q does not exist", cg.ID))
		// The name is free again.
		_, err = tx.CreateCustomerGateway(CustomerGateway{Name: "cgw-1", IP: addr("198.51.100.2")})
		return err
	})
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestVPNGatewayLifecycle(t *testing.T) {
	s, _ := openTemp(t)
	var g VPNGateway
	update(t, s, func(tx *Tx) error {
		var err error
		g, err = tx.CreateVPNGateway(VPNGateway{Name: "vgw-lab"})
		return err
	})
	if g.ASN != 64512 || g.Attached || !IsID(PrefixVPNGateway, g.ID) {
		t.Fatalf("created %+v", g)
	}
	vpc := []netip.Prefix{pfx("10.0.0.0/16")}
	steps := []struct {
		name string
		fn   func(tx *Tx) error
		kind error
		msg  string
	}{
		{"bad asn", func(tx *Tx) error { _, err := tx.CreateVPNGateway(VPNGateway{Name: "x", ASN: 65535}); return err },
			ErrInvalid, "VPN gateway Amazon-side ASN 65535 must be in 64512–65534 or 4200000000–4294967294"},
		{"detach detached", func(tx *Tx) error { _, err := tx.DetachVPNGateway("vgw-lab"); return err },
			ErrConflict, fmt.Sprintf("VPN gateway %s (vgw-lab) is not attached to a VPC", g.ID)},
		{"modify detached", func(tx *Tx) error { _, err := tx.ModifyVPNGatewayAttachment("vgw-lab", vpc, 0); return err },
			ErrConflict, fmt.Sprintf("VPN gateway %s (vgw-lab) is not attached to a VPC: attach it first", g.ID)},
		{"no cidrs", func(tx *Tx) error { _, err := tx.AttachVPNGateway("vgw-lab", nil, 0); return err },
			ErrInvalid, "VPC CIDRs: at least one IPv4 prefix is required"},
		{"host bits", func(tx *Tx) error {
			_, err := tx.AttachVPNGateway("vgw-lab", []netip.Prefix{pfx("10.0.0.1/16")}, 0)
			return err
		}, ErrInvalid, "VPC CIDR 10.0.0.1/16 is not a network address (did you mean 10.0.0.0/16?)"},
		{"overlap", func(tx *Tx) error {
			_, err := tx.AttachVPNGateway("vgw-lab", []netip.Prefix{pfx("10.0.0.0/16"), pfx("10.0.1.0/24")}, 0)
			return err
		}, ErrInvalid, "VPC CIDR 10.0.1.0/24 overlaps VPC CIDR 10.0.0.0/16"},
		{"local table", func(tx *Tx) error { _, err := tx.AttachVPNGateway("vgw-lab", vpc, 255); return err },
			ErrInvalid, "route table 255 must be in 1–4294967295 except 255 (local)"},
		{"attach", func(tx *Tx) error {
			g, err := tx.AttachVPNGateway("vgw-lab", vpc, 0)
			if err == nil && (!g.Attached || g.RouteTable != 254 || !slices.Equal(g.VPCCIDRs, vpc)) {
				t.Errorf("attached: %+v", g)
			}
			return err
		}, nil, ""},
		{"attach twice", func(tx *Tx) error { _, err := tx.AttachVPNGateway("vgw-lab", vpc, 0); return err },
			ErrConflict, fmt.Sprintf("VPN gateway %s (vgw-lab) is already attached to a VPC", g.ID)},
		{"modify", func(tx *Tx) error {
			g, err := tx.ModifyVPNGatewayAttachment(g.ID, []netip.Prefix{pfx("10.0.0.0/16"), pfx("10.1.0.0/16")}, 100)
			if err == nil && (len(g.VPCCIDRs) != 2 || g.RouteTable != 100) {
				t.Errorf("modified: %+v", g)
			}
			return err
		}, nil, ""},
		{"propagation", func(tx *Tx) error {
			g, err := tx.SetRoutePropagation("vgw-lab", true)
			if err == nil && !g.RoutePropagation {
				t.Error("propagation not set")
			}
			return err
		}, nil, ""},
		{"delete attached", func(tx *Tx) error { return tx.DeleteVPNGateway("vgw-lab") },
			ErrInUse, fmt.Sprintf("VPN gateway %s (vgw-lab) is attached to a VPC: detach it first", g.ID)},
		{"detach", func(tx *Tx) error { _, err := tx.DetachVPNGateway("vgw-lab"); return err }, nil, ""},
		{"delete", func(tx *Tx) error { return tx.DeleteVPNGateway("vgw-lab") }, nil, ""},
		{"gone", func(tx *Tx) error { _, err := tx.GetVPNGateway(g.ID); return err },
			ErrNotFound, fmt.Sprintf("VPN gateway %q does not exist", g.ID)},
	}
	for _, st := range steps {
		err := s.Update(st.fn)
		if st.kind == nil {
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			continue
		}
		t.Run(st.name, func(t *testing.T) { wantErr(t, err, st.kind, st.msg) })
	}
}

// TestDeletionOrder: AWS's order (connection, then customer gateway; then
// detach and delete the VPN gateway) succeeds, and every step taken too
// early is refused with a message that says what to do.
func TestDeletionOrder(t *testing.T) {
	s, _ := openTemp(t)
	f := lab(t, s)
	cgl := f.cg.ID + " (cgw-1)"
	vgl := f.vgw.ID + " (vgw-lab)"
	vpl := f.vpn.ID + " (vpn-1)"

	err := s.Update(func(tx *Tx) error { return tx.DeleteCustomerGateway("cgw-1") })
	wantErr(t, err, ErrInUse, "customer gateway "+cgl+" is used by VPN connection "+vpl+": delete the connection first")
	err = s.Update(func(tx *Tx) error { _, err := tx.DetachVPNGateway("vgw-lab"); return err })
	wantErr(t, err, ErrInUse, "VPN gateway "+vgl+" is used by VPN connection "+vpl+": delete the connection before detaching the gateway")
	err = s.Update(func(tx *Tx) error { return tx.DeleteVPNGateway(f.vgw.ID) })
	wantErr(t, err, ErrInUse, "VPN gateway "+vgl+" is used by VPN connection "+vpl+": delete the connection first")

	update(t, s, func(tx *Tx) error { return tx.DeleteVPNConnection("vpn-1") })
	err = s.Update(func(tx *Tx) error { return tx.DeleteVPNGateway(f.vgw.ID) })
	wantErr(t, err, ErrInUse, "VPN gateway "+vgl+" is attached to a VPC: detach it first")
	update(t, s, func(tx *Tx) error { return tx.DeleteCustomerGateway(f.cg.ID) })
	update(t, s, func(tx *Tx) error { _, err := tx.DetachVPNGateway(f.vgw.ID); return err })
	update(t, s, func(tx *Tx) error { return tx.DeleteVPNGateway("vgw-lab") })
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	err = s.View(func(tx *Tx) error {
		a, _ := tx.ListCustomerGateways()
		b, _ := tx.ListVPNGateways()
		c, _ := tx.ListVPNConnections()
		if len(a)+len(b)+len(c) != 0 {
			t.Errorf("left: %v %v %v", a, b, c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConnectionRules(t *testing.T) {
	s, _ := openTemp(t)
	f := lab(t, s)
	vgl := f.vgw.ID + " (vgw-lab)"
	vpl := f.vpn.ID + " (vpn-1)"
	var cg2, cgSameIP, cgNoASN CustomerGateway
	update(t, s, func(tx *Tx) error {
		var err error
		if cg2, err = tx.CreateCustomerGateway(CustomerGateway{Name: "cgw-2", IP: addr("198.51.100.3"), BGPASN: 65001}); err != nil {
			return err
		}
		if cgSameIP, err = tx.CreateCustomerGateway(CustomerGateway{Name: "cgw-1b", IP: addr("198.51.100.2"), BGPASN: 65002}); err != nil {
			return err
		}
		cgNoASN, err = tx.CreateCustomerGateway(CustomerGateway{Name: "cgw-noasn", IP: addr("198.51.100.4")})
		return err
	})
	_ = cg2
	create := func(c VPNConnection) (VPNConnection, error) {
		var out VPNConnection
		err := s.Update(func(tx *Tx) error {
			var err error
			out, err = tx.CreateVPNConnection(c)
			return err
		})
		return out, err
	}
	conn := func(name, cgw string, mod func(*VPNConnection)) VPNConnection {
		c := VPNConnection{Name: name, CustomerGatewayID: cgw, VPNGatewayID: "vgw-lab",
			Tunnels: [2]TunnelOptions{tunnel("", ""), tunnel("", "")}}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	cases := []struct {
		name string
		c    VPNConnection
		kind error
		msg  string
	}{
		{"name taken", conn("vpn-1", "cgw-2", nil), ErrConflict, `VPN connection name "vpn-1" is already used by ` + f.vpn.ID},
		{"no cgw", conn("x", "", nil), ErrInvalid, "VPN connection x: a customer gateway is required"},
		{"unknown cgw", conn("x", "cgw-9", nil), ErrNotFound, `customer gateway "cgw-9" does not exist`},
		{"unknown vgw", conn("x", "cgw-2", func(c *VPNConnection) { c.VPNGatewayID = "vgw-9" }), ErrNotFound, `VPN gateway "vgw-9" does not exist`},
		{"same cgw ip", conn("x", "cgw-1b", nil), ErrConflict, "VPN gateway " + vgl + " already has VPN connection " + vpl +
			" to customer gateway IP 198.51.100.2: a VPN gateway cannot have two connections to the same customer gateway IP"},
		{"same cgw", conn("x", "cgw-1", nil), ErrConflict, ""},
		{"routing", conn("x", "cgw-2", func(c *VPNConnection) { c.Routing = "bgp" }), ErrInvalid, `VPN connection x: routing must be static or dynamic, got "bgp"`},
		{"dynamic no asn", conn("x", "cgw-noasn", func(c *VPNConnection) { c.Routing = RoutingDynamic }), ErrInvalid,
			"VPN connection x: dynamic routing needs a BGP ASN, and customer gateway " + cgNoASN.ID + " (cgw-noasn) has none"},
		{"route overlaps vpc", conn("x", "cgw-2", func(c *VPNConnection) { c.StaticRoutes = []netip.Prefix{pfx("10.0.128.0/24")} }), ErrConflict,
			"static route 10.0.128.0/24 overlaps VPC CIDR 10.0.0.0/16 of VPN gateway " + vgl},
		{"route twice", conn("x", "cgw-2", func(c *VPNConnection) {
			c.StaticRoutes = []netip.Prefix{pfx("172.17.0.0/24"), pfx("172.17.0.0/24")}
		}), ErrConflict, "VPN connection x: static route 172.17.0.0/24 is given twice"},
		{"route host bits", conn("x", "cgw-2", func(c *VPNConnection) { c.StaticRoutes = []netip.Prefix{pfx("172.17.0.1/24")} }), ErrInvalid,
			"static route 172.17.0.1/24 is not a network address (did you mean 172.17.0.0/24?)"},
		{"too many routes", conn("x", "cgw-2", func(c *VPNConnection) {
			for i := range 101 {
				c.StaticRoutes = append(c.StaticRoutes, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 20, byte(i), 0}), 24))
			}
		}), ErrLimit, "VPN connection x would have 101 static routes: the limit is 100"},
		{"inside taken", conn("x", "cgw-2", func(c *VPNConnection) { c.Tunnels[1].InsideCIDR = pfx("169.254.11.0/30") }), ErrConflict,
			"VPN connection x: tunnel 2 inside CIDR 169.254.11.0/30 is already used by tunnel 2 of VPN connection " + vpl},
		{"inside same", conn("x", "cgw-2", func(c *VPNConnection) {
			c.Tunnels[0].InsideCIDR = pfx("169.254.20.0/30")
			c.Tunnels[1].InsideCIDR = pfx("169.254.20.0/30")
		}), ErrConflict, "VPN connection x: tunnel 2 inside CIDR 169.254.20.0/30 is the same as tunnel 1's"},
		{"inside reserved", conn("x", "cgw-2", func(c *VPNConnection) { c.Tunnels[0].InsideCIDR = pfx("169.254.169.252/30") }), ErrInvalid,
			"VPN connection x: tunnel 1 inside CIDR 169.254.169.252/30 is reserved by AWS"},
		{"inside /29", conn("x", "cgw-2", func(c *VPNConnection) { c.Tunnels[0].InsideCIDR = pfx("169.254.20.0/29") }), ErrInvalid,
			"VPN connection x: tunnel 1 inside CIDR 169.254.20.0/29 must be an IPv4 /30"},
		{"inside outside 169.254", conn("x", "cgw-2", func(c *VPNConnection) { c.Tunnels[0].InsideCIDR = pfx("10.9.0.0/30") }), ErrInvalid,
			"VPN connection x: tunnel 1 inside CIDR 10.9.0.0/30 is not inside 169.254.0.0/16"},
		{"outside taken", conn("x", "cgw-2", func(c *VPNConnection) { c.Tunnels[0].OutsideIP = addr("203.0.113.3") }), ErrConflict,
			"VPN connection x: tunnel 1 outside IP 203.0.113.3 is already used by tunnel 2 of VPN connection " + vpl},
	}
	rev := s.Revision()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := create(tc.c)
			wantErr(t, err, tc.kind, tc.msg)
		})
	}
	if s.Revision() != rev {
		t.Errorf("refused creations changed the revision %d -> %d", rev, s.Revision())
	}

	// Dynamic routing with the VGW's own ASN.
	update(t, s, func(tx *Tx) error {
		_, err := tx.CreateCustomerGateway(CustomerGateway{Name: "cgw-sameasn", IP: addr("198.51.100.5"), BGPASN: 64512})
		return err
	})
	_, err := create(conn("x", "cgw-sameasn", func(c *VPNConnection) { c.Routing = RoutingDynamic }))
	wantErr(t, err, ErrInvalid, "")

	// The same customer gateway IP on another VGW is fine.
	update(t, s, func(tx *Tx) error {
		_, err := tx.CreateVPNGateway(VPNGateway{Name: "vgw-2"})
		return err
	})
	c2, err := create(conn("vpn-other-vgw", "cgw-1b", func(c *VPNConnection) { c.VPNGatewayID = "vgw-2" }))
	if err != nil {
		t.Fatal(err)
	}
	if c2.Routing != RoutingStatic || c2.CustomerGatewayID != cgSameIP.ID {
		t.Errorf("created %+v", c2)
	}

	// Attaching vgw-2 to a VPC that covers a static route of its connection.
	update(t, s, func(tx *Tx) error { _, err := tx.AddStaticRoute("vpn-other-vgw", pfx("192.168.7.0/24")); return err })
	err = s.Update(func(tx *Tx) error {
		_, err := tx.AttachVPNGateway("vgw-2", []netip.Prefix{pfx("192.168.0.0/16")}, 0)
		return err
	})
	wantErr(t, err, ErrConflict, "VPC CIDR 192.168.0.0/16 overlaps static route 192.168.7.0/24 of VPN connection "+c2.ID+" (vpn-other-vgw)")

	// Per-VGW connection limit.
	if err := s.SetLimit(LimitVPNConnectionsPerGateway, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := create(conn("vpn-2", "cgw-2", nil)); err != nil {
		t.Fatal(err)
	}
	_, err = create(conn("vpn-3", "cgw-noasn", nil))
	wantErr(t, err, ErrLimit, "VPN gateway "+vgl+" has reached its limit of 2 VPN connections")
	update(t, s, func(tx *Tx) error { return tx.DeleteVPNConnection("vpn-2") })
	if _, err := create(conn("vpn-3", "cgw-noasn", nil)); err != nil {
		t.Fatalf("after a deletion the limit allows a new connection: %v", err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestStaticRoutes(t *testing.T) {
	s, _ := openTemp(t)
	f := lab(t, s)
	vpl := f.vpn.ID + " (vpn-1)"
	add := func(p string) error {
		return s.Update(func(tx *Tx) error { _, err := tx.AddStaticRoute("vpn-1", pfx(p)); return err })
	}
	wantErr(t, add("172.16.0.0/24"), ErrConflict, "VPN connection "+vpl+" already has static route 172.16.0.0/24")
	wantErr(t, add("10.0.3.0/24"), ErrConflict, "static route 10.0.3.0/24 overlaps VPC CIDR 10.0.0.0/16 of VPN gateway "+f.vgw.ID+" (vgw-lab)")
	wantErr(t, add("0.0.0.0/0"), ErrConflict, "")
	wantErr(t, add("2001:db8::/32"), ErrInvalid, "static route 2001:db8::/32 must be an IPv4 prefix")
	for i := 1; i < 100; i++ {
		if err := add(fmt.Sprintf("172.18.%d.0/24", i)); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, add("172.19.0.0/24"), ErrLimit, "VPN connection "+vpl+" has reached its limit of 100 static routes")
	err := s.Update(func(tx *Tx) error { _, err := tx.DeleteStaticRoute("vpn-1", pfx("172.19.0.0/24")); return err })
	wantErr(t, err, ErrNotFound, "VPN connection "+vpl+" has no static route 172.19.0.0/24")
	update(t, s, func(tx *Tx) error {
		c, err := tx.DeleteStaticRoute("vpn-1", pfx("172.16.0.0/24"))
		if err == nil && (len(c.StaticRoutes) != 99 || slices.Contains(c.StaticRoutes, pfx("172.16.0.0/24"))) {
			t.Errorf("routes after delete: %v", c.StaticRoutes)
		}
		return err
	})
	if err := add("172.19.0.0/24"); err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		c, _ := tx.GetVPNConnection(f.vpn.ID)
		if len(c.StaticRoutes) != 100 {
			t.Errorf("%d routes", len(c.StaticRoutes))
		}
		return nil
	})
}

func TestGeneratePSK(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		p := GeneratePSK()
		if len(p) != 32 || p[0] == '0' {
			t.Fatalf("bad PSK length or first character")
		}
		for i := range len(p) {
			if !strings.ContainsRune(PSKAlphabet, rune(p[i])) {
				t.Fatalf("PSK has a character outside the alphabet")
			}
		}
		if seen[p] {
			t.Fatal("duplicate PSK")
		}
		seen[p] = true
	}
}

func TestGeneratedInsideCIDRs(t *testing.T) {
	s, _ := openTemp(t)
	const n = 500
	s.SetLimit(LimitCustomerGateways, n)
	s.SetLimit(LimitVPNConnectionsPerGateway, n)
	update(t, s, func(tx *Tx) error {
		_, err := tx.CreateVPNGateway(VPNGateway{Name: "vgw-lab"})
		return err
	})
	for i := range n {
		update(t, s, func(tx *Tx) error {
			cg, err := tx.CreateCustomerGateway(CustomerGateway{IP: netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})})
			if err != nil {
				return err
			}
			_, err = tx.CreateVPNConnection(VPNConnection{CustomerGatewayID: cg.ID, VPNGatewayID: "vgw-lab"})
			return err
		})
	}
	seenCIDR, seenPSK := map[netip.Prefix]string{}, map[string]bool{}
	err := s.View(func(tx *Tx) error {
		conns, err := tx.ListVPNConnections()
		if err != nil {
			return err
		}
		if len(conns) != n {
			t.Fatalf("%d connections", len(conns))
		}
		for _, c := range conns {
			for i, tn := range c.Tunnels {
				p := tn.InsideCIDR
				if p.Bits() != 30 || p != p.Masked() || !insideSpace.Contains(p.Addr()) || slices.Contains(ReservedInsideCIDRs, p) {
					t.Errorf("%s tunnel %d: bad inside CIDR %s", c.ID, i+1, p)
				}
				if other, dup := seenCIDR[p]; dup {
					t.Errorf("inside CIDR %s of %s also used by %s", p, c.ID, other)
				}
				seenCIDR[p] = c.ID
				if len(tn.PSK) != 32 || tn.PSK[0] == '0' || seenPSK[tn.PSK] {
					t.Errorf("%s tunnel %d: bad or duplicate PSK", c.ID, i+1)
				}
				seenPSK[tn.PSK] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}

	// The walk after the random tries finds the last free /30, and reports
	// exhaustion.
	last := pfx("169.254.200.8/30")
	p, ok := generateInsideCIDR(func(p netip.Prefix) bool { return p != last })
	if !ok || p != last {
		t.Errorf("nearly full: got %v %v, want %v", p, ok, last)
	}
	if _, ok := generateInsideCIDR(func(netip.Prefix) bool { return false }); !ok {
		t.Error("empty space: no CIDR")
	}
	if p, ok := generateInsideCIDR(func(netip.Prefix) bool { return true }); ok {
		t.Errorf("full space: got %v", p)
	}
	reservedOnly := 0
	generateInsideCIDR(func(p netip.Prefix) bool {
		if slices.Contains(ReservedInsideCIDRs, p) {
			reservedOnly++
		}
		return true
	})
	if reservedOnly != 0 {
		t.Errorf("reserved CIDRs were offered %d times", reservedOnly)
	}
}

func TestModifyTunnelOptions(t *testing.T) {
	s, _ := openTemp(t)
	f := lab(t, s)
	var other VPNConnection
	update(t, s, func(tx *Tx) error {
		cg, err := tx.CreateCustomerGateway(CustomerGateway{Name: "cgw-2", IP: addr("198.51.100.3")})
		if err != nil {
			return err
		}
		other, err = tx.CreateVPNConnection(VPNConnection{Name: "vpn-2", CustomerGatewayID: cg.ID, VPNGatewayID: "vgw-lab"})
		return err
	})
	rev := s.Revision()
	update(t, s, func(tx *Tx) error {
		_, err := tx.ModifyTunnelOptions("vpn-1", 1, func(*TunnelOptions) {})
		return err
	})
	if s.Revision() != rev {
		t.Error("a modification that changed nothing raised the revision")
	}
	var got VPNConnection
	update(t, s, func(tx *Tx) error {
		var err error
		got, err = tx.ModifyTunnelOptions("vpn-1", 2, func(o *TunnelOptions) {
			o.DPDTimeout = time.Minute
			o.Phase2.DHGroups = []int{14}
			o.PSK = "" // replace the credentials
			o.InsideCIDR = pfx("169.254.12.0/30")
		})
		return err
	})
	if s.Revision() != rev+1 {
		t.Errorf("revision %d, want %d", s.Revision(), rev+1)
	}
	t2 := got.Tunnels[1]
	if t2.DPDTimeout != time.Minute || !slices.Equal(t2.Phase2.DHGroups, []int{14}) || t2.InsideCIDR != pfx("169.254.12.0/30") {
		t.Errorf("tunnel 2 = %+v", t2)
	}
	if t2.PSK == "" || t2.PSK == f.vpn.Tunnels[1].PSK {
		t.Error("PSK not replaced")
	}
	if !reflect.DeepEqual(got.Tunnels[0], f.vpn.Tunnels[0]) {
		t.Error("tunnel 1 changed")
	}
	// The old inside CIDR is free again, the new one is taken.
	update(t, s, func(tx *Tx) error {
		_, err := tx.ModifyTunnelOptions("vpn-2", 1, func(o *TunnelOptions) { o.InsideCIDR = pfx("169.254.11.0/30") })
		return err
	})
	err := s.Update(func(tx *Tx) error {
		_, err := tx.ModifyTunnelOptions("vpn-2", 2, func(o *TunnelOptions) {
			o.InsideCIDR = pfx("169.254.12.0/30")
			o.DPDTimeout = time.Hour
		})
		return err
	})
	wantErr(t, err, ErrConflict, "VPN connection "+other.ID+" (vpn-2): tunnel 2 inside CIDR 169.254.12.0/30 is already used by tunnel 2 of VPN connection "+f.vpn.ID+" (vpn-1)")
	err = s.Update(func(tx *Tx) error {
		_, err := tx.ModifyTunnelOptions("vpn-2", 1, func(o *TunnelOptions) { o.OutsideIP = addr("203.0.113.2") })
		return err
	})
	wantErr(t, err, ErrConflict, "VPN connection "+other.ID+" (vpn-2): tunnel 1 outside IP 203.0.113.2 is already used by tunnel 1 of VPN connection "+f.vpn.ID+" (vpn-1)")
	err = s.Update(func(tx *Tx) error {
		_, err := tx.ModifyTunnelOptions("vpn-2", 3, func(*TunnelOptions) {})
		return err
	})
	wantErr(t, err, ErrInvalid, "VPN connection "+other.ID+" (vpn-2) has tunnels 1 and 2, not 3")
	// The refused update left nothing behind.
	s.View(func(tx *Tx) error {
		c, _ := tx.GetVPNConnection("vpn-2")
		if c.Tunnels[1].DPDTimeout == time.Hour {
			t.Error("a refused modification was kept")
		}
		return nil
	})
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestTunnelOptionsRedactPSK(t *testing.T) {
	tn := tunnel("203.0.113.2", "169.254.10.0/30")
	tn.PSK = "secret.psk_123456"
	c := VPNConnection{Tunnels: [2]TunnelOptions{tn, tn}}
	for _, s := range []string{fmt.Sprint(tn), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", tn), fmt.Sprintf("%v", c)} {
		if strings.Contains(s, "secret") {
			t.Errorf("PSK printed: %s", s)
		}
	}
}

func TestUpdateAtomicAndViewReadOnly(t *testing.T) {
	s, _ := openTemp(t)
	boom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		if _, err := tx.CreateCustomerGateway(CustomerGateway{Name: "cgw-1", IP: addr("198.51.100.2")}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	err = s.View(func(tx *Tx) error {
		if l, _ := tx.ListCustomerGateways(); len(l) != 0 {
			t.Error("a failed Update was kept")
		}
		_, err := tx.CreateCustomerGateway(CustomerGateway{Name: "cgw-1", IP: addr("198.51.100.2")})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("View allowed a change: %v", err)
	}
	if s.Revision() != 0 {
		t.Errorf("revision %d", s.Revision())
	}
}

func TestLimits(t *testing.T) {
	s, _ := openTemp(t)
	if s.Limit(LimitVPNConnectionsPerGateway) != 10 || s.Limit(LimitStaticRoutesPerConnection) != 100 {
		t.Fatal("default limits")
	}
	if err := s.SetLimit(LimitVPNGateways, -1); err == nil {
		t.Error("negative limit accepted")
	}
	s.SetLimit(LimitCustomerGateways, 2)
	s.SetLimit(LimitVPNGateways, 1)
	update(t, s, func(tx *Tx) error {
		for i := range 2 {
			if _, err := tx.CreateCustomerGateway(CustomerGateway{IP: netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})}); err != nil {
				return err
			}
		}
		_, err := tx.CreateVPNGateway(VPNGateway{})
		return err
	})
	err := s.Update(func(tx *Tx) error {
		_, err := tx.CreateCustomerGateway(CustomerGateway{IP: addr("198.51.100.9")})
		return err
	})
	wantErr(t, err, ErrLimit, "cannot create customer gateway: the limit of 2 customer gateways is reached")
	err = s.Update(func(tx *Tx) error { _, err := tx.CreateVPNGateway(VPNGateway{}); return err })
	wantErr(t, err, ErrLimit, "cannot create VPN gateway: the limit of 1 VPN gateways is reached")
}

func TestReopenPersistence(t *testing.T) {
	s, dir := openTemp(t)
	f := lab(t, s)
	update(t, s, func(tx *Tx) error { _, err := tx.AddStaticRoute("vpn-1", pfx("172.16.1.0/24")); return err })
	rev := s.Revision()
	var before []VPNConnection
	s.View(func(tx *Tx) error { before, _ = tx.ListVPNConnections(); return nil })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, FileName): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Revision() != rev || rev == 0 {
		t.Errorf("revision after reopen %d, want %d", s2.Revision(), rev)
	}
	err = s2.View(func(tx *Tx) error {
		cg, err := tx.GetCustomerGateway("cgw-1")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(cg, f.cg) {
			t.Errorf("customer gateway %+v, want %+v", cg, f.cg)
		}
		g, err := tx.GetVPNGateway(f.vgw.ID)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(g, f.vgw) {
			t.Errorf("VPN gateway %+v, want %+v", g, f.vgw)
		}
		after, err := tx.ListVPNConnections()
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(after, before) {
			t.Errorf("connections %+v, want %+v", after, before)
		}
		if !reflect.DeepEqual(after[0].Tunnels[0], f.vpn.Tunnels[0]) {
			t.Error("tunnel options (with the generated PSK) not kept")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestRevisionAndChanged(t *testing.T) {
	s, _ := openTemp(t)
	ch := s.Changed()
	update(t, s, func(tx *Tx) error { _, err := tx.ListVPNGateways(); return err })
	if s.Revision() != 0 {
		t.Error("a read-only Update raised the revision")
	}
	select {
	case <-ch:
		t.Fatal("Changed fired without a change")
	default:
	}
	update(t, s, func(tx *Tx) error { _, err := tx.CreateVPNGateway(VPNGateway{}); return err })
	if s.Revision() != 1 {
		t.Errorf("revision %d, want 1", s.Revision())
	}
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("Changed did not fire")
	}
	update(t, s, func(tx *Tx) error {
		if _, err := tx.CreateVPNGateway(VPNGateway{}); err != nil {
			return err
		}
		_, err := tx.CreateCustomerGateway(CustomerGateway{IP: addr("198.51.100.1")})
		return err
	})
	if s.Revision() != 2 {
		t.Errorf("one Update with two changes: revision %d, want 2", s.Revision())
	}
	update(t, s, func(tx *Tx) error {
		if tx.Revision() != 2 {
			t.Errorf("tx.Revision %d", tx.Revision())
		}
		return nil
	})
}

// TestConcurrentWriters: goroutines create and delete objects at once
// while readers list; every acknowledged change is there at the end and
// the indexes match the objects.
func TestConcurrentWriters(t *testing.T) {
	s, _ := openTemp(t)
	const workers, iters = 8, 25
	s.SetLimit(LimitCustomerGateways, workers*iters)
	s.SetLimit(LimitVPNConnectionsPerGateway, workers*iters)
	update(t, s, func(tx *Tx) error { _, err := tx.CreateVPNGateway(VPNGateway{Name: "vgw-lab"}); return err })
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		kept    = map[string]bool{} // connection IDs that must exist
		changes = 1
		stop    = make(chan struct{})
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iters {
				var c VPNConnection
				err := s.Update(func(tx *Tx) error {
					cg, err := tx.CreateCustomerGateway(CustomerGateway{Name: fmt.Sprintf("cgw-%d-%d", w, i), IP: netip.AddrFrom4([4]byte{198, 18, byte(w), byte(i)})})
					if err != nil {
						return err
					}
					c, err = tx.CreateVPNConnection(VPNConnection{Name: fmt.Sprintf("vpn-%d-%d", w, i), CustomerGatewayID: cg.ID, VPNGatewayID: "vgw-lab"})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				kept[c.ID] = true
				changes++
				mu.Unlock()
				if i%2 == 1 {
					err := s.Update(func(tx *Tx) error {
						if err := tx.DeleteVPNConnection(c.ID); err != nil {
							return err
						}
						return tx.DeleteCustomerGateway(c.CustomerGatewayID)
					})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					delete(kept, c.ID)
					changes++
					mu.Unlock()
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.Check(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if s.Revision() != uint64(changes) {
		t.Errorf("revision %d, want %d", s.Revision(), changes)
	}
	s.View(func(tx *Tx) error {
		conns, _ := tx.ListVPNConnections()
		cgws, _ := tx.ListCustomerGateways()
		if len(conns) != len(kept) || len(cgws) != len(kept) {
			t.Errorf("%d connections, %d customer gateways, want %d", len(conns), len(cgws), len(kept))
		}
		for _, c := range conns {
			if !kept[c.ID] {
				t.Errorf("unexpected connection %s", c.ID)
			}
		}
		return nil
	})
}

func TestLockSameProcess(t *testing.T) {
	_, dir := openTemp(t)
	start := time.Now()
	s2, err := Open(dir)
	if err == nil {
		s2.Close()
		t.Fatal("second Open succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "state store locked by another vpgw") {
		t.Errorf("error %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}
