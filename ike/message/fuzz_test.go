package message

import (
	"bytes"
	"reflect"
	"testing"
)

// Fuzz targets, one per entry point and per complex payload. Seeds live in
// testdata/fuzz/<FuzzName>/ (see TestWriteFuzzCorpus); crashers found while
// fuzzing stay there as regression inputs and run with every `go test`.

// FuzzParseIKEv2: Parse must never panic; what it accepts must serialize, the
// result must parse again to the same payloads, and re-encoding is stable.
func FuzzParseIKEv2(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error is %T, want *ParseError", err)
			}
			return
		}
		b, err := m.Serialize()
		if err != nil {
			t.Fatalf("Serialize of a parsed message: %v", err)
		}
		m2, err := Parse(b)
		if err != nil {
			t.Fatalf("re-parse: %v\ninput %x\noutput %x", err, data, b)
		}
		b2, err := m2.Serialize()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding not stable: %v", err)
		}
		clearOffsets(m.Payloads)
		clearOffsets(m2.Payloads)
		if !reflect.DeepEqual(m.Payloads, m2.Payloads) {
			t.Fatalf("payloads changed across a round trip")
		}
	})
}

func clearOffsets(ps []Payload) {
	for _, p := range ps {
		switch e := p.(type) {
		case *Encrypted:
			e.BodyOffset = 0
		case *EncryptedFragment:
			e.BodyOffset = 0
		}
	}
}

// FuzzParsePayloads: data[0] is the first payload type, the rest the chain
// (a decrypted SK body).
func FuzzParsePayloads(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		ps, err := ParsePayloads(PayloadType(data[0]), data[1:])
		if err != nil {
			return
		}
		first, b, err := SerializePayloads(ps)
		if err != nil {
			t.Fatalf("SerializePayloads of parsed payloads: %v", err)
		}
		ps2, err := ParsePayloads(first, b)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !reflect.DeepEqual(ps, ps2) {
			t.Fatalf("payloads changed across a round trip")
		}
	})
}

// fuzzPayload checks one payload body: decode, encode, decode gives the same
// value and the same bytes.
func fuzzPayload(t *testing.T, newP func() Payload, data []byte) {
	p := newP()
	if err := p.DecodeFromBytes(data); err != nil {
		if _, ok := err.(*ParseError); !ok {
			t.Fatalf("error is %T, want *ParseError", err)
		}
		return
	}
	b, err := p.Serialize()
	if err != nil {
		t.Fatalf("Serialize of a decoded %v: %v", p.Type(), err)
	}
	q := newP()
	if err := q.DecodeFromBytes(b); err != nil {
		t.Fatalf("re-decode of %v: %v", p.Type(), err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("%v changed across a round trip:\n%#v\n%#v", p.Type(), p, q)
	}
	if b2, _ := q.Serialize(); !bytes.Equal(b, b2) {
		t.Fatalf("%v re-encoding not stable", p.Type())
	}
}

func FuzzSA(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { fuzzPayload(t, func() Payload { return &SA{} }, data) })
}

func FuzzTrafficSelectors(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzPayload(t, func() Payload { return &TrafficSelectors{Initiator: true} }, data)
	})
}

func FuzzNotify(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { fuzzPayload(t, func() Payload { return &Notify{} }, data) })
}

func FuzzDelete(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { fuzzPayload(t, func() Payload { return &Delete{} }, data) })
}

func FuzzConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) { fuzzPayload(t, func() Payload { return &Config{} }, data) })
}
