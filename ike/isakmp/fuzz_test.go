package isakmp

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// Fuzz targets, one per entry point plus the SA payload, the most complex
// body. Seeds live in testdata/fuzz/<FuzzName>/ (see TestWriteFuzzCorpus);
// crashers found while fuzzing stay there as regression inputs and run with
// every `go test`.

// FuzzParseISAKMP: Parse must never panic and fails only with *ParseError.
// A clear message's Body parses with ParsePayloads to the same payloads,
// each payload's Raw is its received body, and the message survives a
// serialize/parse round trip with stable bytes. Encrypted messages
// re-serialize to the input exactly.
func FuzzParseISAKMP(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is %T, want *ParseError", err)
			}
			return
		}
		b, err := m.Serialize()
		if err != nil {
			t.Fatalf("Serialize of a parsed message: %v", err)
		}
		if m.Header.Encrypted() {
			if !bytes.Equal(b, data) {
				t.Fatalf("encrypted message re-serialized differently")
			}
			return
		}
		ps, err := ParsePayloads(m.Header.NextPayload, m.Body)
		if err != nil || !reflect.DeepEqual(ps, m.Payloads) {
			t.Fatalf("ParsePayloads on Body disagrees with Parse: %v", err)
		}
		checkRaw(t, m.Header.NextPayload, m.Body, m.Payloads)
		m2, err := Parse(b)
		if err != nil {
			t.Fatalf("re-parse: %v\ninput %x\noutput %x", err, data, b)
		}
		b2, err := m2.Serialize()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding not stable: %v", err)
		}
		if !reflect.DeepEqual(stripRaw(m.Payloads...), stripRaw(m2.Payloads...)) {
			t.Fatalf("payloads changed across a round trip")
		}
	})
}

// checkRaw: each payload's Raw is its body in the chain, and ChainAfter(0)
// is the chain up to the end of the last payload.
func checkRaw(t *testing.T, first PayloadType, body []byte, ps []Payload) {
	t.Helper()
	spans, err := walkChain(first, body)
	if err != nil || len(spans) != len(ps) {
		t.Fatalf("walkChain: %d spans for %d payloads, err %v", len(spans), len(ps), err)
	}
	for i, s := range spans {
		if !bytes.Equal(ps[i].Raw(), body[s.start+genericHeaderLen:s.end]) {
			t.Fatalf("payload %d: Raw is not the received body", i)
		}
	}
	all, err := ChainAfter(first, body, 0)
	if err != nil || !bytes.HasPrefix(body, all) || (len(spans) > 0 && len(all) != spans[len(spans)-1].end) {
		t.Fatalf("ChainAfter(0): %d bytes, err %v", len(all), err)
	}
}

// FuzzParsePayloads: data[0] is the first payload type, the rest a
// decrypted body (chain plus padding).
func FuzzParsePayloads(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		first, body := PayloadType(data[0]), data[1:]
		ps, err := ParsePayloads(first, body)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is %T, want *ParseError", err)
			}
			return
		}
		checkRaw(t, first, body, ps)
		first2, b, err := SerializePayloads(ps)
		if err != nil {
			t.Fatalf("SerializePayloads of parsed payloads: %v", err)
		}
		if len(ps) > 0 && first2 != first {
			t.Fatalf("first payload %v, was %v", first2, first)
		}
		ps2, err := ParsePayloads(first2, b)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if _, b2, _ := SerializePayloads(ps2); !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding not stable")
		}
		if !reflect.DeepEqual(stripRaw(ps...), stripRaw(ps2...)) {
			t.Fatalf("payloads changed across a round trip")
		}
	})
}

// FuzzSA: an SA body decodes, encodes, decodes to the same value and the
// same bytes.
func FuzzSA(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &SA{}
		if err := s.DecodeFromBytes(data); err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is %T, want *ParseError", err)
			}
			return
		}
		if !bytes.Equal(s.Raw(), data) {
			t.Fatalf("Raw is not the input")
		}
		b, err := s.Serialize()
		if err != nil {
			t.Fatalf("Serialize of a decoded SA: %v", err)
		}
		s2 := &SA{}
		if err := s2.DecodeFromBytes(b); err != nil {
			t.Fatalf("re-decode: %v\ninput %x\noutput %x", err, data, b)
		}
		if b2, _ := s2.Serialize(); !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding not stable")
		}
		if !reflect.DeepEqual(stripRaw(s)[0], stripRaw(s2)[0]) {
			t.Fatalf("SA changed across a round trip:\n%+v\n%+v", s, s2)
		}
	})
}
