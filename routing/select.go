package routing

import (
	"cmp"
	"net/netip"
)

// Candidate is one way to reach a prefix that a VPN connection offers: a
// static route of the connection, or a path a BGP neighbor of one of its
// tunnels advertised. Only candidates of tunnels that are UP should be
// passed to Select.
type Candidate struct {
	Prefix    netip.Prefix
	Tunnel    int    // 1 or 2, the tunnel's position in its connection
	Dev       string // TUN interface of the tunnel
	Static    bool   // a configured static route (AS path and MED unused)
	ASPathLen int    // BGP: AS_PATH length (an AS_SET counts as one)
	MED       uint32 // BGP: MULTI_EXIT_DISC, lower is better
	Preferred bool   // the tunnel currently preferred (sticky choice)
}

// Select applies the virtual private gateway's route priority to cands and
// returns one route per prefix, in table. For the same prefix it prefers, in
// order:
//
//  1. a static route over a BGP-learned one;
//  2. the shorter AS_PATH;
//  3. the lower MED;
//  4. the preferred tunnel;
//  5. then, so the result never depends on input order, the lower tunnel
//     index and the device name that sorts first.
//
// Static candidates skip steps 2 and 3. Prefixes are normalized to their
// network address; invalid ones are ignored. The result is sorted as Desired
// sorts it.
func Select(cands []Candidate, table int) []Route {
	best := make(map[netip.Prefix]Candidate)
	for _, c := range cands {
		if !c.Prefix.IsValid() {
			continue
		}
		c.Prefix = c.Prefix.Masked()
		if cur, ok := best[c.Prefix]; !ok || compareCandidates(c, cur) < 0 {
			best[c.Prefix] = c
		}
	}
	out := make([]Route, 0, len(best))
	for p, c := range best {
		out = append(out, Route{Dst: p, Dev: c.Dev, Table: table})
	}
	sortRoutes(out)
	return out
}

// compareCandidates orders candidates for one prefix, best first.
func compareCandidates(a, b Candidate) int {
	if a.Static != b.Static {
		if a.Static {
			return -1
		}
		return 1
	}
	c := 0
	if !a.Static {
		c = cmp.Or(
			cmp.Compare(a.ASPathLen, b.ASPathLen),
			cmp.Compare(a.MED, b.MED),
		)
	}
	if c == 0 && a.Preferred != b.Preferred {
		if a.Preferred {
			return -1
		}
		return 1
	}
	return cmp.Or(c,
		cmp.Compare(a.Tunnel, b.Tunnel),
		cmp.Compare(a.Dev, b.Dev),
	)
}
