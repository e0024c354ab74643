package ike

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

func tENCR(id, bits uint16) message.Transform {
	return message.Transform{Type: message.TransformENCR, ID: id, KeyLength: bits}
}
func tPRF(id uint16) message.Transform { return message.Transform{Type: message.TransformPRF, ID: id} }
func tINTEG(id uint16) message.Transform {
	return message.Transform{Type: message.TransformINTEG, ID: id}
}
func tDH(id uint16) message.Transform  { return message.Transform{Type: message.TransformDH, ID: id} }
func tESN(id uint16) message.Transform { return message.Transform{Type: message.TransformESN, ID: id} }

func ikeProp(n uint8, ts ...message.Transform) message.Proposal {
	return message.Proposal{Number: n, Protocol: message.ProtocolIKE, Transforms: ts}
}

func espProp(n uint8, ts ...message.Transform) message.Proposal {
	return message.Proposal{Number: n, Protocol: message.ProtocolESP, SPI: []byte{0xc1, 0, 0, byte(n)}, Transforms: ts}
}

func mustPolicy(t *testing.T, enc, integ []string, dh []int) Policy {
	t.Helper()
	p, err := ParsePolicy(enc, integ, dh)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSelectIKE(t *testing.T) {
	all := mustPolicy(t, []string{"aes128", "aes256", "aes128-gcm-16", "aes256-gcm-16"},
		[]string{"sha1", "sha2-256", "sha2-384", "sha2-512"}, []int{2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24})
	strict := mustPolicy(t, []string{"aes256"}, []string{"sha2-256"}, []int{14})
	tests := []struct {
		name    string
		offered []message.Proposal
		policy  Policy
		want    IKESuite
		number  uint8
		wantErr bool
	}{
		{
			name: "strongSwan default-like: their first transform of each type",
			offered: []message.Proposal{ikeProp(1,
				tENCR(12, 128), tENCR(12, 256), tINTEG(12), tINTEG(2), tPRF(5), tPRF(2), tDH(19), tDH(14))},
			policy: all, number: 1,
			want: IKESuite{aes128CBC, suite.IntegHMACSHA256128, suite.PRFHMACSHA256, 19},
		},
		{
			name: "their proposal order wins over ours",
			offered: []message.Proposal{
				ikeProp(1, tENCR(12, 128), tINTEG(2), tPRF(2), tDH(2)),
				ikeProp(2, tENCR(12, 256), tINTEG(12), tPRF(5), tDH(14)),
			},
			policy: mustPolicy(t, []string{"aes256", "aes128"}, []string{"sha2-256", "sha1"}, []int{14, 2}),
			number: 1,
			want:   IKESuite{aes128CBC, suite.IntegHMACSHA1_96, suite.PRFHMACSHA1, 2},
		},
		{
			name: "first proposal unacceptable, second chosen",
			offered: []message.Proposal{
				ikeProp(1, tENCR(12, 128), tINTEG(2), tPRF(2), tDH(2)),
				ikeProp(2, tENCR(12, 256), tINTEG(12), tPRF(5), tDH(14)),
			},
			policy: strict, number: 2,
			want: IKESuite{aes256CBC, suite.IntegHMACSHA256128, suite.PRFHMACSHA256, 14},
		},
		{
			name:    "GCM without INTEG, PRF from the integrity list",
			offered: []message.Proposal{ikeProp(1, tENCR(20, 256), tPRF(6), tPRF(5), tDH(20))},
			policy:  mustPolicy(t, []string{"aes256-gcm-16"}, []string{"sha2-256"}, []int{20}),
			number:  1,
			want:    IKESuite{aes256GCM, suite.IntegNone, suite.PRFHMACSHA256, 20},
		},
		{
			name:    "AES without key length attribute is not acceptable",
			offered: []message.Proposal{ikeProp(1, tENCR(12, 0), tINTEG(2), tPRF(2), tDH(14))},
			policy:  all, wantErr: true,
		},
		{
			name:    "PRF not matching any accepted integrity",
			offered: []message.Proposal{ikeProp(1, tENCR(12, 256), tINTEG(12), tPRF(2), tDH(14))},
			policy:  strict, wantErr: true,
		},
		{
			name:    "missing DH",
			offered: []message.Proposal{ikeProp(1, tENCR(12, 256), tINTEG(12), tPRF(5))},
			policy:  strict, wantErr: true,
		},
		{
			name:    "unknown transform type makes the proposal unacceptable",
			offered: []message.Proposal{ikeProp(1, tENCR(12, 256), tINTEG(12), tPRF(5), tDH(14), message.Transform{Type: 9, ID: 1})},
			policy:  strict, wantErr: true,
		},
		{
			name:    "ESP proposal in IKE SA payload",
			offered: []message.Proposal{{Number: 1, Protocol: message.ProtocolESP, Transforms: []message.Transform{tENCR(12, 256), tINTEG(12), tPRF(5), tDH(14)}}},
			policy:  strict, wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prop, s, err := SelectIKE(tt.offered, tt.policy)
			if tt.wantErr {
				if !errors.Is(err, ErrNoProposal) {
					t.Fatalf("err = %v, want ErrNoProposal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s != tt.want {
				t.Errorf("suite %v, want %v", s, tt.want)
			}
			if prop.Number != tt.number || prop.Protocol != message.ProtocolIKE {
				t.Errorf("proposal number %d protocol %d", prop.Number, prop.Protocol)
			}
			want := []message.Transform{tENCR(uint16(s.Cipher.Encr), uint16(s.Cipher.KeyBits)), tPRF(uint16(s.PRF))}
			if !s.Cipher.IsAEAD() {
				want = append(want, tINTEG(uint16(s.Integ)))
			}
			want = append(want, tDH(uint16(s.DH)))
			if !reflect.DeepEqual(prop.Transforms, want) {
				t.Errorf("transforms %+v, want %+v", prop.Transforms, want)
			}
		})
	}
}

// INVALID_KE_PAYLOAD: the proposal is acceptable but the KE payload carries
// another group than the one chosen.
func TestSelectIKEGroupMismatch(t *testing.T) {
	offered := []message.Proposal{ikeProp(1, tENCR(12, 256), tINTEG(12), tPRF(5), tDH(2), tDH(14), tDH(19))}
	p := mustPolicy(t, []string{"aes256"}, []string{"sha2-256"}, []int{14, 19})
	// The peer's KE is for group 2, which we do not accept: ask for 14.
	_, s, err := SelectIKE(offered, p)
	if err != nil || s.DH != 14 {
		t.Fatalf("DH %d, err %v; want 14", s.DH, err)
	}
	if g, ok := PreferredGroup(offered, p); !ok || g != 14 {
		t.Errorf("PreferredGroup = %d, %v", g, ok)
	}
	// The peer's KE is for 19, acceptable: keep it.
	prop, s, err := SelectIKEForKE(offered, p, 19)
	if err != nil || s.DH != 19 || prop.Transforms[len(prop.Transforms)-1] != tDH(19) {
		t.Errorf("SelectIKEForKE(19): DH %d, err %v", s.DH, err)
	}
	// KE for a group not in this proposal: the normal choice.
	if _, s, _ := SelectIKEForKE(offered, p, 20); s.DH != 14 {
		t.Errorf("SelectIKEForKE(20): DH %d, want 14", s.DH)
	}
	if _, ok := PreferredGroup(offered, mustPolicy(t, []string{"aes128"}, []string{"sha1"}, nil)); ok {
		t.Error("PreferredGroup found a group with no acceptable proposal")
	}
}

func TestSelectESP(t *testing.T) {
	p := mustPolicy(t, []string{"aes256", "aes128", "aes128-gcm-16"}, []string{"sha2-256", "sha1"}, []int{14, 19})
	tests := []struct {
		name      string
		offered   []message.Proposal
		pfs       bool
		want      suite.ESP
		wantGroup suite.DHGroup
		number    uint8
		wantErr   bool
	}{
		{
			name:    "plain, no ESN",
			offered: []message.Proposal{espProp(1, tENCR(12, 128), tINTEG(2), tESN(0))},
			want:    suite.ESP{Cipher: aes128CBC, Integ: suite.IntegHMACSHA1_96}, number: 1,
		},
		{
			name: "their order wins",
			offered: []message.Proposal{
				espProp(1, tENCR(12, 128), tINTEG(2), tESN(0)),
				espProp(2, tENCR(12, 256), tINTEG(12), tESN(0)),
			},
			want: suite.ESP{Cipher: aes128CBC, Integ: suite.IntegHMACSHA1_96}, number: 1,
		},
		{
			name:    "GCM without INTEG",
			offered: []message.Proposal{espProp(3, tENCR(20, 128), tESN(0))},
			want:    suite.ESP{Cipher: aes128GCM}, number: 3,
		},
		{
			name:    "ESN offered both ways: we take no ESN",
			offered: []message.Proposal{espProp(1, tENCR(12, 256), tINTEG(12), tESN(1), tESN(0))},
			want:    suite.ESP{Cipher: aes256CBC, Integ: suite.IntegHMACSHA256128}, number: 1,
		},
		{
			name: "ESN only: refused, next proposal taken",
			offered: []message.Proposal{
				espProp(1, tENCR(12, 256), tINTEG(12), tESN(1)),
				espProp(2, tENCR(12, 256), tINTEG(2), tESN(0)),
			},
			want: suite.ESP{Cipher: aes256CBC, Integ: suite.IntegHMACSHA1_96}, number: 2,
		},
		{
			name:    "PFS: group chosen from the proposal",
			offered: []message.Proposal{espProp(1, tENCR(12, 256), tINTEG(12), tDH(2), tDH(19), tESN(0))},
			pfs:     true,
			want:    suite.ESP{Cipher: aes256CBC, Integ: suite.IntegHMACSHA256128}, wantGroup: 19, number: 1,
		},
		{
			name:    "PFS with no acceptable group",
			offered: []message.Proposal{espProp(1, tENCR(12, 256), tINTEG(12), tDH(2), tESN(0))},
			pfs:     true, wantErr: true,
		},
		{
			name:    "PFS requested but no DH offered: no PFS",
			offered: []message.Proposal{espProp(1, tENCR(12, 256), tINTEG(12), tESN(0))},
			pfs:     true,
			want:    suite.ESP{Cipher: aes256CBC, Integ: suite.IntegHMACSHA256128}, number: 1,
		},
		{
			name:    "no PFS (IKE_AUTH): DH transforms ignored",
			offered: []message.Proposal{espProp(1, tENCR(12, 256), tINTEG(12), tDH(2), tESN(0))},
			want:    suite.ESP{Cipher: aes256CBC, Integ: suite.IntegHMACSHA256128}, number: 1,
		},
		{
			name:    "integrity not accepted",
			offered: []message.Proposal{espProp(1, tENCR(12, 256), tINTEG(14), tESN(0))},
			wantErr: true,
		},
		{
			name:    "AH is not supported",
			offered: []message.Proposal{{Number: 1, Protocol: message.ProtocolAH, SPI: []byte{1, 2, 3, 4}, Transforms: []message.Transform{tINTEG(2), tESN(0)}}},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prop, esp, group, err := SelectESP(tt.offered, p, tt.pfs)
			if tt.wantErr {
				if !errors.Is(err, ErrNoProposal) {
					t.Fatalf("err = %v, want ErrNoProposal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if esp != tt.want || group != tt.wantGroup {
				t.Errorf("got %v group %d, want %v group %d", esp, group, tt.want, tt.wantGroup)
			}
			if prop.Number != tt.number || prop.Protocol != message.ProtocolESP {
				t.Errorf("proposal number %d protocol %d", prop.Number, prop.Protocol)
			}
			if want := espProp(tt.number).SPI; !reflect.DeepEqual(prop.SPI, want) {
				t.Errorf("SPI %x, want the peer's", prop.SPI)
			}
			want := []message.Transform{tENCR(uint16(esp.Cipher.Encr), uint16(esp.Cipher.KeyBits))}
			if !esp.Cipher.IsAEAD() {
				want = append(want, tINTEG(uint16(esp.Integ)))
			}
			if group != 0 {
				want = append(want, tDH(uint16(group)))
			}
			want = append(want, tESN(0))
			if !reflect.DeepEqual(prop.Transforms, want) {
				t.Errorf("transforms %+v, want %+v", prop.Transforms, want)
			}
		})
	}
}

func TestNoProposalErrorText(t *testing.T) {
	offered := []message.Proposal{ikeProp(1, tENCR(12, 128), tINTEG(2), tPRF(2), tDH(2))}
	p := mustPolicy(t, []string{"aes256"}, []string{"sha2-256"}, []int{14})
	_, _, err := SelectIKE(offered, p)
	want := "no proposal chosen: peer offered IKE:aes128-sha1-prf-sha1-modp1024; " +
		"we accept encryption aes256; integrity sha2-256; dh groups 14"
	if err == nil || err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}
	_, _, _, err = SelectESP([]message.Proposal{espProp(1, tENCR(20, 0), tESN(1))}, p, false)
	if err == nil || !strings.Contains(err.Error(), "ESP:aes-gcm-16(no key length)-esn") {
		t.Errorf("ESP error %q", err)
	}
}

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]string{"aes256-gcm-16", "aes128", "aes128"}, []string{"sha2-384", "sha1"}, []int{19, 14})
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{
		Ciphers:  []suite.Cipher{aes256GCM, aes128CBC},
		Integs:   []suite.Integ{suite.IntegHMACSHA384192, suite.IntegHMACSHA1_96},
		DHGroups: []suite.DHGroup{19, 14},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %+v, want %+v", p, want)
	}
	for _, bad := range []struct {
		enc, integ []string
		dh         []int
	}{
		{[]string{"3des"}, []string{"sha1"}, nil},
		{[]string{"aes128"}, []string{"md5"}, nil},
		{[]string{"aes128"}, []string{"sha1"}, []int{3}},
		{[]string{"aes128"}, []string{"sha1"}, []int{-1}},
		{nil, []string{"sha1"}, nil},
	} {
		if _, err := ParsePolicy(bad.enc, bad.integ, bad.dh); err == nil {
			t.Errorf("ParsePolicy(%v, %v, %v) accepted", bad.enc, bad.integ, bad.dh)
		}
	}
}
