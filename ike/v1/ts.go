package v1

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vpgw/vpgw/ike/isakmp"
)

// Quick Mode identities as traffic selectors (RFC 2409 §5.5, RFC 2407
// §4.6.2). Unlike IKEv2, IKEv1 cannot narrow: the responder takes the
// initiator's IDci/IDcr as they are or refuses them with
// INVALID_ID_INFORMATION. vpgw accepts them when each lies inside one of the
// tunnel's allowed prefixes (0.0.0.0/0 by default, as AWS).

var anyIPv4 = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}

// tsRange is one Quick Mode identity: an address range with an optional
// protocol and port, which pass through unchanged.
type tsRange struct {
	start, end netip.Addr
	proto      uint8
	port       uint16
}

// rangeFromID reads an IPV4_ADDR, IPV4_ADDR_SUBNET or IPV4_ADDR_RANGE
// identity (and their IPv6 twins).
func rangeFromID(id *isakmp.ID) (tsRange, error) {
	t := tsRange{proto: id.ProtocolID, port: id.Port}
	d := id.Data
	switch id.IDType {
	case isakmp.IDIPv4Addr, isakmp.IDIPv6Addr:
		a, ok := addrOf(d, id.IDType == isakmp.IDIPv4Addr)
		if !ok {
			return t, fmt.Errorf("address identity of %d bytes", len(d))
		}
		t.start, t.end = a, a
	case isakmp.IDIPv4AddrSubnet, isakmp.IDIPv6AddrSubnet:
		p, ok := id.Prefix()
		if !ok {
			return t, fmt.Errorf("bad subnet identity %x", d)
		}
		t.start, t.end = p.Addr(), lastAddr(p)
	case isakmp.IDIPv4AddrRange, isakmp.IDIPv6AddrRange:
		n := len(d) / 2
		a, ok1 := addrOf(d[:n], id.IDType == isakmp.IDIPv4AddrRange)
		b, ok2 := addrOf(d[n:], id.IDType == isakmp.IDIPv4AddrRange)
		if !ok1 || !ok2 || b.Less(a) {
			return t, fmt.Errorf("bad range identity %x", d)
		}
		t.start, t.end = a, b
	default:
		return t, fmt.Errorf("identity type %d is not an address", id.IDType)
	}
	return t, nil
}

func addrOf(b []byte, v4 bool) (netip.Addr, bool) {
	if (v4 && len(b) != 4) || (!v4 && len(b) != 16) {
		return netip.Addr{}, false
	}
	return netip.AddrFromSlice(b)
}

// hostRange is the identity RFC 2409 §5.5 implies when IDs are absent: the
// ISAKMP peer's own address.
func hostRange(a netip.Addr) tsRange { return tsRange{start: a.Unmap(), end: a.Unmap()} }

// within reports whether the whole range lies inside one allowed prefix.
func (t tsRange) within(allowed []netip.Prefix) bool {
	for _, p := range allowed {
		p = p.Masked()
		if p.IsValid() && p.Contains(t.start) && p.Contains(t.end) {
			return true
		}
	}
	return false
}

func (t tsRange) prefixes() []netip.Prefix { return rangeToPrefixes(t.start, t.end) }

func (t tsRange) String() string {
	ps := t.prefixes()
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	out := strings.Join(s, " ")
	if t.proto != 0 || t.port != 0 {
		out += fmt.Sprintf("[%d/%d]", t.proto, t.port)
	}
	return out
}

// lastAddr is the highest address inside p (p masked).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// rangeToPrefixes splits [start, end] into the fewest covering prefixes.
func rangeToPrefixes(start, end netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	if !start.IsValid() || start.BitLen() != end.BitLen() || end.Less(start) {
		return nil
	}
	for {
		var chosen netip.Prefix
		// The shortest prefix that starts exactly at start and ends at or before end.
		for bits := 0; bits <= start.BitLen(); bits++ {
			p := netip.PrefixFrom(start, bits)
			if p.Masked().Addr() != start || end.Less(lastAddr(p)) {
				continue
			}
			chosen = p
			break
		}
		out = append(out, chosen)
		last := lastAddr(chosen)
		if last == end {
			return out
		}
		start = last.Next()
		if !start.IsValid() {
			return out
		}
	}
}
