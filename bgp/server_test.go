package bgp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/types/known/anypb"
)

func testConfig() Config {
	return Config{
		ASN:      64512,
		RouterID: netip.MustParseAddr("192.0.2.254"),
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")},
	}
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	c := testConfig()
	c.setDefaults()
	if c.MaxPrefixes != 100 || c.HoldTime != 30*time.Second || c.KeepaliveInterval != 10*time.Second ||
		c.ConnectRetry != 5*time.Second || c.PrefixLimitRetry != time.Minute {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Config){
		"no ASN":           func(c *Config) { c.ASN = 0 },
		"IPv6 router ID":   func(c *Config) { c.RouterID = netip.MustParseAddr("2001:db8::1") },
		"short hold":       func(c *Config) { c.HoldTime = 2 * time.Second },
		"fractional hold":  func(c *Config) { c.HoldTime = 3500 * time.Millisecond },
		"keepalive ≥ hold": func(c *Config) { c.KeepaliveInterval = c.HoldTime },
		"IPv6 VPC":         func(c *Config) { c.VPCCIDRs = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")} },
	}
	for name, f := range bad {
		c := testConfig()
		c.setDefaults()
		f(&c)
		if err := c.validate(); err == nil {
			t.Errorf("%s: validate accepted %+v", name, c)
		}
	}
}

func TestExportPolicies(t *testing.T) {
	vpc := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("10.1.0.0/16")}
	ns := []Neighbor{
		{Tunnel: "vpn-1/2", Peer: netip.MustParseAddr("169.254.11.2"), MED: 200},
		{Tunnel: "vpn-1/1", Peer: netip.MustParseAddr("169.254.10.2"), MED: 100},
	}
	req := exportPolicies(vpc, ns)
	if len(req.Policies) != 1 || req.Policies[0].Name != exportPolicy {
		t.Fatalf("policies: %v", req.Policies)
	}
	st := req.Policies[0].Statements
	if len(st) != 2 {
		t.Fatalf("want one statement per neighbor, got %d", len(st))
	}
	for i, want := range []struct {
		set string
		med int64
	}{{"vpgw-nbr-169-254-10-2", 100}, {"vpgw-nbr-169-254-11-2", 200}} {
		s := st[i]
		if s.Conditions.NeighborSet.Name != want.set || s.Conditions.PrefixSet.Name != vpcPrefixSet ||
			s.Actions.Med.Value != want.med || s.Actions.Med.Type != api.MedAction_REPLACE ||
			s.Actions.RouteAction != api.RouteAction_ACCEPT {
			t.Errorf("statement %d: %v", i, s)
		}
	}
	var prefixes []string
	for _, d := range req.DefinedSets {
		if d.Name == vpcPrefixSet {
			for _, p := range d.Prefixes {
				prefixes = append(prefixes, fmt.Sprintf("%s %d..%d", p.IpPrefix, p.MaskLengthMin, p.MaskLengthMax))
			}
		}
	}
	if want := []string{"10.0.0.0/16 16..16", "10.1.0.0/16 16..16"}; !slices.Equal(prefixes, want) {
		t.Errorf("VPC prefix set %v, want exact matches %v", prefixes, want)
	}
}

func TestToRoutes(t *testing.T) {
	path := func(prefix string, segs []*api.AsSegment, med uint32, mod func(*api.Path)) *api.Path {
		p := netip.MustParsePrefix(prefix)
		nlri, _ := anypb.New(&api.IPAddressPrefix{Prefix: p.Addr().String(), PrefixLen: uint32(p.Bits())})
		asPath, _ := anypb.New(&api.AsPathAttribute{Segments: segs})
		nh, _ := anypb.New(&api.NextHopAttribute{NextHop: "169.254.10.2"})
		m, _ := anypb.New(&api.MultiExitDiscAttribute{Med: med})
		ap := &api.Path{Nlri: nlri, Pattrs: []*anypb.Any{asPath, nh, m}}
		if mod != nil {
			mod(ap)
		}
		return ap
	}
	seq := func(as ...uint32) *api.AsSegment { return &api.AsSegment{Type: api.AsSegment_AS_SEQUENCE, Numbers: as} }
	set := func(as ...uint32) *api.AsSegment { return &api.AsSegment{Type: api.AsSegment_AS_SET, Numbers: as} }
	dsts := []*api.Destination{
		{Paths: []*api.Path{path("172.16.1.0/24", []*api.AsSegment{seq(65000, 65001), set(1, 2, 3)}, 7, nil)}},
		{Paths: []*api.Path{path("172.16.0.0/24", []*api.AsSegment{seq(65000)}, 0, nil)}},
		{Paths: []*api.Path{path("172.16.2.0/24", []*api.AsSegment{seq(65000, 64512)}, 0, nil)}}, // loops through us
		{Paths: []*api.Path{path("172.16.3.0/24", []*api.AsSegment{seq(65000)}, 0, func(p *api.Path) { p.Filtered = true })}},
		{Paths: []*api.Path{path("172.16.4.0/24", []*api.AsSegment{seq(65000)}, 0, func(p *api.Path) { p.IsWithdraw = true })}},
	}
	got := toRoutes(dsts, 64512)
	nh := netip.MustParseAddr("169.254.10.2")
	want := []Route{
		{Prefix: netip.MustParsePrefix("172.16.0.0/24"), ASPathLen: 1, NextHop: nh},
		{Prefix: netip.MustParsePrefix("172.16.1.0/24"), ASPathLen: 3, MED: 7, NextHop: nh},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("toRoutes = %v, want %v", got, want)
	}
}

func TestReasons(t *testing.T) {
	for in, want := range map[string]string{
		"hold-timer-expired": "hold timer expired",
		"read-failed":        "connection closed by peer",
		"notification-sent code 6(cease) subcode 1(maximum number of prefixes reached)": "prefix limit 100 exceeded",
		"notification-received code 6(cease) subcode 2(administrative shutdown)":        "peer sent notification: code 6(cease) subcode 2(administrative shutdown)",
	} {
		if got := peerDownReason(in, 100); got != want {
			t.Errorf("peerDownReason(%q) = %q, want %q", in, got, want)
		}
	}
	opErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
	}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{opErr(syscall.ECONNREFUSED), "connection refused"},
		{opErr(syscall.EHOSTUNREACH), "no route to host"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)}, "local inside address not configured"},
		{opErr(syscall.ETIMEDOUT), "connection timed out"},
		{errors.New("odd"), "connect failed: odd"},
	} {
		if got := dialReason(tt.err); got != tt.want {
			t.Errorf("dialReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestServerWithoutNetwork runs the real Server with a neighbor whose local
// address is not configured on this host: no root or namespace needed.
func TestServerWithoutNetwork(t *testing.T) {
	s, err := New(testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := Neighbor{Tunnel: "vpn-1/1", Local: netip.MustParseAddr("192.0.2.1"), Peer: netip.MustParseAddr("192.0.2.2"), PeerASN: 65000, MED: 100}
	must(t, s.AddNeighbor(n))

	for _, tt := range []struct {
		name string
		n    Neighbor
		want string
	}{
		{"same tunnel", n, "already exists"},
		{"same peer", Neighbor{Tunnel: "vpn-1/2", Local: n.Local, Peer: n.Peer, PeerASN: 65000}, "already the neighbor of vpn-1/1"},
		{"iBGP", Neighbor{Tunnel: "vpn-1/2", Local: n.Local, Peer: netip.MustParseAddr("192.0.2.6"), PeerASN: 64512}, "only eBGP"},
		{"no tunnel", Neighbor{Local: n.Local, Peer: n.Peer, PeerASN: 65000}, "tunnel name"},
	} {
		if err := s.AddNeighbor(tt.n); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("AddNeighbor(%s) = %v, want error containing %q", tt.name, err, tt.want)
		}
	}
	for name, err := range map[string]error{
		"SetNeighborMED":  s.SetNeighborMED("nope", 1),
		"EnableNeighbor":  s.EnableNeighbor("nope"),
		"DisableNeighbor": s.DisableNeighbor("nope", ""),
		"RemoveNeighbor":  s.RemoveNeighbor("nope"),
	} {
		if err == nil {
			t.Errorf("%s of an unknown tunnel succeeded", name)
		}
	}

	evs := s.Events()
	expect(t, evs, 10*time.Second, "dial failure reason", func(ev Event) bool {
		st, ok := ev.(SessionState)
		return ok && st.Tunnel == n.Tunnel && !st.Established && st.Reason == "local inside address not configured"
	})
	must(t, s.SetNeighborMED(n.Tunnel, 200)) // not established: policy only
	must(t, s.DisableNeighbor(n.Tunnel, "tunnel down"))
	expect(t, evs, 2*time.Second, "admin down", func(ev Event) bool {
		st, ok := ev.(SessionState)
		return ok && st.State == "Idle" && st.Reason == "administratively down: tunnel down"
	})
	must(t, s.EnableNeighbor(n.Tunnel))
	must(t, s.RemoveNeighbor(n.Tunnel))
	must(t, s.Close())
	must(t, s.Close())
	for range evs {
	}
	if err := s.AddNeighbor(n); err == nil {
		t.Error("AddNeighbor after Close succeeded")
	}
}
