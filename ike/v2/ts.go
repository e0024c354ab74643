package v2

import (
	"net/netip"
	"strings"

	"github.com/vpgw/vpgw/ike/message"
)

// Traffic selector narrowing (RFC 7296 §2.9): the responder answers with the
// intersection of what the initiator proposed and what its policy allows.
// vpgw allows prefixes (AWS's local/remote IPv4 network CIDRs, 0.0.0.0/0 by
// default); protocol and ports pass through unchanged.

var anyIPv4 = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}

// narrowTS returns the parts of offered inside allowed; empty if none.
func narrowTS(offered []message.TrafficSelector, allowed []netip.Prefix) []message.TrafficSelector {
	var out []message.TrafficSelector
	for _, ts := range offered {
		if !ts.Start.IsValid() || !ts.End.IsValid() || ts.Start.BitLen() != ts.End.BitLen() || ts.End.Less(ts.Start) {
			continue
		}
		if ts.EndPort < ts.StartPort {
			continue // "opaque" selector (RFC 4301): we do not do per-port SAs
		}
		for _, p := range allowed {
			p = p.Masked()
			if !p.IsValid() || p.Addr().BitLen() != ts.Start.BitLen() {
				continue
			}
			lo, hi := p.Addr(), lastAddr(p)
			if lo.Less(ts.Start) {
				lo = ts.Start
			}
			if ts.End.Less(hi) {
				hi = ts.End
			}
			if hi.Less(lo) {
				continue
			}
			n := ts
			n.Start, n.End = lo, hi
			out = append(out, n)
		}
	}
	return out
}

// tsPrefixes converts address ranges to the prefixes the gateway installs.
func tsPrefixes(tss []message.TrafficSelector) []netip.Prefix {
	var out []netip.Prefix
	for _, ts := range tss {
		out = append(out, rangeToPrefixes(ts.Start, ts.End)...)
	}
	return out
}

func tsString(tss []message.TrafficSelector) string {
	ps := tsPrefixes(tss)
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

// lastAddr is the highest address inside p (p masked).
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr()
	b := a.AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	out, _ := netip.AddrFromSlice(b)
	return out
}

// rangeToPrefixes splits [start, end] into the fewest covering prefixes.
func rangeToPrefixes(start, end netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	if start.BitLen() != end.BitLen() || end.Less(start) {
		return nil
	}
	maxBits := start.BitLen()
	for {
		var chosen netip.Prefix
		// The shortest prefix that starts exactly at start and ends at or before end.
		for bits := 0; bits <= maxBits; bits++ {
			p := netip.PrefixFrom(start, bits)
			if p.Masked().Addr() != start {
				continue
			}
			if end.Less(lastAddr(p.Masked())) {
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
