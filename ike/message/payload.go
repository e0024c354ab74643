package message

import (
	"encoding/binary"
	"fmt"
)

// Payload is one IKEv2 payload. DecodeFromBytes and Serialize see the body
// only, the bytes after the 4-byte generic header; the chain code owns Next
// Payload, the critical bit and the length. Decoded payloads copy what they
// keep, so they stay valid after the input buffer is reused.
type Payload interface {
	Type() PayloadType
	DecodeFromBytes(body []byte) error
	Serialize() ([]byte, error)
}

// maxPayloadBody is the largest body the 16-bit Payload Length can describe.
const maxPayloadBody = 0xffff - genericHeaderLen

// newPayload returns an empty payload for t, or nil if vpgw has no decoder
// for it (those are kept as *Unknown).
func newPayload(t PayloadType) Payload {
	switch t {
	case PayloadSA:
		return &SA{}
	case PayloadKE:
		return &KE{}
	case PayloadIDi, PayloadIDr:
		return &ID{Initiator: t == PayloadIDi}
	case PayloadAUTH:
		return &Auth{}
	case PayloadNonce:
		return &Nonce{}
	case PayloadNotify:
		return &Notify{}
	case PayloadDelete:
		return &Delete{}
	case PayloadVendorID:
		return &VendorID{}
	case PayloadTSi, PayloadTSr:
		return &TrafficSelectors{Initiator: t == PayloadTSi}
	case PayloadCP:
		return &Config{}
	case PayloadSK:
		return &Encrypted{}
	case PayloadSKF:
		return &EncryptedFragment{}
	}
	return nil
}

// ParsePayloads decodes a payload chain starting with type first, as found in
// the decrypted content of an SK payload (padding already removed). The chain
// must use up b exactly and may not contain another SK or SKF payload.
func ParsePayloads(first PayloadType, b []byte) ([]Payload, error) {
	return parseChain(first, b, -1)
}

// parseChain walks a payload chain. base is the offset of b in Message.Raw
// for the outer chain, where SK/SKF may appear last, and -1 for inner chains.
func parseChain(next PayloadType, b []byte, base int) ([]Payload, error) {
	var ps []Payload
	off := 0
	for next != PayloadNone {
		t := next
		if len(b)-off < genericHeaderLen {
			return nil, syntaxError("%v payload: generic header truncated at offset %d", t, off)
		}
		next = PayloadType(b[off])
		critical := b[off+1]&flagCritical != 0
		plen := int(binary.BigEndian.Uint16(b[off+2:]))
		if plen < genericHeaderLen || plen > len(b)-off {
			return nil, syntaxError("%v payload: length %d, %d bytes left", t, plen, len(b)-off)
		}
		body := b[off+genericHeaderLen : off+plen]
		p := newPayload(t)
		if p == nil {
			if critical {
				return nil, &ParseError{Notify: UNSUPPORTED_CRITICAL_PAYLOAD,
					Err: fmt.Errorf("critical payload %v not supported", t)}
			}
			p = &Unknown{T: t, Critical: false}
		}
		if err := p.DecodeFromBytes(body); err != nil {
			return nil, inPayload(t, err)
		}
		off += plen
		switch e := p.(type) {
		case *Encrypted:
			if base < 0 {
				return nil, syntaxError("SK payload inside SK payload")
			}
			if off != len(b) {
				return nil, syntaxError("SK payload is not the last payload")
			}
			e.NextPayload, next = next, PayloadNone
			e.BodyOffset = base + off - plen + genericHeaderLen
		case *EncryptedFragment:
			if base < 0 {
				return nil, syntaxError("SKF payload inside SK payload")
			}
			if off != len(b) {
				return nil, syntaxError("SKF payload is not the last payload")
			}
			e.NextPayload, next = next, PayloadNone
			e.BodyOffset = base + off - plen + genericHeaderLen + 4
		}
		ps = append(ps, p)
	}
	if off != len(b) {
		return nil, syntaxError("%d bytes after the last payload", len(b)-off)
	}
	return ps, nil
}

// SerializePayloads encodes an inner payload chain (the SK plaintext before
// padding) and returns the type of its first payload for the SK header.
func SerializePayloads(ps []Payload) (first PayloadType, b []byte, err error) {
	return appendChain(nil, ps, false)
}

// appendChain appends ps with generic headers to dst. Only the outer chain
// (outer true) may end with an SK or SKF payload, whose Next Payload field
// names the first inner payload.
func appendChain(dst []byte, ps []Payload, outer bool) (PayloadType, []byte, error) {
	if len(ps) == 0 {
		return PayloadNone, dst, nil
	}
	for i, p := range ps {
		if p == nil {
			return PayloadNone, nil, fmt.Errorf("ikev2 message: payload %d is nil", i)
		}
		t := p.Type()
		if t == PayloadNone {
			return PayloadNone, nil, fmt.Errorf("ikev2 message: payload %d has type None", i)
		}
		next := PayloadNone
		if i+1 < len(ps) {
			if ps[i+1] == nil {
				return PayloadNone, nil, fmt.Errorf("ikev2 message: payload %d is nil", i+1)
			}
			next = ps[i+1].Type()
		}
		critical := false
		switch e := p.(type) {
		case *Encrypted:
			next = e.NextPayload
		case *EncryptedFragment:
			next = e.NextPayload
		case *Unknown:
			critical = e.Critical
		}
		if t == PayloadSK || t == PayloadSKF {
			if !outer {
				return PayloadNone, nil, fmt.Errorf("ikev2 message: %v payload inside SK", t)
			}
			if i != len(ps)-1 {
				return PayloadNone, nil, fmt.Errorf("ikev2 message: %v payload must be last", t)
			}
		}
		body, err := p.Serialize()
		if err != nil {
			return PayloadNone, nil, fmt.Errorf("%v payload: %w", t, err)
		}
		if len(body) > maxPayloadBody {
			return PayloadNone, nil, errTooLong(t.String()+" payload", len(body))
		}
		dst = appendGenericHeader(dst, next, critical, genericHeaderLen+len(body))
		dst = append(dst, body...)
	}
	return ps[0].Type(), dst, nil
}

func appendGenericHeader(dst []byte, next PayloadType, critical bool, length int) []byte {
	var flags byte
	if critical {
		flags = flagCritical
	}
	dst = append(dst, byte(next), flags)
	return binary.BigEndian.AppendUint16(dst, uint16(length))
}

// clone copies b, mapping empty to nil so decoded values compare equal with
// reflect.DeepEqual however they were built.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
