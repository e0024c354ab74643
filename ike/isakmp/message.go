package isakmp

import (
	"fmt"
	"strings"
)

// Message is a decoded ISAKMP message. Raw is the exact input of Parse (not
// a copy) and Body is Raw[HeaderLen:]: the ciphertext when the header has
// FlagEncryption (Payloads is then nil), the payload chain otherwise.
// Payloads do not alias Raw.
type Message struct {
	Header   Header
	Payloads []Payload
	Raw      []byte
	Body     []byte
}

// Parse decodes an ISAKMP message (without the UDP 4500 non-ESP marker).
// The version must be 1.x and Header.Length must equal len(b). When
// FlagEncryption is set only the header is decoded: decrypt Body and call
// ParsePayloads(Header.NextPayload, plaintext). A clear message's chain must
// use up the body exactly. Errors are *ParseError.
func Parse(b []byte) (*Message, error) {
	m := &Message{Raw: b}
	if err := m.Header.DecodeFromBytes(b); err != nil {
		return nil, err
	}
	if major := m.Header.Version >> 4; major != Version>>4 {
		return nil, parseError(INVALID_MAJOR_VERSION, "major version %d", major)
	}
	if m.Header.Length != uint32(len(b)) {
		return nil, parseError(UNEQUAL_PAYLOAD_LENGTHS, "header length %d, message is %d bytes", m.Header.Length, len(b))
	}
	m.Body = b[HeaderLen:]
	if m.Header.Encrypted() {
		return m, nil
	}
	ps, end, err := parseChain(m.Header.NextPayload, m.Body)
	if err != nil {
		return nil, err
	}
	if end != len(m.Body) {
		return nil, malformed("%d bytes after the last payload", len(m.Body)-end)
	}
	m.Payloads = ps
	return m, nil
}

// Serialize encodes the message. For a clear message Header.NextPayload and
// Header.Length are computed from Payloads into the output. With
// FlagEncryption set, Payloads must be empty and Body (the ciphertext) is
// written after the header, whose NextPayload is kept. m is not modified, so
// a shared message can be serialized concurrently.
func (m *Message) Serialize() ([]byte, error) {
	h := m.Header
	if h.Encrypted() {
		if len(m.Payloads) > 0 {
			return nil, fmt.Errorf("isakmp: encrypted message with clear payloads; encrypt SerializePayloads output instead")
		}
		if uint64(HeaderLen+len(m.Body)) > 0xffffffff {
			return nil, errTooLong("message", HeaderLen+len(m.Body))
		}
		b := h.append(make([]byte, 0, HeaderLen+len(m.Body)), h.NextPayload, uint32(HeaderLen+len(m.Body)))
		return append(b, m.Body...), nil
	}
	// The header is written last, once the chain's length and first type are known.
	b := make([]byte, HeaderLen, 512)
	first, b, err := appendChain(b, m.Payloads)
	if err != nil {
		return nil, err
	}
	if uint64(len(b)) > 0xffffffff {
		return nil, errTooLong("message", len(b))
	}
	h.append(b[:0], first, uint32(len(b))) // overwrites the 28 reserved bytes in place
	return b, nil
}

// Find returns the first payload of type t, or nil.
func (m *Message) Find(t PayloadType) Payload { return Find(m.Payloads, t) }

// FindAll returns all payloads of type t in order.
func (m *Message) FindAll(t PayloadType) []Payload { return FindAll(m.Payloads, t) }

// Find returns the first payload of type t in ps (e.g. a decrypted chain), or nil.
func Find(ps []Payload, t PayloadType) Payload {
	for _, p := range ps {
		if p != nil && p.Type() == t {
			return p
		}
	}
	return nil
}

// FindAll returns the payloads of type t in ps, in order.
func FindAll(ps []Payload, t PayloadType) []Payload {
	var out []Payload
	for _, p := range ps {
		if p != nil && p.Type() == t {
			out = append(out, p)
		}
	}
	return out
}

// Notifications returns the Notification payloads of ps in order.
func Notifications(ps []Payload) []*Notification {
	var out []*Notification
	for _, p := range ps {
		if n, ok := p.(*Notification); ok {
			out = append(out, n)
		}
	}
	return out
}

// FindNotification returns the first Notification of type t in ps, or nil.
func FindNotification(ps []Payload, t NotifyType) *Notification {
	for _, p := range ps {
		if n, ok := p.(*Notification); ok && n.NotifyType == t {
			return n
		}
	}
	return nil
}

// VendorIDs returns the data of the Vendor ID payloads of ps in order.
func VendorIDs(ps []Payload) [][]byte {
	var out [][]byte
	for _, p := range ps {
		if v, ok := p.(*VendorID); ok {
			out = append(out, v.Data)
		}
	}
	return out
}

// NATDs returns the NAT-D payloads of ps (RFC 3947 or draft numbering) in order.
func NATDs(ps []Payload) []*NATD {
	var out []*NATD
	for _, p := range ps {
		if n, ok := p.(*NATD); ok {
			out = append(out, n)
		}
	}
	return out
}

// String summarises the message for logs, e.g.
// "ID_PROT 0123…_i 0000…_r mid 0 [SA V V V V]". It shows types only (vendor
// IDs by name), never keys or hashes.
func (m *Message) String() string {
	if m.Header.Encrypted() {
		return fmt.Sprintf("%v [%d bytes]", m.Header, len(m.Body))
	}
	return m.Header.String() + " " + PayloadsString(m.Payloads)
}

// PayloadsString lists payload types for logs in strongSwan's short style:
// notifies with their type, vendor IDs by name.
func PayloadsString(ps []Payload) string {
	var sb strings.Builder
	sb.WriteByte('[')
	for i, p := range ps {
		if i > 0 {
			sb.WriteByte(' ')
		}
		switch p := p.(type) {
		case nil:
			sb.WriteString("nil")
		case *Notification:
			sb.WriteString("N(" + p.NotifyType.String() + ")")
		case *VendorID:
			sb.WriteString("V(" + DescribeVendorID(p.Data) + ")")
		default:
			sb.WriteString(p.Type().String())
		}
	}
	sb.WriteByte(']')
	return sb.String()
}
