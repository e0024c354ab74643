package routing

import (
	"net/netip"
	"slices"
	"testing"
)

func TestSelect(t *testing.T) {
	p1 := netip.MustParsePrefix("172.16.0.0/24")
	p2 := netip.MustParsePrefix("172.16.1.0/24")
	bgp := func(p netip.Prefix, tunnel int, asLen int, med uint32, pref bool) Candidate {
		return Candidate{Prefix: p, Tunnel: tunnel, Dev: devOf(tunnel), ASPathLen: asLen, MED: med, Preferred: pref}
	}
	static := func(p netip.Prefix, tunnel int, pref bool) Candidate {
		return Candidate{Prefix: p, Tunnel: tunnel, Dev: devOf(tunnel), Static: true, Preferred: pref}
	}
	route := func(p netip.Prefix, tunnel int) Route {
		return Route{Dst: p, Dev: devOf(tunnel), Table: 100}
	}
	tests := []struct {
		name  string
		cands []Candidate
		want  []Route
	}{
		{"empty", nil, []Route{}},
		{"single bgp path", []Candidate{bgp(p1, 2, 1, 0, false)}, []Route{route(p1, 2)}},
		{"static beats shorter bgp", []Candidate{bgp(p1, 1, 1, 0, true), static(p1, 2, false)}, []Route{route(p1, 2)}},
		{"shorter as path wins over med and preference", []Candidate{bgp(p1, 1, 3, 0, true), bgp(p1, 2, 2, 500, false)}, []Route{route(p1, 2)}},
		{"lower med wins over preference", []Candidate{bgp(p1, 1, 2, 200, true), bgp(p1, 2, 2, 100, false)}, []Route{route(p1, 2)}},
		{"preferred tunnel breaks a tie", []Candidate{bgp(p1, 1, 2, 100, false), bgp(p1, 2, 2, 100, true)}, []Route{route(p1, 2)}},
		{"static: preferred tunnel", []Candidate{static(p1, 1, false), static(p1, 2, true)}, []Route{route(p1, 2)}},
		{"static ignores as path and med", []Candidate{
			{Prefix: p1, Tunnel: 1, Dev: devOf(1), Static: true, ASPathLen: 9, MED: 9},
			{Prefix: p1, Tunnel: 2, Dev: devOf(2), Static: true, Preferred: true},
		}, []Route{route(p1, 2)}},
		{"full tie: lower tunnel index", []Candidate{bgp(p1, 2, 1, 0, false), bgp(p1, 1, 1, 0, false)}, []Route{route(p1, 1)}},
		{"prefixes are normalized and chosen independently", []Candidate{
			bgp(netip.MustParsePrefix("172.16.1.7/24"), 1, 1, 0, false),
			bgp(p2, 2, 1, 0, true),
			bgp(p1, 1, 2, 0, false),
			bgp(p1, 2, 1, 0, false),
		}, []Route{route(p1, 2), route(p2, 2)}},
		{"invalid prefix ignored", []Candidate{{Tunnel: 1, Dev: devOf(1), Static: true}, bgp(p1, 1, 1, 0, false)}, []Route{route(p1, 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Select(tt.cands, 100)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Select = %v, want %v", got, tt.want)
			}
			// Order of the input must not matter.
			rev := slices.Clone(tt.cands)
			slices.Reverse(rev)
			if got := Select(rev, 100); !slices.Equal(got, tt.want) {
				t.Fatalf("Select(reversed) = %v, want %v", got, tt.want)
			}
		})
	}
}

func devOf(tunnel int) string {
	if tunnel == 1 {
		return "vpn-1-t1"
	}
	return "vpn-1-t2"
}
