package ike

import (
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike/isakmp"
	"github.com/vpgw/vpgw/suite"
)

func awsV1Policy() Policy {
	return Policy{
		Ciphers: []suite.Cipher{{Encr: suite.EncrAESCBC, KeyBits: 128}, {Encr: suite.EncrAESCBC, KeyBits: 256},
			{Encr: suite.EncrAESGCM16, KeyBits: 128}, {Encr: suite.EncrAESGCM16, KeyBits: 256}},
		Integs:   []suite.Integ{suite.IntegHMACSHA1_96, suite.IntegHMACSHA256128, suite.IntegHMACSHA384192, suite.IntegHMACSHA512256},
		DHGroups: []suite.DHGroup{2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24},
	}
}

// Every transform we offer is one we would accept ourselves, in the
// policy's order, and the whole cross product is there.
func TestV1IKETransforms(t *testing.T) {
	p := awsV1Policy()
	ts := V1IKETransforms(p, 8*time.Hour)
	if len(ts) != 2*4*12 {
		t.Fatalf("%d transforms", len(ts))
	}
	for i, tr := range ts {
		if int(tr.Number) != i+1 {
			t.Errorf("transform %d numbered %d", i, tr.Number)
		}
		_, s, err := SelectV1IKE([]isakmp.Transform{tr}, p, 0)
		if err != nil {
			t.Fatalf("transform %d refused: %v", i, err)
		}
		if s.Lifetime != 8*time.Hour {
			t.Errorf("lifetime %v", s.Lifetime)
		}
	}
	_, first, _ := SelectV1IKE(ts, p, 0)
	if first.String() != "aes128-sha1-modp1024" {
		t.Errorf("first %v", first)
	}
	if got := V1IKETransforms(Policy{Ciphers: p.Ciphers[2:], Integs: p.Integs, DHGroups: p.DHGroups}, 0); len(got) != 0 {
		t.Errorf("GCM-only phase 1 offered %d transforms", len(got))
	}
}

func TestV1ESPTransforms(t *testing.T) {
	p := awsV1Policy()
	for _, pfs := range []suite.DHGroup{0, 14} {
		ts := V1ESPTransforms(p, pfs, isakmp.EncapUDPTunnel, time.Hour)
		if len(ts) != 2*4+2 {
			t.Fatalf("%d transforms", len(ts))
		}
		for i, tr := range ts {
			prop := []isakmp.Proposal{{Number: 1, ProtocolID: isakmp.ProtoIPsecESP, SPI: []byte{1, 2, 3, 4}, Transforms: []isakmp.Transform{tr}}}
			_, _, g, encap, life, err := SelectV1ESP(prop, p, pfs, 0)
			if err != nil || g != pfs || encap != isakmp.EncapUDPTunnel || life != time.Hour {
				t.Fatalf("transform %d: %v group %v encap %d life %v", i, err, g, encap, life)
			}
		}
	}
}
