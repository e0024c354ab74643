package isakmp

import (
	"encoding/binary"
	"fmt"
)

// Attribute is a data attribute (RFC 2408 §3.3). A basic attribute travels
// as TV (AF bit set, 16-bit value); a variable one as TLV. Value holds the
// number for TV and for TLV values of at most 8 bytes; Long holds the value
// bytes of a TLV whose form the number alone does not fix (longer than 8
// bytes, or a length other than the one Serialize would choose). TV records
// that the attribute was received (or must be sent) in TV form.
//
// Serialize picks the form from the fields: TV if TV is set; TLV with Long
// if Long is non-nil; otherwise TV when the type is basic in its proposal's
// class (phase 1 for ISAKMP proposals, IPsec DOI for AH/ESP/IPCOMP) and the
// value fits 16 bits, else TLV of 4 bytes (8 if the value needs it). Decoded
// attributes therefore re-encode byte for byte, e.g. strongSwan's Life
// Duration is TV when it fits 16 bits and a 4-byte TLV otherwise.
type Attribute struct {
	Type  uint16
	Value uint64
	Long  []byte
	TV    bool
}

// BasicAttr returns a TV attribute.
func BasicAttr(typ, value uint16) Attribute {
	return Attribute{Type: typ, Value: uint64(value), TV: true}
}

// VarAttr returns a TLV attribute holding value in 4 bytes (8 if needed).
func VarAttr(typ uint16, value uint64) Attribute { return Attribute{Type: typ, Value: value} }

// attrClass says which attribute registry a transform's attributes use.
type attrClass uint8

const (
	classOther  attrClass = iota
	classPhase1           // ISAKMP proposals: RFC 2409 Appendix A
	classIPsec            // AH/ESP/IPCOMP proposals: RFC 2407 §4.5
)

func classOf(protocolID uint8) attrClass {
	switch protocolID {
	case ProtoISAKMP:
		return classPhase1
	case ProtoIPsecAH, ProtoIPsecESP, ProtoIPCOMP:
		return classIPsec
	}
	return classOther
}

// basic reports whether typ is a basic (TV) attribute in class c.
func (c attrClass) basic(typ uint16) bool {
	switch c {
	case classPhase1:
		switch typ {
		case AttrEncryption, AttrHash, AttrAuthMethod, AttrGroup, AttrGroupType,
			AttrLifeType, AttrPRF, AttrKeyLength, AttrFieldSize:
			return true
		}
	case classIPsec:
		switch typ {
		case AttrSALifeType, AttrGroupDesc, AttrEncapMode, AttrAuthAlg, AttrIPsecKeyLength,
			AttrKeyRounds, AttrCompDictSize, AttrECNTunnel, AttrExtendedSeqNums:
			return true
		}
	}
	return false
}

func (a *Attribute) appendTo(dst []byte, c attrClass) ([]byte, error) {
	if a.Type > 0x7fff {
		return nil, fmt.Errorf("isakmp: attribute type %d does not fit 15 bits", a.Type)
	}
	switch {
	case a.TV:
		if a.Long != nil || a.Value > 0xffff {
			return nil, fmt.Errorf("isakmp: attribute %d: value does not fit TV", a.Type)
		}
		dst = binary.BigEndian.AppendUint16(dst, 0x8000|a.Type)
		return binary.BigEndian.AppendUint16(dst, uint16(a.Value)), nil
	case a.Long != nil:
		if len(a.Long) > 0xffff {
			return nil, errTooLong(fmt.Sprintf("attribute %d", a.Type), len(a.Long))
		}
		dst = binary.BigEndian.AppendUint16(dst, a.Type)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(a.Long)))
		return append(dst, a.Long...), nil
	case c.basic(a.Type) && a.Value <= 0xffff:
		dst = binary.BigEndian.AppendUint16(dst, 0x8000|a.Type)
		return binary.BigEndian.AppendUint16(dst, uint16(a.Value)), nil
	case a.Value <= 0xffffffff:
		dst = binary.BigEndian.AppendUint16(dst, a.Type)
		dst = binary.BigEndian.AppendUint16(dst, 4)
		return binary.BigEndian.AppendUint32(dst, uint32(a.Value)), nil
	default:
		dst = binary.BigEndian.AppendUint16(dst, a.Type)
		dst = binary.BigEndian.AppendUint16(dst, 8)
		return binary.BigEndian.AppendUint64(dst, a.Value), nil
	}
}

// decodeAttributes reads the attribute list of a transform.
func decodeAttributes(b []byte, c attrClass) ([]Attribute, error) {
	var out []Attribute
	var scratch [12]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, badProposal("attribute truncated: %d bytes", len(b))
		}
		a := Attribute{Type: binary.BigEndian.Uint16(b) & 0x7fff}
		if b[0]&0x80 != 0 {
			a.TV, a.Value = true, uint64(binary.BigEndian.Uint16(b[2:]))
			out = append(out, a)
			b = b[4:]
			continue
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if 4+n > len(b) {
			return nil, badProposal("attribute %d: length %d, %d bytes left", a.Type, n, len(b)-4)
		}
		v, enc := b[4:4+n], b[:4+n]
		b = b[4+n:]
		if n <= 8 {
			for _, x := range v {
				a.Value = a.Value<<8 | uint64(x)
			}
		}
		// Keep the bytes when the number alone would re-encode differently.
		if got, _ := a.appendTo(scratch[:0], c); n > 8 || string(got) != string(enc) {
			a.Long = append([]byte{}, v...)
		}
		out = append(out, a)
	}
	return out, nil
}
