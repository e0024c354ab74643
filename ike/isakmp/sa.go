package isakmp

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// SA is the Security Association payload (RFC 2408 §3.4) for the IPsec DOI
// (DOI 1, or the generic DOI 0) with a 4-byte Situation. Situations with the
// secrecy or integrity bits (labelled domains) are refused with
// SITUATION_NOT_SUPPORTED, other DOIs with DOI_NOT_SUPPORTED.
type SA struct {
	rawBody
	DOI       uint32
	Situation uint32
	Proposals []Proposal
}

// Proposal is a proposal payload (RFC 2408 §3.5). Proposals sharing a Number
// are one offer combining protocols (e.g. AH and ESP); ProtocolID is
// ProtoISAKMP in phase 1 and ProtoIPsecESP in Quick Mode.
type Proposal struct {
	Number     uint8
	ProtocolID uint8
	SPI        []byte
	Transforms []Transform
}

// Transform is a transform payload (RFC 2408 §3.6): ID is KEY_IKE in phase 1
// and an ESP transform ID (ESP_AES, ESP_AES_GCM_16, ...) in Quick Mode.
// Attributes keep their received order and form; IKEv1 may repeat Life Type
// and Life Duration pairs.
type Transform struct {
	Number     uint8
	ID         uint8
	Attributes []Attribute
}

const (
	saHeaderLen        = 8 // DOI, Situation
	proposalHeaderLen  = 8 // generic header, number, protocol, SPI size, count
	transformHeaderLen = 8 // generic header, number, ID, reserved
)

func (*SA) Type() PayloadType { return PayloadSA }

func checkDOI(doi, sit uint32) error {
	switch {
	case doi != DOIIPsec && doi != DOIISAKMP:
		return parseError(DOI_NOT_SUPPORTED, "DOI %d", doi)
	case sit&(sitSecrecy|sitIntegrity) != 0:
		return parseError(SITUATION_NOT_SUPPORTED, "situation %#x", sit)
	}
	return nil
}

// DecodeFromBytes decodes an SA payload body. Proposal and transform syntax
// errors are BAD_PROPOSAL_SYNTAX.
func (s *SA) DecodeFromBytes(b []byte) error {
	if len(b) < saHeaderLen {
		return malformed("SA body truncated: %d bytes", len(b))
	}
	s.DOI, s.Situation = binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	if err := checkDOI(s.DOI, s.Situation); err != nil {
		return err
	}
	s.Proposals = nil
	for rest := b[saHeaderLen:]; len(rest) > 0; {
		if len(rest) < proposalHeaderLen {
			return badProposal("proposal header truncated: %d bytes", len(rest))
		}
		next, plen := rest[0], int(binary.BigEndian.Uint16(rest[2:]))
		if plen < proposalHeaderLen || plen > len(rest) {
			return badProposal("proposal length %d, %d bytes left", plen, len(rest))
		}
		var p Proposal
		if err := p.decode(rest[:plen]); err != nil {
			return err
		}
		rest = rest[plen:]
		if !nextOK(next, PayloadProposal, len(rest) == 0) {
			return badProposal("proposal %d: Next Payload %d", p.Number, next)
		}
		s.Proposals = append(s.Proposals, p)
	}
	s.setRaw(b)
	return nil
}

// nextOK checks a substructure's Next Payload: 0 on the last, more otherwise.
func nextOK(v byte, more PayloadType, isLast bool) bool {
	if isLast {
		return v == 0
	}
	return v == byte(more)
}

// Serialize encodes the SA body.
func (s *SA) Serialize() ([]byte, error) {
	if err := checkDOI(s.DOI, s.Situation); err != nil {
		return nil, fmt.Errorf("isakmp: SA: %w", err)
	}
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 64), s.DOI)
	b = binary.BigEndian.AppendUint32(b, s.Situation)
	for i := range s.Proposals {
		var err error
		if b, err = s.Proposals[i].appendTo(b, i == len(s.Proposals)-1); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// decode reads a whole proposal payload, generic header included.
func (p *Proposal) decode(b []byte) error {
	p.Number, p.ProtocolID = b[4], b[5]
	spiSize, count := int(b[6]), int(b[7])
	if proposalHeaderLen+spiSize > len(b) {
		return badProposal("proposal %d: SPI size %d exceeds its length", p.Number, spiSize)
	}
	p.SPI = clone(b[proposalHeaderLen : proposalHeaderLen+spiSize])
	p.Transforms = nil
	c := classOf(p.ProtocolID)
	for rest := b[proposalHeaderLen+spiSize:]; len(rest) > 0; {
		if len(rest) < transformHeaderLen {
			return badProposal("proposal %d: transform header truncated", p.Number)
		}
		next, tlen := rest[0], int(binary.BigEndian.Uint16(rest[2:]))
		if tlen < transformHeaderLen || tlen > len(rest) {
			return badProposal("proposal %d: transform length %d, %d bytes left", p.Number, tlen, len(rest))
		}
		t := Transform{Number: rest[4], ID: rest[5]}
		attrs, err := decodeAttributes(rest[transformHeaderLen:tlen], c)
		if err != nil {
			return badProposal("proposal %d transform %d: %v", p.Number, t.Number, err.(*ParseError).Err)
		}
		t.Attributes = attrs
		rest = rest[tlen:]
		if !nextOK(next, PayloadTransform, len(rest) == 0) {
			return badProposal("proposal %d: transform Next Payload %d", p.Number, next)
		}
		p.Transforms = append(p.Transforms, t)
	}
	if len(p.Transforms) != count {
		return badProposal("proposal %d: %d transforms, header says %d", p.Number, len(p.Transforms), count)
	}
	return nil
}

func (p *Proposal) appendTo(dst []byte, last bool) ([]byte, error) {
	if len(p.SPI) > 0xff {
		return nil, errTooLong("proposal SPI", len(p.SPI))
	}
	if len(p.Transforms) > 0xff {
		return nil, fmt.Errorf("isakmp: proposal %d has %d transforms", p.Number, len(p.Transforms))
	}
	start := len(dst)
	next := byte(PayloadProposal)
	if last {
		next = 0
	}
	dst = append(dst, next, 0, 0, 0, p.Number, p.ProtocolID, byte(len(p.SPI)), byte(len(p.Transforms)))
	dst = append(dst, p.SPI...)
	c := classOf(p.ProtocolID)
	for i := range p.Transforms {
		var err error
		if dst, err = p.Transforms[i].appendTo(dst, c, i == len(p.Transforms)-1); err != nil {
			return nil, fmt.Errorf("isakmp: proposal %d: %w", p.Number, err)
		}
	}
	if n := len(dst) - start; n > 0xffff {
		return nil, errTooLong("proposal", n)
	}
	binary.BigEndian.PutUint16(dst[start+2:], uint16(len(dst)-start))
	return dst, nil
}

func (t *Transform) appendTo(dst []byte, c attrClass, last bool) ([]byte, error) {
	start := len(dst)
	next := byte(PayloadTransform)
	if last {
		next = 0
	}
	dst = append(dst, next, 0, 0, 0, t.Number, t.ID, 0, 0)
	for i := range t.Attributes {
		var err error
		if dst, err = t.Attributes[i].appendTo(dst, c); err != nil {
			return nil, err
		}
	}
	if n := len(dst) - start; n > 0xffff {
		return nil, errTooLong("transform", n)
	}
	binary.BigEndian.PutUint16(dst[start+2:], uint16(len(dst)-start))
	return dst, nil
}

// Attr returns the first attribute of type typ.
func (t Transform) Attr(typ uint16) (Attribute, bool) {
	for _, a := range t.Attributes {
		if a.Type == typ {
			return a, true
		}
	}
	return Attribute{}, false
}

// AttrValue returns the numeric value of the first attribute of type typ;
// false if absent or longer than 8 bytes.
func (t Transform) AttrValue(typ uint16) (uint64, bool) {
	a, ok := t.Attr(typ)
	if !ok || len(a.Long) > 8 {
		return 0, false
	}
	return a.Value, true
}

// String renders the proposal for logs, e.g.
// "ISAKMP#1: KEY_IKE{ENCR=AES_CBC KEY_LEN=128 HASH=SHA2_256 GROUP=MODP_2048 AUTH=PSK LIFE_TYPE=SECONDS LIFE=15840}".
func (p Proposal) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s#%d", protocolName(p.ProtocolID), p.Number)
	if len(p.SPI) > 0 {
		fmt.Fprintf(&sb, " spi %x", p.SPI)
	}
	sb.WriteString(":")
	c := classOf(p.ProtocolID)
	for _, t := range p.Transforms {
		sb.WriteString(" " + transformIDName(p.ProtocolID, t.ID) + "{")
		for i, a := range t.Attributes {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(c.attrString(a))
		}
		sb.WriteString("}")
	}
	return sb.String()
}
