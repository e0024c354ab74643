package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// SA is the Security Association payload (RFC 7296 §3.3).
type SA struct {
	Proposals []Proposal
}

// Proposal is a proposal substructure (RFC 7296 §3.3.1). Protocol is
// ProtocolIKE, ProtocolAH or ProtocolESP; SPI is empty in IKE_SA_INIT.
type Proposal struct {
	Number     uint8
	Protocol   ProtocolID
	SPI        []byte
	Transforms []Transform
}

// Transform is a transform substructure (RFC 7296 §3.3.2). KeyLength is the
// Key Length attribute (14) in bits, 0 if absent.
type Transform struct {
	Type      TransformType
	ID        uint16
	KeyLength uint16
}

// Last Substruc values (RFC 7296 §3.3.1, §3.3.2).
const (
	moreProposals  = 2
	moreTransforms = 3
)

const (
	proposalHeaderLen  = 8
	transformHeaderLen = 8
)

func (*SA) Type() PayloadType { return PayloadSA }

func (s *SA) DecodeFromBytes(b []byte) error {
	s.Proposals = nil
	for len(b) > 0 {
		if len(b) < proposalHeaderLen {
			return syntaxError("proposal header truncated: %d bytes", len(b))
		}
		last, plen := b[0], int(binary.BigEndian.Uint16(b[2:]))
		if plen < proposalHeaderLen || plen > len(b) {
			return syntaxError("proposal length %d, %d bytes left", plen, len(b))
		}
		var p Proposal
		if err := p.DecodeFromBytes(b[:plen]); err != nil {
			return err
		}
		b = b[plen:]
		if !lastFlagOK(last, moreProposals, len(b) == 0) {
			return syntaxError("proposal %d: Last Substruc %d", p.Number, last)
		}
		s.Proposals = append(s.Proposals, p)
	}
	return nil
}

// lastFlagOK checks a Last Substruc field: 0 on the last, more otherwise.
func lastFlagOK(v, more byte, isLast bool) bool {
	if isLast {
		return v == 0
	}
	return v == more
}

func (s *SA) Serialize() ([]byte, error) {
	var b []byte
	for i := range s.Proposals {
		var err error
		b, err = s.Proposals[i].appendTo(b, i == len(s.Proposals)-1)
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// DecodeFromBytes reads a whole proposal substructure, header included; the
// Last Substruc field is checked by SA, which knows the position. Transforms
// with an unrecognized attribute are left out (RFC 7296 §3.3.6).
func (p *Proposal) DecodeFromBytes(b []byte) error {
	if len(b) < proposalHeaderLen {
		return syntaxError("proposal header truncated: %d bytes", len(b))
	}
	if plen := int(binary.BigEndian.Uint16(b[2:])); plen != len(b) {
		return syntaxError("proposal length %d, substructure is %d bytes", plen, len(b))
	}
	p.Number, p.Protocol = b[4], ProtocolID(b[5])
	spiSize, count := int(b[6]), int(b[7])
	if proposalHeaderLen+spiSize > len(b) {
		return syntaxError("proposal %d: SPI size %d exceeds its length", p.Number, spiSize)
	}
	p.SPI = clone(b[proposalHeaderLen : proposalHeaderLen+spiSize])
	p.Transforms = nil
	rest := b[proposalHeaderLen+spiSize:]
	seen := 0
	for len(rest) > 0 {
		if len(rest) < transformHeaderLen {
			return syntaxError("proposal %d: transform header truncated", p.Number)
		}
		last, tlen := rest[0], int(binary.BigEndian.Uint16(rest[2:]))
		if tlen < transformHeaderLen || tlen > len(rest) {
			return syntaxError("proposal %d: transform length %d, %d bytes left", p.Number, tlen, len(rest))
		}
		var t Transform
		err := t.DecodeFromBytes(rest[:tlen])
		rest = rest[tlen:]
		if !lastFlagOK(last, moreTransforms, len(rest) == 0) {
			return syntaxError("proposal %d: transform Last Substruc %d", p.Number, last)
		}
		seen++
		switch {
		case errors.Is(err, ErrUnknownAttribute):
			continue
		case err != nil:
			return err
		}
		p.Transforms = append(p.Transforms, t)
	}
	if seen != count {
		return syntaxError("proposal %d: %d transforms, header says %d", p.Number, seen, count)
	}
	return nil
}

// Serialize encodes the proposal as the last one of its SA (Last Substruc 0).
func (p *Proposal) Serialize() ([]byte, error) { return p.appendTo(nil, true) }

func (p *Proposal) appendTo(dst []byte, last bool) ([]byte, error) {
	if len(p.SPI) > 0xff {
		return nil, errTooLong("proposal SPI", len(p.SPI))
	}
	if len(p.Transforms) > 0xff {
		return nil, fmt.Errorf("ikev2 message: proposal %d has %d transforms", p.Number, len(p.Transforms))
	}
	start := len(dst)
	flag := byte(moreProposals)
	if last {
		flag = 0
	}
	dst = append(dst, flag, 0, 0, 0, p.Number, byte(p.Protocol), byte(len(p.SPI)), byte(len(p.Transforms)))
	dst = append(dst, p.SPI...)
	for i := range p.Transforms {
		dst = p.Transforms[i].appendTo(dst, i == len(p.Transforms)-1)
	}
	n := len(dst) - start
	if n > 0xffff {
		return nil, errTooLong("proposal", n)
	}
	binary.BigEndian.PutUint16(dst[start+2:], uint16(n))
	return dst, nil
}

// DecodeFromBytes reads a whole transform substructure, header included. An
// attribute other than Key Length yields ErrUnknownAttribute (with Type and
// ID filled in); malformed attributes are syntax errors.
func (t *Transform) DecodeFromBytes(b []byte) error {
	if len(b) < transformHeaderLen {
		return syntaxError("transform header truncated: %d bytes", len(b))
	}
	if tlen := int(binary.BigEndian.Uint16(b[2:])); tlen != len(b) {
		return syntaxError("transform length %d, substructure is %d bytes", tlen, len(b))
	}
	t.Type, t.ID, t.KeyLength = TransformType(b[4]), binary.BigEndian.Uint16(b[6:]), 0
	var unknown, haveKeyLen bool
	for a := b[transformHeaderLen:]; len(a) > 0; {
		if len(a) < 4 {
			return syntaxError("%v transform: attribute truncated", t.Type)
		}
		typ, tv := binary.BigEndian.Uint16(a)&0x7fff, a[0]&0x80 != 0
		alen := 4
		if !tv {
			alen += int(binary.BigEndian.Uint16(a[2:]))
			if alen > len(a) {
				return syntaxError("%v transform: attribute %d length %d exceeds the transform", t.Type, typ, alen-4)
			}
		}
		switch {
		case typ != AttrKeyLength:
			unknown = true
		case !tv:
			return syntaxError("%v transform: Key Length attribute not in TV format", t.Type)
		case haveKeyLen:
			return syntaxError("%v transform: Key Length attribute repeated", t.Type)
		default:
			haveKeyLen, t.KeyLength = true, binary.BigEndian.Uint16(a[2:])
		}
		a = a[alen:]
	}
	if unknown {
		return fmt.Errorf("%v transform %d: %w", t.Type, t.ID, ErrUnknownAttribute)
	}
	return nil
}

// Serialize encodes the transform as the last one of its proposal.
func (t *Transform) Serialize() ([]byte, error) { return t.appendTo(nil, true), nil }

func (t *Transform) appendTo(dst []byte, last bool) []byte {
	flag, n := byte(moreTransforms), transformHeaderLen
	if last {
		flag = 0
	}
	if t.KeyLength != 0 {
		n += 4
	}
	dst = append(dst, flag, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	dst = append(dst, byte(t.Type), 0)
	dst = binary.BigEndian.AppendUint16(dst, t.ID)
	if t.KeyLength != 0 {
		dst = binary.BigEndian.AppendUint16(dst, 0x8000|AttrKeyLength)
		dst = binary.BigEndian.AppendUint16(dst, t.KeyLength)
	}
	return dst
}

// String renders the transform in strongSwan's spelling, e.g. "AES_CBC_128".
func (t Transform) String() string {
	s, ok := transformIDNames[t.Type][t.ID]
	if !ok {
		s = fmt.Sprintf("%v_%d", t.Type, t.ID)
	}
	if t.KeyLength != 0 {
		s += fmt.Sprintf("_%d", t.KeyLength)
	}
	return s
}

// String renders the proposal like strongSwan logs it, e.g.
// "IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048".
func (p Proposal) String() string {
	parts := make([]string, len(p.Transforms))
	for i, t := range p.Transforms {
		parts[i] = t.String()
	}
	return p.Protocol.String() + ":" + strings.Join(parts, "/")
}

// Find returns the proposal's transforms of type t, in order.
func (p *Proposal) Find(t TransformType) []Transform {
	var out []Transform
	for _, tr := range p.Transforms {
		if tr.Type == t {
			out = append(out, tr)
		}
	}
	return out
}
