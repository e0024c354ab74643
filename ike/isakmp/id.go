package isakmp

import (
	"encoding/binary"
	"net/netip"
)

// ID is the Identification payload in the IPsec DOI (RFC 2407 §4.6.2): in
// Main Mode ProtocolID and Port are 0 (or UDP/500) and Data is the identity;
// in Quick Mode the client IDs carry the traffic selector (address, subnet
// as address|mask, or range as start|end) plus IP protocol and port.
// HASH_I/HASH_R sign the received body, Raw(); Serialize gives the body of
// a locally built one.
type ID struct {
	rawBody
	IDType     uint8
	ProtocolID uint8
	Port       uint16
	Data       []byte
}

func (*ID) Type() PayloadType { return PayloadID }

func (id *ID) DecodeFromBytes(b []byte) error {
	if len(b) < 4 {
		return malformed("ID body truncated: %d bytes", len(b))
	}
	id.IDType, id.ProtocolID, id.Port = b[0], b[1], binary.BigEndian.Uint16(b[2:])
	id.Data = clone(b[4:])
	id.setRaw(b)
	return nil
}

func (id *ID) Serialize() ([]byte, error) {
	b := make([]byte, 0, 4+len(id.Data))
	b = append(b, id.IDType, id.ProtocolID)
	b = binary.BigEndian.AppendUint16(b, id.Port)
	return append(b, id.Data...), nil
}

// IDFromAddr returns an IPV4_ADDR / IPV6_ADDR identity.
func IDFromAddr(a netip.Addr) *ID {
	t := uint8(IDIPv4Addr)
	if !a.Is4() {
		t = IDIPv6Addr
	}
	return &ID{IDType: t, Data: a.Unmap().AsSlice()}
}

// IDFromPrefix returns a Quick Mode client ID for a prefix the way
// strongSwan sends it: a host prefix as IPV4_ADDR/IPV6_ADDR, otherwise
// IPV4_ADDR_SUBNET/IPV6_ADDR_SUBNET (address then mask).
func IDFromPrefix(p netip.Prefix) *ID {
	p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked()
	if p.IsSingleIP() {
		return IDFromAddr(p.Addr())
	}
	addr := p.Addr().AsSlice()
	mask := make([]byte, len(addr))
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	t := uint8(IDIPv4AddrSubnet)
	if !p.Addr().Is4() {
		t = IDIPv6AddrSubnet
	}
	return &ID{IDType: t, Data: append(addr, mask...)}
}

// Prefix returns the selector of an address, subnet or range ID when it is
// exactly one prefix (a contiguous mask, a range on prefix boundaries).
func (id *ID) Prefix() (netip.Prefix, bool) {
	switch id.IDType {
	case IDIPv4Addr, IDIPv6Addr:
		a, ok := addrOf(id.Data, id.IDType == IDIPv4Addr)
		if !ok {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	case IDIPv4AddrSubnet, IDIPv6AddrSubnet:
		n := len(id.Data) / 2
		a, ok := addrOf(id.Data[:n], id.IDType == IDIPv4AddrSubnet)
		if !ok || len(id.Data) != 2*n {
			return netip.Prefix{}, false
		}
		bits, ok := maskBits(id.Data[n:])
		if !ok {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, bits).Masked(), true
	case IDIPv4AddrRange, IDIPv6AddrRange:
		n := len(id.Data) / 2
		start, ok1 := addrOf(id.Data[:n], id.IDType == IDIPv4AddrRange)
		end, ok2 := addrOf(id.Data[n:], id.IDType == IDIPv4AddrRange)
		if !ok1 || !ok2 || len(id.Data) != 2*n {
			return netip.Prefix{}, false
		}
		for bits := 0; bits <= start.BitLen(); bits++ {
			p := netip.PrefixFrom(start, bits).Masked()
			if p.Addr() == start && lastAddr(p) == end {
				return p, true
			}
		}
	}
	return netip.Prefix{}, false
}

func addrOf(b []byte, v4 bool) (netip.Addr, bool) {
	if (v4 && len(b) != 4) || (!v4 && len(b) != 16) {
		return netip.Addr{}, false
	}
	return netip.AddrFromSlice(b)
}

// maskBits returns the length of a contiguous netmask.
func maskBits(m []byte) (int, bool) {
	bits, done := 0, false
	for _, x := range m {
		for i := 7; i >= 0; i-- {
			set := x>>i&1 == 1
			if set && done {
				return 0, false
			}
			if set {
				bits++
			} else {
				done = true
			}
		}
	}
	return bits, true
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// NATOA is the NAT-OA payload (RFC 3947 §5.2; type 131 with Draft): the
// original address, Data being 4 or 16 bytes for ID types 1 and 5.
type NATOA struct {
	rawBody
	Draft  bool
	IDType uint8
	Data   []byte
}

func (n *NATOA) Type() PayloadType {
	if n.Draft {
		return PayloadNATOADraft
	}
	return PayloadNATOA
}

// DecodeFromBytes keeps Draft, which comes from the payload type.
func (n *NATOA) DecodeFromBytes(b []byte) error {
	if len(b) < 4 {
		return malformed("NAT-OA body truncated: %d bytes", len(b))
	}
	n.IDType, n.Data = b[0], clone(b[4:])
	n.setRaw(b)
	return nil
}

func (n *NATOA) Serialize() ([]byte, error) {
	b := make([]byte, 4, 4+len(n.Data))
	b[0] = n.IDType
	return append(b, n.Data...), nil
}

// Addr returns the original address, if Data is one.
func (n *NATOA) Addr() (netip.Addr, bool) {
	switch n.IDType {
	case IDIPv4Addr:
		return addrOf(n.Data, true)
	case IDIPv6Addr:
		return addrOf(n.Data, false)
	}
	return netip.Addr{}, false
}
