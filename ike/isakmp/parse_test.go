package isakmp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

func notifyOf(err error) NotifyType {
	var pe *ParseError
	if errors.As(err, &pe) {
		return pe.Notify
	}
	return 0
}

// validMessages returns the capture's messages plus hand-made clear ones.
func validMessages(t *testing.T) [][]byte {
	var out [][]byte
	for _, c := range loadCapture(t) {
		out = append(out, c.Data)
	}
	for _, ps := range [][]Payload{samplePayloads(), quickModeInner(), nil} {
		b, err := sampleMessage(ps).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// quickModeInner is a decrypted Quick Mode message 1 as strongSwan builds it.
func quickModeInner() []Payload {
	return []Payload{
		&Hash{Data: bytes.Repeat([]byte{0xaa}, 32)},
		espSA(),
		&Nonce{Data: bytes.Repeat([]byte{0xbb}, 32)},
		&KE{Data: bytes.Repeat([]byte{0xcc}, 256)},
		&ID{IDType: IDIPv4AddrSubnet, Data: []byte{172, 16, 0, 0, 255, 255, 255, 0}},
		&ID{IDType: IDIPv4AddrSubnet, Data: []byte{10, 0, 0, 0, 255, 255, 255, 0}},
	}
}

// TestProperPrefixesRejected: every proper prefix fails, both as is (the
// header length no longer matches) and, for clear messages, with the header
// length patched to the prefix, so the payload walk itself must notice the
// cut. Chains given to ParsePayloads fail on every proper prefix too.
func TestProperPrefixesRejected(t *testing.T) {
	for i, msg := range validMessages(t) {
		for n := 0; n < len(msg); n++ {
			prefix := append([]byte(nil), msg[:n]...)
			if _, err := Parse(prefix); err == nil || notifyOf(err) == 0 {
				t.Fatalf("message %d: prefix of %d bytes: err %v", i, n, err)
			}
			if n < HeaderLen || msg[19]&FlagEncryption != 0 {
				continue
			}
			binary.BigEndian.PutUint32(prefix[24:], uint32(n))
			if _, err := Parse(prefix); err == nil || notifyOf(err) == 0 {
				t.Fatalf("message %d: patched prefix of %d bytes: err %v", i, n, err)
			}
		}
		if msg[19]&FlagEncryption != 0 || msg[16] == 0 {
			continue
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

func TestParseErrors(t *testing.T) {
	good := loadCapture(t)[0].Data // Main Mode 1: SA + 5 VIDs
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	setLen := func(b []byte) []byte { binary.BigEndian.PutUint32(b[24:], uint32(len(b))); return b }
	sa := HeaderLen + 4 // start of the SA body
	tests := []struct {
		name string
		in   []byte
		want NotifyType
	}{
		{"short header", good[:27], PAYLOAD_MALFORMED},
		{"IKEv2 version", mut(func(b []byte) []byte { b[17] = 0x20; return b }), INVALID_MAJOR_VERSION},
		{"version 0", mut(func(b []byte) []byte { b[17] = 0x00; return b }), INVALID_MAJOR_VERSION},
		{"length too big", mut(func(b []byte) []byte { b[27]++; return b }), UNEQUAL_PAYLOAD_LENGTHS},
		{"trailing bytes", mut(func(b []byte) []byte { return setLen(append(b, 0, 0, 0, 0)) }), PAYLOAD_MALFORMED},
		{"payload length 3", mut(func(b []byte) []byte { b[HeaderLen+3] = 3; return b }), PAYLOAD_MALFORMED},
		{"proposal at top level", mut(func(b []byte) []byte { b[16] = byte(PayloadProposal); return b }), INVALID_PAYLOAD_TYPE},
		{"transform at top level", mut(func(b []byte) []byte { b[16] = byte(PayloadTransform); return b }), INVALID_PAYLOAD_TYPE},
		{"DOI 2", mut(func(b []byte) []byte { b[sa+3] = 2; return b }), DOI_NOT_SUPPORTED},
		{"labelled situation", mut(func(b []byte) []byte { b[sa+7] = 3; return b }), SITUATION_NOT_SUPPORTED},
		{"proposal Next Payload 3", mut(func(b []byte) []byte { b[sa+8] = 3; return b }), BAD_PROPOSAL_SYNTAX},
		{"transform count 2", mut(func(b []byte) []byte { b[sa+8+7] = 2; return b }), BAD_PROPOSAL_SYNTAX},
		{"transform Next Payload 3", mut(func(b []byte) []byte { b[sa+16] = 3; return b }), BAD_PROPOSAL_SYNTAX},
		{"SPI size 200", mut(func(b []byte) []byte { b[sa+8+6] = 200; return b }), BAD_PROPOSAL_SYNTAX},
		{"attribute as TLV past the end", mut(func(b []byte) []byte { b[sa+24] = 0; return b }), BAD_PROPOSAL_SYNTAX},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if notifyOf(err) != tt.want {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
		}
	}
	// A minor version other than 0 and a non-zero reserved byte are accepted.
	if _, err := Parse(mut(func(b []byte) []byte { b[17] = 0x11; b[HeaderLen+1] = 0xff; return b })); err != nil {
		t.Errorf("minor version 1: %v", err)
	}

	bodies := []struct {
		p    decoder
		body []byte
	}{
		{&Notification{}, make([]byte, 7)},
		{&Notification{}, []byte{0, 0, 0, 1, 1, 16, 0x8d, 0x28, 1, 2}},
		{&Delete{}, []byte{0, 0, 0, 1, 3, 4, 0, 2, 1, 2, 3, 4}},
		{&Delete{}, []byte{0, 0, 0, 1, 3, 0, 0, 2}},
		{&ID{}, []byte{1, 0, 0}},
		{&NATOA{}, []byte{1, 0}},
		{&SA{}, []byte{0, 0, 0, 1, 0, 0, 0}},
	}
	for _, b := range bodies {
		if err := b.p.DecodeFromBytes(b.body); notifyOf(err) != PAYLOAD_MALFORMED {
			t.Errorf("%T %x: err %v", b.p, b.body, err)
		}
	}
}

func TestUnknownPayloadsKept(t *testing.T) {
	ps := []Payload{&Unknown{T: PayloadCERT, Body: []byte{4, 9}}, &Unknown{T: 200}, &Unknown{T: PayloadSIG, Body: []byte{1}}}
	b, err := sampleMessage(ps).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stripRaw(m.Payloads...), ps) {
		t.Errorf("payloads %+v", m.Payloads)
	}
}

// A decrypted body: the chain, then padding that ParsePayloads ignores and
// ChainAfter excludes. ChainAfter returns the received octets, reserved
// bytes included, not a re-encoding.
func TestDecryptedBodyAndChainAfter(t *testing.T) {
	ps := quickModeInner()
	first, chain, err := SerializePayloads(ps)
	if err != nil {
		t.Fatal(err)
	}
	hashLen := 4 + 32
	chain[hashLen+1] = 0x5a // a non-zero reserved byte in the SA's generic header
	body := append(append([]byte(nil), chain...), 0, 0, 0, 0, 0, 0, 0, 7)
	got, err := ParsePayloads(first, body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stripRaw(got...), ps) {
		t.Errorf("payloads changed")
	}
	after, err := ChainAfter(first, body, 1)
	if err != nil || !bytes.Equal(after, chain[hashLen:]) || &after[0] != &body[hashLen] {
		t.Errorf("ChainAfter(1) = %d bytes, err %v", len(after), err)
	}
	if all, _ := ChainAfter(first, body, 0); !bytes.Equal(all, chain) {
		t.Error("ChainAfter(0) is not the chain without padding")
	}
	if none, err := ChainAfter(first, body, len(ps)); err != nil || len(none) != 0 {
		t.Errorf("ChainAfter(len) = %x, %v", none, err)
	}
	for _, n := range []int{-1, len(ps) + 1} {
		if _, err := ChainAfter(first, body, n); err == nil {
			t.Errorf("ChainAfter(%d) accepted", n)
		}
	}
	if _, err := ChainAfter(first, chain[:len(chain)-1], 1); err == nil {
		t.Error("ChainAfter on a cut chain accepted")
	}
	// The informational DPD exchange: HASH then N(R-U-THERE), padded.
	_, info, _ := SerializePayloads([]Payload{&Hash{Data: make([]byte, 32)}, NewDPD(R_U_THERE, 1, 2, 3)})
	n, _ := ChainAfter(PayloadHash, append(info, 0, 0, 0, 3), 1)
	dpd := &Notification{}
	if err := dpd.DecodeFromBytes(n[4:]); err != nil || dpd.NotifyType != R_U_THERE {
		t.Errorf("DPD after HASH: %+v %v", dpd, err)
	}
	// A zero-payload body (NextPayload None) is all padding.
	if ps, err := ParsePayloads(PayloadNone, []byte{1, 2, 3}); err != nil || len(ps) != 0 {
		t.Errorf("empty chain: %v %v", ps, err)
	}
}

func TestSerializeErrors(t *testing.T) {
	bad := [][]Payload{
		{nil},
		{&Unknown{T: PayloadNone}},
		{&Unknown{T: PayloadProposal}},
		{&SA{DOI: 7}},
		{&SA{DOI: 1, Situation: 2}},
		{&Delete{SPISize: 4, SPIs: [][]byte{{1}}}},
		{&Notification{SPI: make([]byte, 256)}},
		{&KE{Data: make([]byte, 0x10000)}},
		{&SA{DOI: 1, Proposals: []Proposal{{Transforms: []Transform{{Attributes: []Attribute{{Type: 1, Value: 1 << 20, TV: true}}}}}}}},
	}
	for i, ps := range bad {
		if _, _, err := SerializePayloads(ps); err == nil {
			t.Errorf("case %d serialized", i)
		}
	}
}
