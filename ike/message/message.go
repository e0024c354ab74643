package message

import (
	"fmt"
	"strings"
)

// Message is a decoded IKEv2 message. Raw is the exact input of Parse (not a
// copy): AUTH signs the received IKE_SA_INIT octets, and the SK integrity
// check covers Raw[:Encrypted.BodyOffset]. Payloads do not alias Raw.
type Message struct {
	Header   Header
	Payloads []Payload
	Raw      []byte
}

// Parse decodes an IKEv2 message (without the UDP 4500 non-ESP marker): the
// header and the cleartext payload chain. An SK payload must come last and is
// returned as *Encrypted with its body still encrypted. Errors are
// *ParseError.
func Parse(b []byte) (*Message, error) {
	m := &Message{Raw: b}
	if err := m.Header.DecodeFromBytes(b); err != nil {
		return nil, err
	}
	if m.Header.MajorVersion != 2 {
		return nil, &ParseError{Notify: INVALID_MAJOR_VERSION,
			Err: fmt.Errorf("major version %d", m.Header.MajorVersion)}
	}
	if m.Header.Length != uint32(len(b)) {
		return nil, syntaxError("header length %d, message is %d bytes", m.Header.Length, len(b))
	}
	ps, err := parseChain(m.Header.NextPayload, b[HeaderLen:], HeaderLen)
	if err != nil {
		return nil, err
	}
	m.Payloads = ps
	return m, nil
}

// Serialize encodes the message. Header.NextPayload and Header.Length are
// computed into the output; m is not modified, so a shared message can be
// serialized concurrently.
func (m *Message) Serialize() ([]byte, error) {
	h := m.Header
	if h.MajorVersion > 15 || h.MinorVersion > 15 {
		return nil, fmt.Errorf("ikev2 message: version %d.%d does not fit", h.MajorVersion, h.MinorVersion)
	}
	// The header is written last, once the chain's length and first type are known.
	b := make([]byte, HeaderLen, 512)
	first, b, err := appendChain(b, m.Payloads, true)
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
func (m *Message) Find(t PayloadType) Payload {
	for _, p := range m.Payloads {
		if p.Type() == t {
			return p
		}
	}
	return nil
}

// FindAll returns all payloads of type t in order.
func (m *Message) FindAll(t PayloadType) []Payload {
	var out []Payload
	for _, p := range m.Payloads {
		if p.Type() == t {
			out = append(out, p)
		}
	}
	return out
}

// Notifies returns the Notify payloads in order.
func (m *Message) Notifies() []*Notify { return Notifies(m.Payloads) }

// FindNotify returns the first Notify of type t, or nil.
func (m *Message) FindNotify(t NotifyType) *Notify { return FindNotify(m.Payloads, t) }

// Encrypted returns the SK payload, or nil if the message has none.
func (m *Message) Encrypted() *Encrypted {
	if len(m.Payloads) == 0 {
		return nil
	}
	e, _ := m.Payloads[len(m.Payloads)-1].(*Encrypted)
	return e
}

// Notifies returns the Notify payloads of ps (e.g. a decrypted SK chain).
func Notifies(ps []Payload) []*Notify {
	var out []*Notify
	for _, p := range ps {
		if n, ok := p.(*Notify); ok {
			out = append(out, n)
		}
	}
	return out
}

// FindNotify returns the first Notify of type t in ps, or nil.
func FindNotify(ps []Payload, t NotifyType) *Notify {
	for _, p := range ps {
		if n, ok := p.(*Notify); ok && n.NotifyType == t {
			return n
		}
	}
	return nil
}

// String summarises the message for logs in strongSwan's style, e.g.
// "IKE_SA_INIT request 0123…_i 0000…_r mid 0 [SA KE Nonce N(NAT_DETECTION_SOURCE_IP)]".
// It shows types only, never payload data.
func (m *Message) String() string {
	return m.Header.String() + " " + PayloadsString(m.Payloads)
}

// PayloadsString lists payload types for logs, notifies with their type.
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
		case *Notify:
			sb.WriteString("N(" + p.NotifyType.String() + ")")
		case *Encrypted:
			sb.WriteString("SK(" + p.NextPayload.String() + ")")
		default:
			sb.WriteString(p.Type().String())
		}
	}
	sb.WriteByte(']')
	return sb.String()
}
