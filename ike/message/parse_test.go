package message

import (
	"encoding/binary"
	"errors"
	"math/rand"
	"testing"
)

func notifyOf(err error) NotifyType {
	var pe *ParseError
	if errors.As(err, &pe) {
		return pe.Notify
	}
	return 0
}

// validMessages returns the capture's IKE messages plus a message carrying
// every payload type.
func validMessages(t *testing.T) [][]byte {
	var out [][]byte
	for _, c := range loadCapture(t) {
		out = append(out, c.Data)
	}
	var ps []Payload
	for _, p := range samplePayloads() {
		if u, ok := p.(*Unknown); !ok || !u.Critical {
			ps = append(ps, p)
		}
	}
	clear, err := sampleMessage(ps).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	ps = append(ps, &Encrypted{NextPayload: PayloadIDi, Body: make([]byte, 48)})
	withSK, err := sampleMessage(ps).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return append(out, clear, withSK)
}

// TestProperPrefixesRejected: every proper prefix fails, both as is (the
// header length no longer matches) and with the header length patched to
// the prefix, so the payload walk itself must notice the cut.
func TestProperPrefixesRejected(t *testing.T) {
	for i, msg := range validMessages(t) {
		for n := 0; n < len(msg); n++ {
			prefix := append([]byte(nil), msg[:n]...)
			if _, err := Parse(prefix); err == nil || notifyOf(err) != INVALID_SYNTAX {
				t.Fatalf("message %d: prefix of %d bytes: err %v", i, n, err)
			}
			if n < HeaderLen {
				continue
			}
			binary.BigEndian.PutUint32(prefix[24:], uint32(n))
			if _, err := Parse(prefix); err == nil || notifyOf(err) != INVALID_SYNTAX {
				t.Fatalf("message %d: patched prefix of %d bytes: err %v", i, n, err)
			}
		}
		if m, _ := Parse(msg); m.Encrypted() != nil {
			continue // ParsePayloads refuses SK outright
		}
		first, chain := PayloadType(msg[16]), msg[HeaderLen:]
		if _, err := ParsePayloads(first, chain); err != nil {
			t.Fatalf("message %d: chain: %v", i, err)
		}
		for n := 0; n < len(chain); n++ {
			if _, err := ParsePayloads(first, chain[:n]); err == nil {
				t.Fatalf("message %d: chain prefix of %d bytes accepted", i, n)
			}
		}
	}
}

func TestParseHeaderErrors(t *testing.T) {
	good := loadCapture(t)[0].Data
	mut := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	cases := []struct {
		name string
		b    []byte
		want NotifyType
	}{
		{"empty", nil, INVALID_SYNTAX},
		{"short header", good[:27], INVALID_SYNTAX},
		{"major 1", mut(func(b []byte) []byte { b[17] = 0x10; return b }), INVALID_MAJOR_VERSION},
		{"major 3", mut(func(b []byte) []byte { b[17] = 0x30; return b }), INVALID_MAJOR_VERSION},
		{"length too big", mut(func(b []byte) []byte { b[27]++; return b }), INVALID_SYNTAX},
		{"trailing byte", append(append([]byte(nil), good...), 0), INVALID_SYNTAX},
		{"trailing byte, length patched", mut(func(b []byte) []byte {
			b = append(b, 0)
			binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
			return b
		}), INVALID_SYNTAX},
		{"payload length < 4", mut(func(b []byte) []byte { b[HeaderLen+2], b[HeaderLen+3] = 0, 3; return b }), INVALID_SYNTAX},
		{"critical unknown", mut(func(b []byte) []byte { b[16] = 99; b[HeaderLen+1] = 0x80; return b }), UNSUPPORTED_CRITICAL_PAYLOAD},
	}
	for _, c := range cases {
		m, err := Parse(c.b)
		if m != nil || notifyOf(err) != c.want {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	// A non-critical unknown payload is kept; a known type ignores the critical bit.
	b := mut(func(b []byte) []byte { b[16] = 99; return b })
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := m.Payloads[0].(*Unknown); !ok || u.T != 99 || u.Critical || len(u.Body) != 44 {
		t.Errorf("unknown payload kept as %#v", m.Payloads[0])
	}
	b = mut(func(b []byte) []byte { b[HeaderLen+1] = 0x80; return b })
	if _, err := Parse(b); err != nil {
		t.Errorf("critical bit on a known payload: %v", err)
	}
}

func TestParseSKPlacement(t *testing.T) {
	h := Header{SPIi: 1, Exchange: IKE_AUTH, Flags: FlagInitiator, MessageID: 1}
	nonce := &Nonce{Data: make([]byte, 16)}
	// SK followed by another payload: build by hand, Serialize refuses it.
	sk := appendGenericHeader(nil, PayloadIDi, false, 4+8)
	sk = append(sk, make([]byte, 8)...)
	nb, _ := nonce.Serialize()
	msg := h.append(nil, PayloadSK, 0)
	msg = append(msg, sk...)
	msg = appendGenericHeader(msg, PayloadNone, false, 4+len(nb))
	msg = append(msg, nb...)
	binary.BigEndian.PutUint32(msg[24:], uint32(len(msg)))
	if _, err := Parse(msg); notifyOf(err) != INVALID_SYNTAX {
		t.Errorf("SK not last: err %v", err)
	}
	// SK inside SK.
	inner := append(appendGenericHeader(nil, PayloadNone, false, 8), 1, 2, 3, 4)
	if _, err := ParsePayloads(PayloadSK, inner); notifyOf(err) != INVALID_SYNTAX {
		t.Errorf("SK in SK: err %v", err)
	}
	if _, err := ParsePayloads(PayloadSKF, append(appendGenericHeader(nil, PayloadNone, false, 8), 0, 1, 0, 1)); notifyOf(err) != INVALID_SYNTAX {
		t.Errorf("SKF in SK: err %v", err)
	}
	// SKF last: fragment numbers decoded, BodyOffset past them.
	skf := &EncryptedFragment{NextPayload: PayloadIDi, FragmentNumber: 1, TotalFragments: 2, Body: make([]byte, 40)}
	b, err := (&Message{Header: h, Payloads: []Payload{skf}}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	got := m.Payloads[0].(*EncryptedFragment)
	if got.NextPayload != PayloadIDi || got.FragmentNumber != 1 || got.TotalFragments != 2 || got.BodyOffset != HeaderLen+8 {
		t.Errorf("SKF = %+v", got)
	}
}

func TestPayloadDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		p    Payload
		body []byte
	}{
		{"KE short", &KE{}, []byte{0, 14, 0}},
		{"nonce short", &Nonce{}, make([]byte, 15)},
		{"nonce long", &Nonce{}, make([]byte, 257)},
		{"ID short", &ID{}, []byte{1, 0, 0}},
		{"AUTH short", &Auth{}, []byte{2}},
		{"notify short", &Notify{}, []byte{0, 0, 0x40}},
		{"notify SPI overflow", &Notify{}, []byte{3, 4, 0x40, 0x09, 1, 2, 3}},
		{"delete short", &Delete{}, []byte{3, 4, 0}},
		{"delete count mismatch", &Delete{}, []byte{3, 4, 0, 2, 1, 2, 3, 4}},
		{"delete extra bytes", &Delete{}, []byte{1, 0, 0, 0, 9}},
		{"delete size 0 count 1", &Delete{}, []byte{3, 0, 0, 1}},
		{"TS short", &TrafficSelectors{}, []byte{1, 0, 0}},
		{"TS count too big", &TrafficSelectors{}, append([]byte{2, 0, 0, 0}, ts4...)},
		{"TS trailing", &TrafficSelectors{}, append(append([]byte{1, 0, 0, 0}, ts4...), 0)},
		{"TS bad type", &TrafficSelectors{}, append([]byte{1, 0, 0, 0}, append([]byte{9}, ts4[1:]...)...)},
		{"TS v4 with v6 length", &TrafficSelectors{}, append([]byte{1, 0, 0, 0}, append([]byte{8}, ts4[1:]...)...)},
		{"CP short", &Config{}, []byte{1}},
		{"CP attr overflow", &Config{}, []byte{1, 0, 0, 0, 0, 1, 0, 4, 1}},
		{"SKF short", &EncryptedFragment{}, []byte{0, 1, 0}},
		{"SA header short", &SA{}, []byte{0, 0, 0, 8, 1, 1, 0}},
		{"proposal length short", &SA{}, []byte{0, 0, 0, 7, 1, 1, 0, 0}},
		{"proposal length long", &SA{}, []byte{0, 0, 0, 9, 1, 1, 0, 0}},
		{"proposal last flag", &SA{}, []byte{2, 0, 0, 8, 1, 1, 0, 0}},
		{"proposal not last flag", &SA{}, []byte{0, 0, 0, 8, 1, 1, 0, 0, 0, 0, 0, 8, 2, 1, 0, 0}},
		{"proposal SPI overflow", &SA{}, []byte{0, 0, 0, 8, 1, 1, 1, 0}},
		{"transform count", &SA{}, []byte{0, 0, 0, 16, 1, 1, 0, 2, 0, 0, 0, 8, 1, 0, 0, 12}},
		{"transform last flag", &SA{}, []byte{0, 0, 0, 16, 1, 1, 0, 1, 3, 0, 0, 8, 1, 0, 0, 12}},
		{"transform short", &SA{}, []byte{0, 0, 0, 15, 1, 1, 0, 1, 0, 0, 0, 7, 1, 0, 0}},
		{"attribute truncated", &SA{}, []byte{0, 0, 0, 18, 1, 1, 0, 1, 0, 0, 0, 10, 1, 0, 0, 12, 0x80, 14}},
		{"key length as TLV", &SA{}, []byte{0, 0, 0, 22, 1, 1, 0, 1, 0, 0, 0, 14, 1, 0, 0, 12, 0, 14, 0, 2, 0, 128}},
		{"key length twice", &SA{}, []byte{0, 0, 0, 24, 1, 1, 0, 1, 0, 0, 0, 16, 1, 0, 0, 12, 0x80, 14, 0, 128, 0x80, 14, 0, 128}},
		{"TLV attribute overflow", &SA{}, []byte{0, 0, 0, 20, 1, 1, 0, 1, 0, 0, 0, 12, 1, 0, 0, 12, 0, 99, 0, 1}},
	}
	for _, c := range cases {
		if err := c.p.DecodeFromBytes(c.body); notifyOf(err) != INVALID_SYNTAX {
			t.Errorf("%s: err %v", c.name, err)
		}
	}
}

var ts4 = []byte{7, 0, 0, 16, 0, 0, 0xff, 0xff, 10, 0, 0, 0, 10, 0, 0, 255}

// TestUnknownTransformAttribute: RFC 7296 §3.3.6, the transform is rejected,
// the message is not.
func TestUnknownTransformAttribute(t *testing.T) {
	body := []byte{0, 0, 0, 28, 1, 1, 0, 2,
		3, 0, 0, 12, 1, 0, 0, 12, 0x80, 99, 0, 1, // ENCR with unknown TV attribute 99
		0, 0, 0, 8, 4, 0, 0, 14} // DH 14
	var sa SA
	if err := sa.DecodeFromBytes(body); err != nil {
		t.Fatal(err)
	}
	if len(sa.Proposals) != 1 || len(sa.Proposals[0].Transforms) != 1 || sa.Proposals[0].Transforms[0] != (Transform{Type: TransformDH, ID: 14}) {
		t.Errorf("SA = %+v", sa)
	}
	var tr Transform
	if err := tr.DecodeFromBytes(body[8:20]); !errors.Is(err, ErrUnknownAttribute) || tr.Type != TransformENCR || tr.ID != 12 {
		t.Errorf("Transform decode: %+v %v", tr, err)
	}
}

// TestParseRandomNeverPanics feeds random bytes and random mutations of real
// messages; the fuzz targets do this more thoroughly.
func TestParseRandomNeverPanics(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	msgs := validMessages(t)
	for i := 0; i < 20000; i++ {
		var b []byte
		if i%2 == 0 {
			b = make([]byte, r.Intn(600))
			r.Read(b)
		} else {
			b = append([]byte(nil), msgs[r.Intn(len(msgs))]...)
			for j := r.Intn(8); j >= 0; j-- {
				b[r.Intn(len(b))] = byte(r.Intn(256))
			}
		}
		if m, err := Parse(b); err == nil {
			if _, err := m.Serialize(); err != nil {
				t.Fatalf("parsed message does not serialize: %v (%x)", err, b)
			}
		}
		if len(b) > 0 {
			ParsePayloads(PayloadType(b[0]), b[1:])
		}
	}
}
