// Package routing decides which kernel routes the gateway wants (Desired,
// pure) and makes a kernel routing table match that decision (Applier,
// netlink). It knows tunnels only as a TUN name and an up/down flag, never
// IKE or ESP.
package routing

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// Route is one kernel route owned by vpgw: Dst reached directly (scope link,
// no gateway) through the TUN device Dev, in routing table Table.
type Route struct {
	Dst   netip.Prefix
	Dev   string
	Table int
}

func (r Route) String() string {
	return fmt.Sprintf("%s dev %s table %d", r.Dst, r.Dev, r.Table)
}

// TunnelState is what routing needs to know about one tunnel of a VPN
// connection.
type TunnelState struct {
	Connection string
	Index      int    // 1 or 2, the tunnel's position in the connection
	Dev        string // TUN interface name
	Up         bool
}

// ConnectionRoutes is one VPN connection's input to Desired: the prefixes it
// routes (static routes, or later BGP best paths) and its two tunnels.
type ConnectionRoutes struct {
	Name     string
	Prefixes []netip.Prefix
	Tunnels  [2]TunnelState
	// Preferred is reserved for sticky tunnel choice (keep the tunnel in use
	// while it stays up, instead of failing back to tunnel 1). It is not used
	// yet: Desired applies Choose's fixed rule.
	Preferred int
}

// Choose picks the tunnel a connection's prefixes go through: tunnel 1 while
// it is up, else tunnel 2. idx is 1 or 2 (the position in ts); ok is false
// when neither tunnel is up, and then the prefixes are withdrawn.
func Choose(ts [2]TunnelState) (idx int, ok bool) {
	for i, t := range ts {
		if t.Up {
			return i + 1, true
		}
	}
	return 0, false
}

// Desired returns the routes that should be in table: for every connection
// with a tunnel up, each of its prefixes through the tunnel Choose picks.
// With propagate false (route propagation disabled) nothing is desired.
//
// Prefixes are normalized to their network address (172.16.0.9/24 becomes
// 172.16.0.0/24, as the kernel requires) and deduplicated. When two
// connections claim the same prefix, the connection whose name sorts first
// wins, so the result never depends on input order. The result is sorted by
// destination.
func Desired(conns []ConnectionRoutes, table int, propagate bool) []Route {
	if !propagate {
		return nil
	}
	order := make([]int, len(conns))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(conns[a].Name, conns[b].Name)
	})

	seen := make(map[netip.Prefix]bool)
	var out []Route
	for _, i := range order {
		c := conns[i]
		idx, ok := Choose(c.Tunnels)
		if !ok {
			continue
		}
		dev := c.Tunnels[idx-1].Dev
		for _, p := range c.Prefixes {
			if !p.IsValid() {
				continue
			}
			p = p.Masked()
			if seen[p] {
				continue
			}
			seen[p] = true
			out = append(out, Route{Dst: p, Dev: dev, Table: table})
		}
	}
	sortRoutes(out)
	return out
}

// sortRoutes orders routes by table, then destination (address, then
// prefix length), then device.
func sortRoutes(rs []Route) {
	slices.SortFunc(rs, func(a, b Route) int {
		return cmp.Or(
			cmp.Compare(a.Table, b.Table),
			a.Dst.Addr().Compare(b.Dst.Addr()),
			cmp.Compare(a.Dst.Bits(), b.Dst.Bits()),
			cmp.Compare(a.Dev, b.Dev),
		)
	})
}
