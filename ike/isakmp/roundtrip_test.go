package isakmp

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"reflect"
	"testing"
)

// clearRaw forgets the received body so decoded payloads compare equal to
// built ones with reflect.DeepEqual.
func (r *rawBody) clearRaw() { r.raw = nil }

func stripRaw(ps ...Payload) []Payload {
	for _, p := range ps {
		if c, ok := p.(interface{ clearRaw() }); ok {
			c.clearRaw()
		}
	}
	return ps
}

// Quick Mode ESP proposals as strongSwan sends them: GCM without an auth
// attribute, CBC with HMAC-SHA2-256 and PFS, lifetimes in both forms.
func espSA() *SA {
	spi := []byte{0xc9, 0x6c, 0x2b, 0x01}
	return &SA{DOI: DOIIPsec, Situation: SitIdentityOnly, Proposals: []Proposal{
		{Number: 1, ProtocolID: ProtoIPsecESP, SPI: spi, Transforms: []Transform{{Number: 1, ID: ESP_AES_GCM_16,
			Attributes: []Attribute{
				BasicAttr(AttrSALifeType, LifeSeconds), BasicAttr(AttrSALifeDuration, 3600),
				BasicAttr(AttrEncapMode, EncapUDPTunnel), BasicAttr(AttrIPsecKeyLength, 128),
			}}}},
		{Number: 2, ProtocolID: ProtoIPsecESP, SPI: spi, Transforms: []Transform{{Number: 1, ID: ESP_AES,
			Attributes: []Attribute{
				BasicAttr(AttrSALifeType, LifeSeconds), VarAttr(AttrSALifeDuration, 86400),
				BasicAttr(AttrSALifeType, LifeKB), VarAttr(AttrSALifeDuration, 1<<40),
				BasicAttr(AttrGroupDesc, 14), BasicAttr(AttrEncapMode, EncapUDPTunnelDraft),
				BasicAttr(AttrAuthAlg, AuthAlgHMACSHA2_256), BasicAttr(AttrIPsecKeyLength, 256),
			}}}},
	}}
}

// samplePayloads holds values of every payload type, built the way decoding
// builds them (empty slices as nil, attribute forms explicit).
func samplePayloads() []Payload {
	return []Payload{
		&SA{DOI: DOIIPsec, Situation: SitIdentityOnly, Proposals: []Proposal{{Number: 1, ProtocolID: ProtoISAKMP,
			Transforms: []Transform{
				{Number: 1, ID: TransformKeyIKE, Attributes: []Attribute{
					BasicAttr(AttrEncryption, EncrAESCBC), BasicAttr(AttrKeyLength, 256),
					BasicAttr(AttrHash, HashSHA256), BasicAttr(AttrGroup, 14), BasicAttr(AttrAuthMethod, AuthPSK),
					BasicAttr(AttrLifeType, LifeSeconds), VarAttr(AttrLifeDuration, 28800)}},
				{Number: 2, ID: TransformKeyIKE, Attributes: []Attribute{
					BasicAttr(AttrEncryption, EncrAESCBC), BasicAttr(AttrKeyLength, 128),
					BasicAttr(AttrHash, HashSHA1), BasicAttr(AttrGroup, 2), BasicAttr(AttrAuthMethod, AuthPSK),
					// Non-canonical forms survive: a 2-byte TLV, an empty TLV, a long prime.
					{Type: AttrLifeDuration, Value: 28800, Long: []byte{0x70, 0x80}},
					{Type: AttrGroupGenOne, Long: []byte{}},
					{Type: AttrGroupPrime, Long: bytes.Repeat([]byte{0xff}, 12)}}},
			}}}},
		espSA(),
		&SA{DOI: DOIIPsec, Situation: SitIdentityOnly},
		&KE{Data: bytes.Repeat([]byte{0x5a}, 256)},
		&KE{},
		&Nonce{Data: bytes.Repeat([]byte{0x11}, 32)},
		&Hash{Data: bytes.Repeat([]byte{0x22}, 32)},
		&ID{IDType: IDIPv4Addr, ProtocolID: 17, Port: 500, Data: []byte{198, 51, 100, 2}},
		IDFromPrefix(netip.MustParsePrefix("172.16.0.0/24")),
		&ID{IDType: IDFQDN, Data: []byte("vgw.example")},
		&Notification{DOI: DOIIPsec, ProtocolID: ProtoISAKMP, NotifyType: INITIAL_CONTACT,
			SPI: bytes.Repeat([]byte{7}, 16)},
		NewDPD(R_U_THERE, 0x0102030405060708, 0x1112131415161718, 0xdeadbeef),
		&Notification{DOI: DOIIPsec, NotifyType: NO_PROPOSAL_CHOSEN},
		&Notification{DOI: DOIIPsec, ProtocolID: ProtoIPsecESP, SPI: []byte{1, 2, 3, 4},
			NotifyType: RESPONDER_LIFETIME, Data: []byte{0x80, 1, 0, 1, 0, 2, 0, 4, 0, 1, 0x51, 0x80}},
		DeleteESP(0x5aa7addb, 0x1ca3de58),
		DeleteISAKMP(1, 2),
		&VendorID{Data: VIDDPD},
		&VendorID{},
		&NATD{Hash: bytes.Repeat([]byte{0x33}, 32)},
		&NATD{Draft: true, Hash: bytes.Repeat([]byte{0x34}, 20)},
		&NATOA{IDType: IDIPv4Addr, Data: []byte{192, 168, 1, 10}},
		&NATOA{Draft: true, IDType: IDIPv6Addr, Data: netip.MustParseAddr("2001:db8::1").AsSlice()},
		&Unknown{T: PayloadCERT, Body: []byte{4, 1, 2, 3}},
		&Unknown{T: PayloadFragment, Body: []byte{0, 1, 1, 1}},
		&Unknown{T: 99},
	}
}

func TestRoundTripPayloads(t *testing.T) {
	for i, p := range samplePayloads() {
		body, err := p.Serialize()
		if err != nil {
			t.Fatalf("payload %d (%v): %v", i, p.Type(), err)
		}
		if p.Raw() != nil {
			t.Errorf("payload %d: built payload has Raw", i)
		}
		q := newPayload(p.Type())
		if q == nil {
			q = &Unknown{T: p.Type()}
		}
		if err := q.DecodeFromBytes(body); err != nil {
			t.Fatalf("payload %d (%v): decode: %v", i, p.Type(), err)
		}
		if !bytes.Equal(q.Raw(), body) {
			t.Errorf("payload %d: Raw %x, body %x", i, q.Raw(), body)
		}
		if b2, _ := q.Serialize(); !bytes.Equal(b2, body) {
			t.Errorf("payload %d (%v): re-encoding differs\n got %x\nwant %x", i, p.Type(), b2, body)
		}
		if !reflect.DeepEqual(stripRaw(q)[0], p) {
			t.Errorf("payload %d (%v) changed:\n got %#v\nwant %#v", i, p.Type(), q, p)
		}
	}
}

func sampleMessage(ps []Payload) *Message {
	return &Message{Header: Header{ICookie: 0x0102030405060708, RCookie: 0x1112131415161718,
		Exchange: ExchangeQuickMode, MessageID: 0x01020304}, Payloads: ps}
}

func TestRoundTripMessage(t *testing.T) {
	ps := samplePayloads()
	m := sampleMessage(ps)
	b, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Length != 0 || m.Header.NextPayload != 0 || m.Header.Version != 0 {
		t.Errorf("Serialize wrote to its receiver: %+v", m.Header)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.Version != Version || got.Header.NextPayload != PayloadSA || got.Header.Length != uint32(len(b)) {
		t.Errorf("header %+v", got.Header)
	}
	if !reflect.DeepEqual(stripRaw(got.Payloads...), ps) {
		t.Errorf("payloads changed across a round trip")
	}
	// The inner-chain helpers agree with the message.
	first, chain, err := SerializePayloads(ps)
	if err != nil || first != PayloadSA || !bytes.Equal(chain, b[HeaderLen:]) {
		t.Errorf("SerializePayloads = %v, err %v", first, err)
	}
	// An encrypted message serializes its Body and keeps NextPayload.
	enc := &Message{Header: Header{ICookie: 1, RCookie: 2, Exchange: ExchangeInformational, Flags: FlagEncryption,
		NextPayload: PayloadHash, MessageID: 9}, Body: make([]byte, 32)}
	eb, err := enc.Serialize()
	if err != nil || !bytes.Equal(eb, AppendEncrypted(nil, Header{ICookie: 1, RCookie: 2,
		Exchange: ExchangeInformational, MessageID: 9}, PayloadHash, make([]byte, 32))) {
		t.Errorf("encrypted Serialize = %x, %v", eb, err)
	}
	enc.Payloads = ps[:1]
	if _, err := enc.Serialize(); err == nil {
		t.Error("encrypted message with clear payloads serialized")
	}
}

// Attribute forms: TV, auto TV for basic types, TLV of 4/8 bytes for
// variable ones, Long kept verbatim; and decode gives back the same value.
func TestAttributeForms(t *testing.T) {
	tests := []struct {
		proto uint8
		a     Attribute
		hex   string
	}{
		{ProtoISAKMP, BasicAttr(AttrEncryption, 7), "80010007"},
		{ProtoISAKMP, Attribute{Type: AttrEncryption, Value: 7}, "80010007"},              // basic: TV without asking
		{ProtoISAKMP, Attribute{Type: AttrKeyLength, Value: 0x10000}, "000e000400010000"}, // does not fit TV
		{ProtoISAKMP, BasicAttr(AttrLifeDuration, 15840), "800c3de0"},
		{ProtoISAKMP, VarAttr(AttrLifeDuration, 15840), "000c000400003de0"},
		{ProtoISAKMP, VarAttr(AttrLifeDuration, 86400), "000c000400015180"},
		{ProtoISAKMP, VarAttr(AttrLifeDuration, 1<<40), "000c00080000010000000000"},
		{ProtoISAKMP, Attribute{Type: AttrLifeDuration, Value: 1, Long: []byte{1}}, "000c000101"},
		{ProtoIPsecESP, Attribute{Type: AttrSALifeDuration, Value: 3600}, "0002000400000e10"},
		{ProtoIPsecESP, Attribute{Type: AttrAuthAlg, Value: 5}, "80050005"},
		{ProtoIPsecESP, Attribute{Type: AttrEncapMode, Value: EncapUDPTunnelDraft}, "8004f003"},
		{ProtoIPsecESP, Attribute{Type: AttrKeyLength, Value: 12}, "000e00040000000c"}, // 14 is not an IPsec basic type
		{99, Attribute{Type: AttrEncryption, Value: 7}, "0001000400000007"},            // unknown class: TLV
	}
	for _, tt := range tests {
		b, err := tt.a.appendTo(nil, classOf(tt.proto))
		if err != nil || hexOf(b) != tt.hex {
			t.Errorf("%+v in %d: %x (err %v), want %s", tt.a, tt.proto, b, err, tt.hex)
			continue
		}
		got, err := decodeAttributes(b, classOf(tt.proto))
		if err != nil || len(got) != 1 || got[0].Value != tt.a.Value || got[0].Type != tt.a.Type {
			t.Errorf("%s decodes to %+v (err %v)", tt.hex, got, err)
			continue
		}
		if again, _ := got[0].appendTo(nil, classOf(tt.proto)); !bytes.Equal(again, b) {
			t.Errorf("%s re-encodes to %x", tt.hex, again)
		}
	}
	for _, bad := range []Attribute{
		{Type: 0x8001, Value: 1},
		{Type: 1, Value: 0x10000, TV: true},
		{Type: 1, Long: []byte{1}, TV: true},
	} {
		if _, err := bad.appendTo(nil, classPhase1); err == nil {
			t.Errorf("%+v encoded", bad)
		}
	}
	// A basic type received as TLV keeps its form.
	got, err := decodeAttributes(mustHex("0001000400000007"), classPhase1)
	if err != nil || !reflect.DeepEqual(got, []Attribute{{Type: 1, Value: 7, Long: []byte{0, 0, 0, 7}}}) {
		t.Errorf("TLV encryption attribute = %+v, %v", got, err)
	}
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func TestIDPrefix(t *testing.T) {
	for _, s := range []string{"172.16.0.0/24", "10.0.0.0/8", "0.0.0.0/0", "10.1.2.3/32", "2001:db8::/48", "2001:db8::1/128"} {
		p := netip.MustParsePrefix(s)
		id := IDFromPrefix(p)
		got, ok := id.Prefix()
		if !ok || got != p {
			t.Errorf("%s: ID %+v gives %v, %v", s, id, got, ok)
		}
	}
	if id := IDFromPrefix(netip.MustParsePrefix("172.16.0.0/24")); id.IDType != IDIPv4AddrSubnet ||
		hexOf(id.Data) != "ac100000ffffff00" {
		t.Errorf("subnet ID = %+v", id)
	}
	rng := &ID{IDType: IDIPv4AddrRange, Data: []byte{10, 0, 0, 0, 10, 0, 0, 255}}
	if p, ok := rng.Prefix(); !ok || p.String() != "10.0.0.0/24" {
		t.Errorf("range = %v %v", p, ok)
	}
	for _, id := range []*ID{
		{IDType: IDIPv4AddrRange, Data: []byte{10, 0, 0, 1, 10, 0, 0, 255}},
		{IDType: IDIPv4AddrSubnet, Data: []byte{10, 0, 0, 0, 255, 0, 255, 0}},
		{IDType: IDIPv4Addr, Data: []byte{10, 0, 0}},
		{IDType: IDFQDN, Data: []byte("x")},
	} {
		if p, ok := id.Prefix(); ok {
			t.Errorf("%+v gives %v", id, p)
		}
	}
	oa := &NATOA{IDType: IDIPv4Addr, Data: []byte{192, 168, 1, 10}}
	if a, ok := oa.Addr(); !ok || a.String() != "192.168.1.10" {
		t.Errorf("NAT-OA addr %v", a)
	}
}

func TestHelpers(t *testing.T) {
	n := NewDPD(R_U_THERE_ACK, 5, 6, 42)
	if seq, ok := n.DPDSequence(); !ok || seq != 42 {
		t.Errorf("DPD seq %d %v", seq, ok)
	}
	if i, r, ok := n.Cookies(); !ok || i != 5 || r != 6 {
		t.Errorf("cookies %d %d %v", i, r, ok)
	}
	if d := DeleteESP(1, 2); !reflect.DeepEqual(d.SPIs32(), []uint32{1, 2}) {
		t.Errorf("SPIs32 = %v", d.SPIs32())
	}
	ps := samplePayloads()
	if FindNotification(ps, R_U_THERE) == nil || len(Notifications(ps)) != 4 || Find(ps, PayloadHash) == nil ||
		len(FindAll(ps, PayloadSA)) != 3 || len(NATDs(ps)) != 2 {
		t.Error("finders")
	}
	m := sampleMessage(ps[5:7])
	if got := m.String(); got != "QUICK_MODE 0102030405060708_i 1112131415161718_r mid 16909060 [Nonce HASH]" {
		t.Errorf("String = %q", got)
	}
	if got := espSA().Proposals[0].String(); got !=
		"ESP#1 spi c96c2b01: ESP_AES_GCM_16{LIFE_TYPE=SECONDS LIFE=3600 ENCAP=UDP_TUNNEL KEY_LEN=128}" {
		t.Errorf("ESP proposal String = %q", got)
	}
	if NotifyType(7777).String() != "NotifyType(7777)" || R_U_THERE.String() != "R_U_THERE" ||
		PayloadNATDDraft.String() != "NAT-D(draft)" || ExchangeQuickMode.String() != "QUICK_MODE" {
		t.Error("names")
	}
}
