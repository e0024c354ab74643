package isakmp

import (
	"bytes"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpgw/vpgw/internal/pcaptest"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed files in testdata/fuzz from the capture")

// TestWriteFuzzCorpus regenerates the committed seed corpora:
//
//	go test ./ike/isakmp -run TestWriteFuzzCorpus -update-corpus
//
// Seeds come from the strongSwan capture (all ISAKMP messages, the clear
// chains and SA bodies) plus hand-made values for what the capture only has
// encrypted (Quick Mode, DPD, delete). Files named seed-* are overwritten;
// crashers kept from fuzzing are not. Without the flag it checks that the
// committed seeds are current.
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
	chain := func(ps []Payload, padding int) []byte {
		first, b, err := SerializePayloads(ps)
		if err != nil {
			t.Fatal(err)
		}
		return append(append([]byte{byte(first)}, b...), make([]byte, padding)...)
	}

	for _, c := range loadCapture(t) {
		m, err := Parse(c.Data)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("capture-frame%d-%s", c.Frame, strings.ToLower(m.Header.Exchange.String()))
		add("FuzzParseISAKMP", name, c.Data)
		if !m.Header.Encrypted() {
			add("FuzzParsePayloads", name, append([]byte{c.Data[16]}, m.Body...))
		}
		if sa, ok := m.Find(PayloadSA).(*SA); ok {
			add("FuzzSA", name, sa.Raw())
		}
	}

	// Hand-made decrypted bodies as strongSwan sends them, with padding.
	add("FuzzParsePayloads", "quick-mode-1", chain(quickModeInner(), 12))
	add("FuzzParsePayloads", "main-mode-5", chain([]Payload{
		&ID{IDType: IDIPv4Addr, Data: []byte{198, 51, 100, 2}},
		&Hash{Data: bytes.Repeat([]byte{0x42}, 32)},
		&Notification{DOI: DOIIPsec, ProtocolID: ProtoISAKMP, SPI: cookieSPI(1, 2), NotifyType: INITIAL_CONTACT},
	}, 7))
	add("FuzzParsePayloads", "dpd-r-u-there", chain([]Payload{&Hash{Data: make([]byte, 32)},
		NewDPD(R_U_THERE, 0x183dcd8ced11ded0, 0x900b5909025466b9, 0x2a)}, 8))
	add("FuzzParsePayloads", "delete-esp", chain([]Payload{&Hash{Data: make([]byte, 32)}, DeleteESP(0x791ff16e)}, 4))
	add("FuzzParsePayloads", "delete-isakmp", chain([]Payload{&Hash{Data: make([]byte, 32)},
		DeleteISAKMP(0x183dcd8ced11ded0, 0x900b5909025466b9)}, 0))
	add("FuzzParsePayloads", "all-payloads", chain(samplePayloads(), 0))
	add("FuzzParsePayloads", "nat-oa-draft", chain([]Payload{&NATOA{Draft: true, IDType: IDIPv4Addr,
		Data: []byte{10, 0, 0, 1}}, &NATD{Draft: true, Hash: make([]byte, 20)}}, 0))

	body := func(p Payload) []byte {
		b, err := p.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	add("FuzzSA", "esp-two-proposals", body(espSA()))
	add("FuzzSA", "phase1-forms", body(samplePayloads()[0]))

	all, err := sampleMessage(samplePayloads()).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	add("FuzzParseISAKMP", "all-payloads", all)
	v2 := append([]byte(nil), all[:HeaderLen]...)
	v2[17], v2[16] = 0x20, 0
	v2[24], v2[25], v2[26], v2[27] = 0, 0, 0, HeaderLen
	add("FuzzParseISAKMP", "major-version-2", v2)
	return seeds
}
