package routing

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func tunnels(conn string, up1, up2 bool) [2]TunnelState {
	return [2]TunnelState{
		{Connection: conn, Index: 1, Dev: conn + "-t1", Up: up1},
		{Connection: conn, Index: 2, Dev: conn + "-t2", Up: up2},
	}
}

func pfx(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, v := range s {
		out[i] = netip.MustParsePrefix(v)
	}
	return out
}

func TestChoose(t *testing.T) {
	tests := []struct {
		name     string
		up1, up2 bool
		wantIdx  int
		wantOK   bool
	}{
		{"neither up", false, false, 0, false},
		{"tunnel 1 up", true, false, 1, true},
		{"tunnel 2 only", false, true, 2, true},
		{"both up prefers tunnel 1", true, true, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, ok := Choose(tunnels("vpn-1", tt.up1, tt.up2))
			if idx != tt.wantIdx || ok != tt.wantOK {
				t.Fatalf("Choose = (%d, %v), want (%d, %v)", idx, ok, tt.wantIdx, tt.wantOK)
			}
		})
	}
}

func TestDesired(t *testing.T) {
	two := pfx("172.16.1.0/24", "172.16.0.0/24")
	routes := func(dev string) []Route {
		return []Route{
			{Dst: netip.MustParsePrefix("172.16.0.0/24"), Dev: dev, Table: 100},
			{Dst: netip.MustParsePrefix("172.16.1.0/24"), Dev: dev, Table: 100},
		}
	}
	tests := []struct {
		name      string
		up1, up2  bool
		propagate bool
		want      []Route
	}{
		{"neither up: nothing", false, false, true, nil},
		{"tunnel 1 up: via tunnel 1", true, false, true, routes("vpn-1-t1")},
		{"tunnel 2 only: via tunnel 2", false, true, true, routes("vpn-1-t2")},
		{"both up: via tunnel 1", true, true, true, routes("vpn-1-t1")},
		{"propagation off: nothing", true, true, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conns := []ConnectionRoutes{{Name: "vpn-1", Prefixes: two, Tunnels: tunnels("vpn-1", tt.up1, tt.up2)}}
			got := Desired(conns, 100, tt.propagate)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Desired =\n  %v\nwant\n  %v", got, tt.want)
			}
		})
	}
}

func TestDesiredNormalizesAndDedups(t *testing.T) {
	conns := []ConnectionRoutes{
		// Listed first but sorts second: loses the shared prefix.
		{Name: "vpn-b", Prefixes: pfx("10.20.0.0/16", "192.168.7.0/24"), Tunnels: tunnels("vpn-b", false, true)},
		{Name: "vpn-a", Prefixes: append(pfx("192.168.7.9/24", "192.168.7.0/24", "10.1.0.0/16"), netip.Prefix{}), Tunnels: tunnels("vpn-a", true, false)},
		{Name: "vpn-c", Prefixes: pfx("10.30.0.0/16"), Tunnels: tunnels("vpn-c", false, false)},
	}
	want := []Route{
		{Dst: netip.MustParsePrefix("10.1.0.0/16"), Dev: "vpn-a-t1", Table: 254},
		{Dst: netip.MustParsePrefix("10.20.0.0/16"), Dev: "vpn-b-t2", Table: 254},
		{Dst: netip.MustParsePrefix("192.168.7.0/24"), Dev: "vpn-a-t1", Table: 254},
	}
	got := Desired(conns, 254, true)
	if !slices.Equal(got, want) {
		t.Fatalf("Desired =\n  %v\nwant\n  %v", got, want)
	}
	// The result must not depend on the order connections are given in.
	slices.Reverse(conns)
	if got := Desired(conns, 254, true); !slices.Equal(got, want) {
		t.Fatalf("Desired with reversed input =\n  %v\nwant\n  %v", got, want)
	}
}

func TestDesiredSortsByPrefixLength(t *testing.T) {
	conns := []ConnectionRoutes{{Name: "vpn-1", Prefixes: pfx("10.0.0.0/16", "10.0.0.0/8", "9.0.0.0/8"), Tunnels: tunnels("vpn-1", true, true)}}
	var got []string
	for _, r := range Desired(conns, 1, true) {
		got = append(got, r.Dst.String())
	}
	if want := []string{"9.0.0.0/8", "10.0.0.0/8", "10.0.0.0/16"}; !slices.Equal(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
}

// TestNormalize covers the Applier's input checks, which need no kernel.
func TestNormalize(t *testing.T) {
	a := NewApplierAt(nil, 100, slog.New(slog.DiscardHandler))
	in := []Route{
		{Dst: netip.MustParsePrefix("172.16.0.5/24"), Dev: "t1"},             // table 0 = the applier's; host bits cleared
		{Dst: netip.MustParsePrefix("172.16.0.0/24"), Dev: "t1", Table: 100}, // same route again: merged
		{Dst: netip.MustParsePrefix("172.16.0.0/24"), Dev: "t2", Table: 100}, // conflicting device: reported
		{Dst: netip.MustParsePrefix("10.0.0.0/8"), Dev: "t1", Table: 200},    // other table: reported
		{Dst: netip.MustParsePrefix("2001:db8::/32"), Dev: "t1"},             // IPv6: reported
		{Dst: netip.MustParsePrefix("10.1.0.0/16")},                          // no device: reported
	}
	w, errs := a.normalize(in)
	want := []Route{{Dst: netip.MustParsePrefix("172.16.0.0/24"), Dev: "t1", Table: 100}}
	if !slices.Equal(w.routes, want) {
		t.Fatalf("routes = %v, want %v", w.routes, want)
	}
	if len(errs) != 4 {
		t.Fatalf("got %d errors, want 4: %v", len(errs), errs)
	}
	for i, frag := range []string{"table 100", "IPv4", "no device", "conflicts"} {
		if !strings.Contains(errs[i].Error(), frag) {
			t.Errorf("error %d = %q, want it to mention %q", i, errs[i], frag)
		}
	}
}

func TestNewApplierTableZeroIsMain(t *testing.T) {
	if got := NewApplierAt(nil, 0, slog.New(slog.DiscardHandler)).Table(); got != 254 {
		t.Fatalf("Table() = %d, want 254", got)
	}
}

func TestIPNetRoundTrip(t *testing.T) {
	for _, s := range []string{"0.0.0.0/0", "172.16.0.0/24", "169.254.10.1/30", "10.0.0.1/32"} {
		p := netip.MustParsePrefix(s)
		got, ok := ipNetToPrefix(prefixToIPNet(p))
		if !ok || got != p {
			t.Errorf("round trip of %v = %v, %v", p, got, ok)
		}
	}
	if got, ok := ipNetToPrefix(nil); !ok || got != netip.MustParsePrefix("0.0.0.0/0") {
		t.Errorf("nil destination = %v, %v, want the default route", got, ok)
	}
}
