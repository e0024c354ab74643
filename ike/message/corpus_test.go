package message

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpgw/vpgw/internal/pcaptest"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed files in testdata/fuzz from the capture")

// TestWriteFuzzCorpus regenerates the committed seed corpora:
//
//	go test ./ike/message -run TestWriteFuzzCorpus -update-corpus
//
// Seeds come from the strongSwan capture (clear IKE messages and their
// payloads) plus hand-made values for what the capture only has encrypted.
// Files named seed-* are overwritten; crashers kept from fuzzing are not.
// Without the flag it checks that the committed seeds are current.
func TestWriteFuzzCorpus(t *testing.T) {
	pcaptest.SyncFuzzCorpus(t, filepath.Join("testdata", "fuzz"), fuzzSeeds(t), *updateCorpus)
}

func fuzzSeeds(t *testing.T) map[string]map[string][]byte {
	seeds := map[string]map[string][]byte{}
	add := func(target, name string, b []byte) {
		if seeds[target] == nil {
			seeds[target] = map[string][]byte{}
		}
		seeds[target][name] = b
	}
	body := func(p Payload) []byte {
		b, err := p.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	for _, c := range loadCapture(t) {
		m, err := Parse(c.Data)
		if err != nil {
			t.Fatal(err)
		}
		dir := "request"
		if m.Header.IsResponse() {
			dir = "response"
		}
		name := fmt.Sprintf("capture-frame%d-%s-%s", c.Frame, strings.ToLower(m.Header.Exchange.String()), dir)
		add("FuzzParseIKEv2", name, c.Data)
		if m.Encrypted() == nil {
			add("FuzzParsePayloads", name, append([]byte{c.Data[16]}, c.Data[HeaderLen:]...))
		}
		for i, p := range m.Payloads {
			switch p := p.(type) {
			case *SA:
				add("FuzzSA", name, body(p))
			case *Notify:
				add("FuzzNotify", fmt.Sprintf("%s-%d-%s", name, i, strings.ToLower(p.NotifyType.String())), body(p))
			}
		}
	}

	// Hand-made: what strongSwan puts inside SK in IKE_AUTH, CREATE_CHILD_SA
	// and INFORMATIONAL, which the capture cannot show in clear.
	espSA := &SA{Proposals: []Proposal{
		{Number: 1, Protocol: ProtocolESP, SPI: []byte{0xc9, 0x6c, 0x2b, 0x01}, Transforms: []Transform{
			{Type: TransformENCR, ID: 20, KeyLength: 128}, {Type: TransformESN, ID: ESNNone}}},
		{Number: 2, Protocol: ProtocolESP, SPI: []byte{0xc9, 0x6c, 0x2b, 0x01}, Transforms: []Transform{
			{Type: TransformENCR, ID: 12, KeyLength: 256}, {Type: TransformINTEG, ID: 12},
			{Type: TransformDH, ID: 14}, {Type: TransformESN, ID: ESNNone}}},
	}}
	tsi := &TrafficSelectors{Initiator: true, Selectors: []TrafficSelector{SelectorFromPrefix(netip.MustParsePrefix("172.16.0.0/24"))}}
	tsr := &TrafficSelectors{Selectors: []TrafficSelector{
		SelectorFromPrefix(netip.MustParsePrefix("10.0.0.0/24")),
		SelectorFromPrefix(netip.MustParsePrefix("2001:db8::/48")),
		{IPProtocol: 17, StartPort: 500, EndPort: 4500, Start: netip.MustParseAddr("10.0.0.1"), End: netip.MustParseAddr("10.0.0.1")},
	}}
	authInner := []Payload{
		&ID{Initiator: true, IDType: IDIPv4Addr, Data: []byte{198, 51, 100, 2}},
		&Notify{NotifyType: INITIAL_CONTACT},
		&ID{IDType: IDIPv4Addr, Data: []byte{203, 0, 113, 2}},
		&Auth{Method: AuthSharedKeyMIC, Data: bytes.Repeat([]byte{0x42}, 32)},
		&Config{ConfigType: CFGRequest, Attributes: []ConfigAttribute{{Type: InternalIP4Address}}},
		espSA, tsi, tsr,
		&Notify{NotifyType: ESP_TFC_PADDING_NOT_SUPPORTED},
		&Notify{NotifyType: NON_FIRST_FRAGMENTS_ALSO},
		&Notify{NotifyType: MOBIKE_SUPPORTED},
		&VendorID{Data: []byte("vpgw")},
		&Unknown{T: PayloadCERTREQ, Body: []byte{4}},
	}
	first, inner, err := SerializePayloads(authInner)
	if err != nil {
		t.Fatal(err)
	}
	add("FuzzParsePayloads", "ike_auth-inner", append([]byte{byte(first)}, inner...))
	first, inner, _ = SerializePayloads([]Payload{&Delete{Protocol: ProtocolIKE}})
	add("FuzzParsePayloads", "informational-delete-ike", append([]byte{byte(first)}, inner...))
	add("FuzzParsePayloads", "critical-unknown", []byte{99, 0, 0x80, 0, 5, 0})

	add("FuzzSA", "esp-two-proposals", body(espSA))
	add("FuzzSA", "ike-rekey-spi", body(&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtocolIKE,
		SPI: bytes.Repeat([]byte{7}, 8), Transforms: []Transform{{Type: TransformENCR, ID: 20, KeyLength: 256},
			{Type: TransformPRF, ID: 7}, {Type: TransformDH, ID: 31}}}}}))
	add("FuzzSA", "unknown-attribute", []byte{0, 0, 0, 28, 1, 1, 0, 2,
		3, 0, 0, 12, 1, 0, 0, 12, 0x80, 99, 0, 1, 0, 0, 0, 8, 4, 0, 0, 14})
	add("FuzzTrafficSelectors", "tsi-lab", body(tsi))
	add("FuzzTrafficSelectors", "tsr-v4-v6-ports", body(tsr))
	add("FuzzTrafficSelectors", "any-v4", body(&TrafficSelectors{Selectors: []TrafficSelector{
		SelectorFromPrefix(netip.MustParsePrefix("0.0.0.0/0"))}}))
	add("FuzzNotify", "rekey-sa", body(&Notify{Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, NotifyType: REKEY_SA}))
	add("FuzzNotify", "invalid-ke", body(&Notify{NotifyType: INVALID_KE_PAYLOAD, Data: []byte{0, 14}}))
	add("FuzzDelete", "ike", body(&Delete{Protocol: ProtocolIKE}))
	add("FuzzDelete", "esp-two", body(DeleteESP(0x5aa7addb, 0x1ca3de58)))
	add("FuzzConfig", "request", body(&Config{ConfigType: CFGRequest, Attributes: []ConfigAttribute{
		{Type: InternalIP4Address}, {Type: InternalIP4DNS}, {Type: InternalIP6Address}}}))
	add("FuzzConfig", "reply", body(&Config{ConfigType: CFGReply, Attributes: []ConfigAttribute{
		{Type: InternalIP4Address, Value: []byte{10, 0, 0, 9}}}}))

	// Whole hand-made messages: all payload types in clear, an empty DPD, and
	// an IKEv1-version header.
	ps := samplePayloads()
	all, err := sampleMessage(ps[:len(ps)-1]).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	add("FuzzParseIKEv2", "all-payloads", all)
	h := Header{SPIi: 1, SPIr: 2, Exchange: INFORMATIONAL, Flags: FlagInitiator, MessageID: 5}
	add("FuzzParseIKEv2", "dpd", append(AppendEncryptedHeader(nil, h, PayloadNone, 32), make([]byte, 32)...))
	v1 := append([]byte(nil), all[:HeaderLen]...)
	v1[17] = 0x10
	add("FuzzParseIKEv2", "major-version-1", v1)
	return seeds
}
