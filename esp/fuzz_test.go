package esp

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vpgw/vpgw/esp/esptest"
	"github.com/vpgw/vpgw/suite"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seeds in testdata/fuzz (FuzzOpen, FuzzClampMSS)")

// fuzzConfigs have fixed keys so that the committed seeds are valid packets
// for them and the fuzzer starts from inside the ICV check.
func fuzzConfigs() []SAConfig {
	return []SAConfig{
		{SPI: 0x0000f00d, ESP: suite.ESP{Cipher: suite.Cipher{Encr: suite.EncrAESGCM16, KeyBits: 128}},
			EncrKey: bytes.Repeat([]byte{0x11}, 20), ReplayWindow: 64},
		{SPI: 0x0000beef, ESP: suite.ESP{Cipher: suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 128}, Integ: suite.IntegHMACSHA256128},
			EncrKey: bytes.Repeat([]byte{0x22}, 16), IntegKey: bytes.Repeat([]byte{0x33}, 32), ReplayWindow: 64},
	}
}

// FuzzOpen feeds arbitrary bytes to Open under both cipher families; it must
// never panic, and what it accepts must lie inside the packet and be IP.
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, cfg := range fuzzConfigs() {
			sa, err := NewSA(cfg)
			if err != nil {
				t.Fatal(err)
			}
			pkt := bytes.Clone(data)
			inner, err := sa.Open(pkt)
			if err != nil {
				if ReasonOf(err) > NumDropReasons {
					t.Fatalf("unclassified error %v", err)
				}
				continue
			}
			if len(inner) == 0 || len(inner) > len(pkt)-sa.HeaderLen() {
				t.Fatalf("inner of %d bytes from a %d-byte packet", len(inner), len(pkt))
			}
			if v := inner[0] >> 4; v != 4 && v != 6 {
				t.Fatalf("accepted non-IP inner packet")
			}
			// A second Open of the same bytes is a replay.
			if _, err := sa.Open(bytes.Clone(data)); err == nil {
				t.Fatal("replayed packet accepted")
			}
		}
	})
}

// TestFuzzOpenCorpus checks that the committed seeds still mean what they
// were written for (valid packets open); -update-corpus regenerates them.
func TestFuzzOpenCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	if *updateCorpus {
		writeFuzzCorpus(t, dir)
	}
	valid := 0
	for i, cfg := range fuzzConfigs() {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("valid-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		data := parseCorpusFile(t, b)
		sa, _ := NewSA(cfg)
		if _, err := sa.Open(data); err != nil {
			t.Fatalf("seed valid-%d: %v", i, err)
		}
		valid++
	}
	if valid != 2 {
		t.Fatal("missing seeds")
	}
}

func writeFuzzCorpus(t *testing.T, dir string) {
	seeds := map[string][]byte{
		"empty":         {},
		"header-only":   {0, 0, 0xf0, 0x0d, 0, 0, 0, 1},
		"ike-marker":    {0, 0, 0, 0, 1, 2, 3, 4},
		"keepalive":     {0xff},
		"unknown-spi":   bytes.Repeat([]byte{0xab}, 64),
		"short-gcm-sa":  {0, 0, 0xf0, 0x0d, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2},
		"cbc-unaligned": append([]byte{0, 0, 0xbe, 0xef, 0, 0, 0, 1}, make([]byte, 16+17+16)...),
	}
	for i, cfg := range fuzzConfigs() {
		sa, err := NewSA(cfg)
		if err != nil {
			t.Fatal(err)
		}
		seeds[fmt.Sprintf("valid-%d", i)] = sealPacket(t, sa, esptest.Ping(srcA, dstA, 1, 1, []byte("fuzz seed")))
		seeds[fmt.Sprintf("valid-%d-ipv6-short", i)] = sealPacket(t, sa, append([]byte{0x60}, make([]byte, 39)...))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func parseCorpusFile(t *testing.T, b []byte) []byte {
	const prefix = "go test fuzz v1\n[]byte("
	s := string(bytes.TrimSpace(b))
	if len(s) < len(prefix)+1 || s[:len(prefix)] != prefix || s[len(s)-1] != ')' {
		t.Fatalf("not a corpus file: %q", s)
	}
	var out string
	if _, err := fmt.Sscanf(s[len(prefix):len(s)-1], "%q", &out); err != nil {
		t.Fatal(err)
	}
	return []byte(out)
}
