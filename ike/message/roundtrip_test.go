package message

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// samplePayloads holds one or more values of every payload type, built the
// way decoding builds them (empty slices as nil).
func samplePayloads() []Payload {
	return []Payload{
		&SA{Proposals: []Proposal{
			{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{
				{Type: TransformENCR, ID: 20, KeyLength: 256},
				{Type: TransformPRF, ID: 7},
				{Type: TransformDH, ID: 31},
			}},
			{Number: 2, Protocol: ProtocolIKE, SPI: bytes.Repeat([]byte{0xab}, 8), Transforms: []Transform{
				{Type: TransformENCR, ID: 12, KeyLength: 128},
				{Type: TransformINTEG, ID: 12},
				{Type: TransformPRF, ID: 5},
				{Type: TransformDH, ID: 14},
			}},
			{Number: 3, Protocol: ProtocolESP, SPI: []byte{0xc1, 0x2a, 0x00, 0x07}, Transforms: []Transform{
				{Type: TransformENCR, ID: 20, KeyLength: 128},
				{Type: TransformESN, ID: ESNNone},
			}},
			{Number: 4, Protocol: ProtocolAH, SPI: []byte{1, 2, 3, 4}},
		}},
		&SA{},
		&KE{Group: 14, Data: bytes.Repeat([]byte{0x5a}, 256)},
		&KE{Group: 31},
		&Nonce{Data: bytes.Repeat([]byte{0x11}, 32)},
		&Nonce{Data: bytes.Repeat([]byte{0x12}, MinNonceLen)},
		&Nonce{Data: bytes.Repeat([]byte{0x13}, MaxNonceLen)},
		&ID{Initiator: true, IDType: IDIPv4Addr, Data: []byte{198, 51, 100, 2}},
		&ID{IDType: IDFQDN, Data: []byte("vgw.example")},
		&ID{Initiator: true, IDType: IDKeyID},
		&Auth{Method: AuthSharedKeyMIC, Data: bytes.Repeat([]byte{0xa5}, 32)},
		&Auth{Method: AuthDigitalSignature},
		&Notify{NotifyType: NAT_DETECTION_SOURCE_IP, Data: bytes.Repeat([]byte{0x01}, 20)},
		&Notify{NotifyType: INITIAL_CONTACT},
		&Notify{Protocol: ProtocolESP, SPI: []byte{0, 0, 0x10, 0x01}, NotifyType: REKEY_SA},
		&Notify{NotifyType: INVALID_KE_PAYLOAD, Data: []byte{0, 14}},
		&Delete{Protocol: ProtocolIKE},
		&Delete{Protocol: ProtocolESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3, 4}, {5, 6, 7, 8}}},
		DeleteESP(0xdeadbeef),
		&VendorID{Data: []byte("strongSwan")},
		&VendorID{},
		&TrafficSelectors{Initiator: true, Selectors: []TrafficSelector{
			SelectorFromPrefix(netip.MustParsePrefix("172.16.0.0/24")),
			{IPProtocol: 6, StartPort: 179, EndPort: 179,
				Start: netip.MustParseAddr("169.254.10.1"), End: netip.MustParseAddr("169.254.10.2")},
		}},
		&TrafficSelectors{Selectors: []TrafficSelector{
			SelectorFromPrefix(netip.MustParsePrefix("10.0.0.0/24")),
			SelectorFromPrefix(netip.MustParsePrefix("2001:db8::/64")),
			{EndPort: 0xffff, Start: netip.MustParseAddr("::ffff:10.0.0.1"), End: netip.MustParseAddr("::ffff:10.0.0.9")},
		}},
		&TrafficSelectors{},
		&Config{ConfigType: CFGRequest, Attributes: []ConfigAttribute{
			{Type: InternalIP4Address}, {Type: InternalIP4DNS}, {Type: ApplicationVersion, Value: []byte("vpgw")},
		}},
		&Config{ConfigType: CFGAck},
		&Unknown{T: PayloadCERTREQ, Body: []byte{4, 1, 2, 3}},
		&Unknown{T: PayloadEAP},
		&Unknown{T: 200, Critical: true, Body: []byte{9}},
	}
}

// TestPayloadRoundTrip: Serialize, DecodeFromBytes into a fresh value of the
// same kind, DeepEqual; and the bytes re-encode identically.
func TestPayloadRoundTrip(t *testing.T) {
	for _, p := range samplePayloads() {
		b, err := p.Serialize()
		if err != nil {
			t.Fatalf("%v: Serialize: %v", p.Type(), err)
		}
		q := newPayload(p.Type())
		if u, ok := p.(*Unknown); ok {
			q = &Unknown{T: u.T, Critical: u.Critical}
		}
		if err := q.DecodeFromBytes(b); err != nil {
			t.Fatalf("%v: DecodeFromBytes(%x): %v", p.Type(), b, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Errorf("%v: round trip\n got %#v\nwant %#v", p.Type(), q, p)
		}
		b2, _ := q.Serialize()
		if !bytes.Equal(b, b2) {
			t.Errorf("%v: re-encoding differs", p.Type())
		}
	}
}

func sampleMessage(ps []Payload) *Message {
	return &Message{
		Header: Header{SPIi: 0x0102030405060708, SPIr: 0x1112131415161718, MajorVersion: 2,
			Exchange: CREATE_CHILD_SA, Flags: FlagResponse, MessageID: 7},
		Payloads: ps,
	}
}

// TestMessageRoundTrip: every payload type inside whole messages (outer
// chain, except the critical unknown, and inner chain), then parsed back.
func TestMessageRoundTrip(t *testing.T) {
	var outer []Payload
	for _, p := range samplePayloads() {
		if u, ok := p.(*Unknown); ok && u.Critical {
			continue
		}
		outer = append(outer, p)
	}
	outer = append(outer, &Encrypted{NextPayload: PayloadIDr, Body: bytes.Repeat([]byte{0xee}, 64)})
	m := sampleMessage(outer)
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.Length != uint32(len(b)) || got.Header.NextPayload != PayloadSA {
		t.Errorf("header %+v", got.Header)
	}
	e := got.Encrypted()
	if e == nil || e.BodyOffset != len(b)-64 {
		t.Fatalf("SK = %+v, want body at %d", e, len(b)-64)
	}
	want := *m
	want.Header.Length, want.Header.NextPayload, want.Raw = uint32(len(b)), PayloadSA, b
	outer[len(outer)-1] = &Encrypted{NextPayload: PayloadIDr, Body: e.Body, BodyOffset: e.BodyOffset}
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("message round trip differs:\n got %v\nwant %v", got, &want)
	}
	if m.Header.Length != 0 || m.Header.NextPayload != 0 {
		t.Errorf("Serialize wrote to its receiver: %+v", m.Header)
	}

	// Inner chain, including the critical unknown payload's bit.
	first, inner, err := SerializePayloads(samplePayloads())
	if err != nil {
		t.Fatal(err)
	}
	if first != PayloadSA {
		t.Errorf("first = %v", first)
	}
	_, err = ParsePayloads(first, inner)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Notify != UNSUPPORTED_CRITICAL_PAYLOAD {
		t.Errorf("critical unknown payload: err %v", err)
	}
	ps := samplePayloads()
	ps = ps[:len(ps)-1]
	first, inner, err = SerializePayloads(ps)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePayloads(first, inner)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ps) {
		t.Errorf("inner chain round trip differs")
	}
}

func TestEmptyMessages(t *testing.T) {
	// An empty INFORMATIONAL (DPD) carries an SK payload with no inner payloads.
	h := Header{SPIi: 1, SPIr: 2, Exchange: INFORMATIONAL, Flags: FlagInitiator, MessageID: 3}
	body := make([]byte, 48)
	b := append(AppendEncryptedHeader(nil, h, PayloadNone, len(body)), body...)
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if e := m.Encrypted(); e == nil || e.NextPayload != PayloadNone || len(e.Body) != 48 || e.BodyOffset != 32 {
		t.Errorf("SK = %+v", e)
	}
	ps, err := ParsePayloads(PayloadNone, nil)
	if err != nil || ps != nil {
		t.Errorf("empty inner chain: %v %v", ps, err)
	}
	out, err := (&Message{Header: h}).Serialize()
	if err != nil || len(out) != HeaderLen {
		t.Fatalf("empty message: %x %v", out, err)
	}
	if m, err := Parse(out); err != nil || len(m.Payloads) != 0 || m.Header.MajorVersion != 2 {
		t.Errorf("empty message parsed: %+v %v", m, err)
	}
}

func TestSerializeErrors(t *testing.T) {
	cases := map[string][]Payload{
		"SK not last":      {&Encrypted{}, &Nonce{Data: make([]byte, 16)}},
		"nil payload":      {nil},
		"type None":        {&Unknown{}},
		"short nonce":      {&Nonce{Data: make([]byte, 15)}},
		"mixed TS":         {&TrafficSelectors{Selectors: []TrafficSelector{{Start: netip.MustParseAddr("1.2.3.4"), End: netip.MustParseAddr("::1")}}}},
		"empty TS":         {&TrafficSelectors{Selectors: []TrafficSelector{{}}}},
		"delete SPI size":  {&Delete{Protocol: ProtocolESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3}}}},
		"delete size 0":    {&Delete{Protocol: ProtocolESP, SPIs: [][]byte{nil}}},
		"CP attr type":     {&Config{Attributes: []ConfigAttribute{{Type: 0x8000}}}},
		"payload too long": {&VendorID{Data: make([]byte, 0x10000)}},
		"SPI too long":     {&Notify{SPI: make([]byte, 256)}},
	}
	for name, ps := range cases {
		if _, err := sampleMessage(ps).Serialize(); err == nil {
			t.Errorf("%s: Serialize succeeded", name)
		}
	}
	if _, _, err := SerializePayloads([]Payload{&Encrypted{}}); err == nil {
		t.Error("SerializePayloads accepted SK inside SK")
	}
}
