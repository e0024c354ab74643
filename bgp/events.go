package bgp

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Event is what the Server reports on Events: a SessionState or a
// RoutesChanged, each naming the tunnel of its neighbor.
type Event interface{ TunnelName() string }

// SessionState reports a BGP session state change of one neighbor, or a new
// reason while it stays down.
type SessionState struct {
	Tunnel      string
	Established bool
	// State is the RFC 4271 state: Idle, Connect, Active, OpenSent,
	// OpenConfirm or Established.
	State string
	// Reason says why the session is not established, e.g. "connection
	// refused", "hold timer expired", "prefix limit 100 exceeded" or
	// "administratively down". It is kept until the session is established
	// again, so it names the last failure; "" while established or before
	// any failure.
	Reason string
}

// RoutesChanged carries the full set of IPv4 unicast prefixes currently
// accepted from a tunnel's neighbor (its adj-RIB-in after import checks),
// sorted by prefix. It is sent whenever the set or an attribute vpgw uses
// changes; an empty Routes means the neighbor offers nothing (e.g. the
// session went down).
type RoutesChanged struct {
	Tunnel string
	Routes []Route
}

// Route is one prefix a neighbor advertised, with what route selection
// needs.
type Route struct {
	Prefix    netip.Prefix
	ASPathLen int // AS_SEQUENCE members count one each, an AS_SET one in all
	MED       uint32
	NextHop   netip.Addr
}

func (e SessionState) TunnelName() string  { return e.Tunnel }
func (e RoutesChanged) TunnelName() string { return e.Tunnel }

func (e SessionState) String() string {
	if e.Reason == "" {
		return fmt.Sprintf("%s: BGP %s", e.Tunnel, e.State)
	}
	return fmt.Sprintf("%s: BGP %s (%s)", e.Tunnel, e.State, e.Reason)
}

func (r Route) String() string {
	return fmt.Sprintf("%v via %v as_path_len=%d med=%d", r.Prefix, r.NextHop, r.ASPathLen, r.MED)
}

// stateName maps GoBGP's session state to the RFC 4271 name.
func stateName(s api.PeerState_SessionState) string {
	switch s {
	case api.PeerState_IDLE:
		return "Idle"
	case api.PeerState_CONNECT:
		return "Connect"
	case api.PeerState_ACTIVE:
		return "Active"
	case api.PeerState_OPENSENT:
		return "OpenSent"
	case api.PeerState_OPENCONFIRM:
		return "OpenConfirm"
	case api.PeerState_ESTABLISHED:
		return "Established"
	default:
		return "Idle"
	}
}

// reasonAdminDown starts the Reason of a neighbor shut down by
// DisableNeighbor.
const reasonAdminDown = "administratively down"

func prefixLimitReason(max int) string { return fmt.Sprintf("prefix limit %d exceeded", max) }

func adminDownReason(why string) string {
	if why == "" {
		return reasonAdminDown
	}
	return reasonAdminDown + ": " + why
}

// peerDownReason turns the Reason GoBGP logs with "Peer Down" (its
// fsmStateReason text) into a status message.
func peerDownReason(s string, maxPrefixes int) string {
	switch {
	case s == "hold-timer-expired":
		return "hold timer expired"
	case s == "read-failed":
		return "connection closed by peer"
	case s == "write-failed":
		return "connection write failed"
	case s == "admin-down":
		return reasonAdminDown
	case strings.Contains(s, "maximum number of prefixes reached"):
		return prefixLimitReason(maxPrefixes)
	case strings.HasPrefix(s, "notification-received "):
		return "peer sent notification: " + strings.TrimPrefix(s, "notification-received ")
	case strings.HasPrefix(s, "notification-sent "):
		return "notification sent: " + strings.TrimPrefix(s, "notification-sent ")
	default:
		return strings.ReplaceAll(s, "-", " ")
	}
}

// dialReason turns the error GoBGP logs with "failed to connect" into a
// status message.
func dialReason(v any) string {
	err, ok := v.(error)
	if !ok {
		return fmt.Sprint("connect failed: ", v)
	}
	var errno syscall.Errno
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ETIMEDOUT), isTimeout(err):
		return "connection timed out"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "local inside address not configured"
	case errors.As(err, &errno):
		return errno.Error()
	default:
		return "connect failed: " + err.Error()
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// toRoutes converts adj-RIB-in destinations to Routes. Paths GoBGP would
// not use are left out: withdrawn, filtered by import policy, or looping
// through localASN (GoBGP keeps those in adj-RIB-in, marked rejected).
func toRoutes(dsts []*api.Destination, localASN uint32) []Route {
	var out []Route
	for _, d := range dsts {
		for _, p := range d.Paths {
			if p.IsWithdraw || p.Filtered {
				continue
			}
			r, asns, ok := toRoute(p)
			if !ok || slices.Contains(asns, localASN) {
				continue
			}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Route) int {
		return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
	return slices.CompactFunc(out, func(a, b Route) bool { return a.Prefix == b.Prefix })
}

// toRoute reads an IPv4 unicast api.Path; asns lists every AS on its path.
func toRoute(p *api.Path) (r Route, asns []uint32, ok bool) {
	var nlri api.IPAddressPrefix
	if p.Nlri == nil || p.Nlri.UnmarshalTo(&nlri) != nil {
		return Route{}, nil, false
	}
	addr, err := netip.ParseAddr(nlri.Prefix)
	if err != nil || !addr.Is4() || nlri.PrefixLen > 32 {
		return Route{}, nil, false
	}
	r.Prefix = netip.PrefixFrom(addr, int(nlri.PrefixLen)).Masked()
	for _, a := range p.Pattrs {
		m, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
		if err != nil {
			continue
		}
		switch m := m.(type) {
		case *api.AsPathAttribute:
			for _, seg := range m.Segments {
				asns = append(asns, seg.Numbers...)
				switch seg.Type {
				case api.AsSegment_AS_SEQUENCE:
					r.ASPathLen += len(seg.Numbers)
				case api.AsSegment_AS_SET:
					if len(seg.Numbers) > 0 {
						r.ASPathLen++
					}
				}
			}
		case *api.MultiExitDiscAttribute:
			r.MED = m.Med
		case *api.NextHopAttribute:
			r.NextHop, _ = netip.ParseAddr(m.NextHop)
		}
	}
	return r, asns, true
}
