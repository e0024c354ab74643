package isakmp

import (
	"encoding/binary"
	"fmt"
)

// Payload is one ISAKMP payload. Serialize returns the body, the bytes after
// the 4-byte generic header; the chain code owns Next Payload and the
// length. Raw returns the body as received (a copy, kept because IKEv1
// hashes cover received octets), nil for payloads built locally. Every
// concrete payload also has DecodeFromBytes(body []byte) error.
type Payload interface {
	Type() PayloadType
	Raw() []byte
	Serialize() ([]byte, error)
}

type decoder interface {
	Payload
	DecodeFromBytes(body []byte) error
}

// rawBody is embedded in every payload to remember its received body.
type rawBody struct{ raw []byte }

// Raw returns the payload body as received, or nil if it was built locally.
func (r *rawBody) Raw() []byte { return r.raw }

// setRaw keeps a copy of a decoded body (non-nil even when empty, so
// decoded payloads are told apart from built ones).
func (r *rawBody) setRaw(b []byte) { r.raw = append([]byte{}, b...) }

// maxPayloadBody is the largest body the 16-bit Payload Length can describe.
const maxPayloadBody = 0xffff - genericHeaderLen

// newPayload returns an empty payload for t, or nil for types vpgw has no
// decoder for (kept as *Unknown).
func newPayload(t PayloadType) decoder {
	switch t {
	case PayloadSA:
		return &SA{}
	case PayloadKE:
		return &KE{}
	case PayloadID:
		return &ID{}
	case PayloadHash:
		return &Hash{}
	case PayloadNonce:
		return &Nonce{}
	case PayloadNotification:
		return &Notification{}
	case PayloadDelete:
		return &Delete{}
	case PayloadVendorID:
		return &VendorID{}
	case PayloadNATD, PayloadNATDDraft:
		return &NATD{Draft: t == PayloadNATDDraft}
	case PayloadNATOA, PayloadNATOADraft:
		return &NATOA{Draft: t == PayloadNATOADraft}
	}
	return nil
}

// ParsePayloads decodes a payload chain starting with type first, as found
// in a decrypted message body. Bytes after the last payload (the one whose
// Next Payload is 0) are block-cipher padding and are ignored.
func ParsePayloads(first PayloadType, b []byte) ([]Payload, error) {
	ps, _, err := parseChain(first, b)
	return ps, err
}

// span is one payload's place in a chain.
type span struct {
	t          PayloadType
	start, end int // generic header start, payload end
}

// walkChain follows the generic headers of a chain without decoding bodies
// and returns where each payload is; bytes after the last are not looked at.
func walkChain(next PayloadType, b []byte) ([]span, error) {
	var out []span
	off := 0
	for next != PayloadNone {
		t := next
		if t == PayloadProposal || t == PayloadTransform {
			return nil, parseError(INVALID_PAYLOAD_TYPE, "%v payload outside an SA", t)
		}
		if len(b)-off < genericHeaderLen {
			return nil, malformed("%v payload: generic header truncated at offset %d", t, off)
		}
		next = PayloadType(b[off])
		plen := int(binary.BigEndian.Uint16(b[off+2:]))
		if plen < genericHeaderLen || plen > len(b)-off {
			return nil, malformed("%v payload: length %d, %d bytes left", t, plen, len(b)-off)
		}
		out = append(out, span{t, off, off + plen})
		off += plen
	}
	return out, nil
}

// parseChain decodes a chain and returns where it ended.
func parseChain(first PayloadType, b []byte) ([]Payload, int, error) {
	spans, err := walkChain(first, b)
	if err != nil {
		return nil, 0, err
	}
	ps := make([]Payload, 0, len(spans))
	end := 0
	for _, s := range spans {
		body := b[s.start+genericHeaderLen : s.end]
		p := newPayload(s.t)
		if p == nil {
			p = &Unknown{T: s.t}
		}
		if err := p.DecodeFromBytes(body); err != nil {
			return nil, 0, inPayload(s.t, err)
		}
		ps = append(ps, p)
		end = s.end
	}
	return ps, end, nil
}

// ChainAfter returns the received bytes of the chain from payload n
// (0-based, generic header included) to the end of the last payload,
// padding excluded: what Quick Mode HASH(1)/HASH(2) and the informational
// HASH cover with n = 1. n equal to the number of payloads gives an empty
// slice. The result aliases body.
func ChainAfter(first PayloadType, body []byte, n int) ([]byte, error) {
	spans, err := walkChain(first, body)
	if err != nil {
		return nil, err
	}
	if n < 0 || n > len(spans) {
		return nil, fmt.Errorf("isakmp: chain has %d payloads, asked from %d", len(spans), n)
	}
	if n == len(spans) {
		end := 0
		if n > 0 {
			end = spans[n-1].end
		}
		return body[end:end], nil
	}
	return body[spans[n].start:spans[len(spans)-1].end], nil
}

// SerializePayloads encodes a payload chain (the plaintext of an encrypted
// body, before padding) and returns the type of its first payload for the
// header's Next Payload.
func SerializePayloads(ps []Payload) (first PayloadType, b []byte, err error) {
	return appendChain(nil, ps)
}

// appendChain appends ps with generic headers (reserved byte zero) to dst.
func appendChain(dst []byte, ps []Payload) (PayloadType, []byte, error) {
	if len(ps) == 0 {
		return PayloadNone, dst, nil
	}
	for i, p := range ps {
		if p == nil {
			return PayloadNone, nil, fmt.Errorf("isakmp: payload %d is nil", i)
		}
		t := p.Type()
		if t == PayloadNone || t == PayloadProposal || t == PayloadTransform {
			return PayloadNone, nil, fmt.Errorf("isakmp: payload %d has type %v", i, t)
		}
		next := PayloadNone
		if i+1 < len(ps) {
			if ps[i+1] == nil {
				return PayloadNone, nil, fmt.Errorf("isakmp: payload %d is nil", i+1)
			}
			next = ps[i+1].Type()
		}
		body, err := p.Serialize()
		if err != nil {
			return PayloadNone, nil, fmt.Errorf("%v payload: %w", t, err)
		}
		if len(body) > maxPayloadBody {
			return PayloadNone, nil, errTooLong(t.String()+" payload", len(body))
		}
		dst = appendGenericHeader(dst, next, genericHeaderLen+len(body))
		dst = append(dst, body...)
	}
	return ps[0].Type(), dst, nil
}

func appendGenericHeader(dst []byte, next PayloadType, length int) []byte {
	dst = append(dst, byte(next), 0)
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
