package message

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// TrafficSelectors is the TSi (Initiator set) or TSr payload (RFC 7296 §3.13).
type TrafficSelectors struct {
	Initiator bool
	Selectors []TrafficSelector
}

// TrafficSelector is one address-range selector (RFC 7296 §3.13.1):
// TS_IPV4_ADDR_RANGE when Start and End are IPv4, TS_IPV6_ADDR_RANGE when
// both are IPv6. IPProtocol 0 and ports 0..65535 mean "any".
type TrafficSelector struct {
	IPProtocol         uint8
	StartPort, EndPort uint16
	Start, End         netip.Addr
}

const tsHeaderLen = 8 // type, protocol, length, start port, end port

func (ts *TrafficSelectors) Type() PayloadType {
	if ts.Initiator {
		return PayloadTSi
	}
	return PayloadTSr
}

// DecodeFromBytes keeps Initiator, which comes from the payload type. Other
// selector types (e.g. RFC 9478 security labels) are refused as a syntax
// error: vpgw cannot honour them, and dropping one would widen the policy.
func (ts *TrafficSelectors) DecodeFromBytes(b []byte) error {
	if len(b) < 4 {
		return syntaxError("TS body truncated: %d bytes", len(b))
	}
	count := int(b[0])
	rest := b[4:]
	ts.Selectors = nil
	for i := 0; i < count; i++ {
		if len(rest) < tsHeaderLen {
			return syntaxError("traffic selector %d truncated", i)
		}
		n := int(binary.BigEndian.Uint16(rest[2:]))
		if n < tsHeaderLen || n > len(rest) {
			return syntaxError("traffic selector %d: length %d, %d bytes left", i, n, len(rest))
		}
		var s TrafficSelector
		if err := s.DecodeFromBytes(rest[:n]); err != nil {
			return err
		}
		ts.Selectors = append(ts.Selectors, s)
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return syntaxError("%d bytes after %d traffic selectors", len(rest), count)
	}
	return nil
}

func (ts *TrafficSelectors) Serialize() ([]byte, error) {
	if len(ts.Selectors) > 0xff {
		return nil, fmt.Errorf("ikev2 message: %d traffic selectors", len(ts.Selectors))
	}
	b := append(make([]byte, 0, 4+40*len(ts.Selectors)), byte(len(ts.Selectors)), 0, 0, 0)
	for i := range ts.Selectors {
		var err error
		if b, err = ts.Selectors[i].appendTo(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// DecodeFromBytes reads one whole selector substructure.
func (s *TrafficSelector) DecodeFromBytes(b []byte) error {
	if len(b) < tsHeaderLen {
		return syntaxError("traffic selector truncated: %d bytes", len(b))
	}
	var alen int
	switch b[0] {
	case TSIPv4AddrRange:
		alen = 4
	case TSIPv6AddrRange:
		alen = 16
	default:
		return syntaxError("traffic selector type %d not supported", b[0])
	}
	if n := int(binary.BigEndian.Uint16(b[2:])); n != tsHeaderLen+2*alen || n != len(b) {
		return syntaxError("traffic selector type %d: length %d in %d bytes", b[0], n, len(b))
	}
	s.IPProtocol = b[1]
	s.StartPort = binary.BigEndian.Uint16(b[4:])
	s.EndPort = binary.BigEndian.Uint16(b[6:])
	s.Start, _ = netip.AddrFromSlice(b[tsHeaderLen : tsHeaderLen+alen])
	s.End, _ = netip.AddrFromSlice(b[tsHeaderLen+alen:])
	return nil
}

func (s *TrafficSelector) Serialize() ([]byte, error) { return s.appendTo(nil) }

func (s *TrafficSelector) appendTo(dst []byte) ([]byte, error) {
	var typ byte
	switch {
	case s.Start.Is4() && s.End.Is4():
		typ = TSIPv4AddrRange
	case s.Start.Is6() && s.End.Is6():
		typ = TSIPv6AddrRange
	default:
		return nil, fmt.Errorf("ikev2 message: traffic selector %v-%v mixes or lacks address families", s.Start, s.End)
	}
	alen := s.Start.BitLen() / 8
	dst = append(dst, typ, s.IPProtocol)
	dst = binary.BigEndian.AppendUint16(dst, uint16(tsHeaderLen+2*alen))
	dst = binary.BigEndian.AppendUint16(dst, s.StartPort)
	dst = binary.BigEndian.AppendUint16(dst, s.EndPort)
	dst = append(dst, s.Start.AsSlice()...)
	return append(dst, s.End.AsSlice()...), nil
}

// SelectorFromPrefix returns the selector covering p, any protocol and port.
func SelectorFromPrefix(p netip.Prefix) TrafficSelector {
	p = p.Masked()
	return TrafficSelector{EndPort: 0xffff, Start: p.Addr(), End: lastAddr(p)}
}

// Prefix returns the selector's range as a prefix if it is exactly one.
func (s TrafficSelector) Prefix() (netip.Prefix, bool) {
	if !s.Start.IsValid() || s.Start.BitLen() != s.End.BitLen() {
		return netip.Prefix{}, false
	}
	for bits := 0; bits <= s.Start.BitLen(); bits++ {
		p := netip.PrefixFrom(s.Start, bits)
		if p.Masked().Addr() == s.Start && lastAddr(p) == s.End {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// lastAddr is the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(a)*8; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	last, _ := netip.AddrFromSlice(a)
	return last
}

func (s TrafficSelector) String() string {
	r := s.Start.String() + "-" + s.End.String()
	if p, ok := s.Prefix(); ok {
		r = p.String()
	}
	if s.IPProtocol != 0 || s.StartPort != 0 || s.EndPort != 0xffff {
		r += fmt.Sprintf("[%d/%d-%d]", s.IPProtocol, s.StartPort, s.EndPort)
	}
	return r
}
