package ike

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike/isakmp"
	"github.com/vpgw/vpgw/suite"
)

// p1 builds a phase-1 transform; key length, group and life 0 leave the
// attribute out.
func p1(n uint8, enc, bits, hash, auth, group uint16, life uint64) isakmp.Transform {
	t := isakmp.Transform{Number: n, ID: isakmp.TransformKeyIKE}
	t.Attributes = append(t.Attributes, isakmp.BasicAttr(isakmp.AttrEncryption, enc))
	if bits != 0 {
		t.Attributes = append(t.Attributes, isakmp.BasicAttr(isakmp.AttrKeyLength, bits))
	}
	t.Attributes = append(t.Attributes, isakmp.BasicAttr(isakmp.AttrHash, hash), isakmp.BasicAttr(isakmp.AttrAuthMethod, auth))
	if group != 0 {
		t.Attributes = append(t.Attributes, isakmp.BasicAttr(isakmp.AttrGroup, group))
	}
	if life != 0 {
		t.Attributes = append(t.Attributes, isakmp.BasicAttr(isakmp.AttrLifeType, isakmp.LifeSeconds), isakmp.VarAttr(isakmp.AttrLifeDuration, life))
	}
	return t
}

func TestSelectV1IKE(t *testing.T) {
	all := mustPolicy(t, []string{"aes128", "aes256", "aes128-gcm-16"}, []string{"sha1", "sha2-256", "sha2-384", "sha2-512"}, []int{2, 14, 19})
	strict := mustPolicy(t, []string{"aes256"}, []string{"sha2-256"}, []int{14})
	const psk, aes, sha1, sha256 = isakmp.AuthPSK, isakmp.EncrAESCBC, isakmp.HashSHA1, isakmp.HashSHA256
	tests := []struct {
		name    string
		offered []isakmp.Transform
		policy  Policy
		max     time.Duration
		want    V1Suite
		number  uint8
		err     string // substring of the error; "" for success
	}{
		{
			name:    "their order wins over ours",
			offered: []isakmp.Transform{p1(1, aes, 128, sha1, psk, 2, 28800), p1(2, aes, 256, sha256, psk, 14, 28800)},
			policy:  mustPolicy(t, []string{"aes256", "aes128"}, []string{"sha2-256", "sha1"}, []int{14, 2}),
			max:     8 * time.Hour, number: 1,
			want: V1Suite{aes128CBC, suite.PRFHMACSHA1, 2, 8 * time.Hour},
		},
		{
			name:    "first unacceptable, second chosen",
			offered: []isakmp.Transform{p1(1, aes, 128, sha1, psk, 2, 28800), p1(2, aes, 256, sha256, psk, 14, 3600)},
			policy:  strict, max: 8 * time.Hour, number: 2,
			want: V1Suite{aes256CBC, suite.PRFHMACSHA256, 14, time.Hour},
		},
		{
			name:    "hash maps to the HMAC prf",
			offered: []isakmp.Transform{p1(1, aes, 256, isakmp.HashSHA512, psk, 19, 0), p1(2, aes, 256, isakmp.HashSHA384, psk, 19, 0)},
			policy:  mustPolicy(t, []string{"aes256"}, []string{"sha2-384"}, []int{19}),
			max:     time.Hour, number: 2,
			want: V1Suite{aes256CBC, suite.PRFHMACSHA384, 19, time.Hour},
		},
		{
			name:    "longer lifetime capped to ours",
			offered: []isakmp.Transform{p1(1, aes, 128, sha1, psk, 14, 86400)},
			policy:  all, max: 8 * time.Hour, number: 1,
			want: V1Suite{aes128CBC, suite.PRFHMACSHA1, 14, 8 * time.Hour},
		},
		{
			name:    "no lifetime and no maximum: RFC 2407 default",
			offered: []isakmp.Transform{p1(1, aes, 128, sha1, psk, 14, 0)},
			policy:  all, number: 1,
			want: V1Suite{aes128CBC, suite.PRFHMACSHA1, 14, 8 * time.Hour},
		},
		{
			name:    "XAuth refused",
			offered: []isakmp.Transform{p1(1, aes, 128, sha1, 65001, 14, 28800)},
			policy:  all, max: time.Hour,
			err: "peer offered aes128-sha1-modp2048-xauth-init-psk(28800s); we accept encryption aes128,aes256; integrity sha1,sha2-256,sha2-384,sha2-512; dh groups 2,14,19 (AES-GCM is ESP-only in IKEv1)",
		},
		{
			name:    "RSA signatures refused",
			offered: []isakmp.Transform{p1(1, aes, 128, sha1, isakmp.AuthRSASig, 14, 0)},
			policy:  all, err: "rsasig",
		},
		{
			name:    "GCM only in the policy: nothing for phase 1",
			offered: []isakmp.Transform{p1(1, aes, 128, sha1, psk, 14, 0)},
			policy:  mustPolicy(t, []string{"aes128-gcm-16"}, []string{"sha1"}, []int{14}),
			err:     "we accept encryption none; integrity sha1; dh groups 14 (AES-GCM is ESP-only in IKEv1)",
		},
		{
			name:    "AES without key length",
			offered: []isakmp.Transform{p1(1, aes, 0, sha1, psk, 14, 0)},
			policy:  all, err: "aes(no key length)-sha1-modp2048-psk",
		},
		{
			name:    "3DES, MD5 and unknown groups",
			offered: []isakmp.Transform{p1(1, isakmp.Encr3DES, 0, isakmp.HashMD5, psk, 2, 0), p1(2, aes, 128, sha1, psk, 5, 0)},
			policy:  all, err: "3des-md5-modp1024-psk, aes128-sha1-modp1536-psk",
		},
		{
			name:   "no transforms",
			policy: all, err: "peer offered nothing",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, s, err := SelectV1IKE(tc.offered, tc.policy, tc.max)
			if tc.err != "" {
				if !errors.Is(err, ErrNoProposal) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v\nwant one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s != tc.want {
				t.Errorf("suite = %+v (%v), want %+v", s, s, tc.want)
			}
			if tr.Number != tc.number || !reflect.DeepEqual(tr, tc.offered[tc.number-1]) {
				t.Errorf("transform = %+v, want the peer's #%d", tr, tc.number)
			}
		})
	}
}

func TestSelectV1IKERejectsOddAttributes(t *testing.T) {
	p := mustPolicy(t, []string{"aes128"}, []string{"sha1"}, []int{14})
	base := p1(1, isakmp.EncrAESCBC, 128, isakmp.HashSHA1, isakmp.AuthPSK, 14, 3600)
	if _, _, err := SelectV1IKE([]isakmp.Transform{base}, p, time.Hour); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*isakmp.Transform){
		"group type attribute": func(t *isakmp.Transform) {
			t.Attributes = append(t.Attributes, isakmp.BasicAttr(isakmp.AttrGroupType, 1))
		},
		"PRF attribute":      func(t *isakmp.Transform) { t.Attributes = append(t.Attributes, isakmp.BasicAttr(isakmp.AttrPRF, 1)) },
		"repeated hash":      func(t *isakmp.Transform) { t.Attributes = append(t.Attributes, isakmp.BasicAttr(isakmp.AttrHash, 4)) },
		"not KEY_IKE":        func(t *isakmp.Transform) { t.ID = 2 },
		"zero life duration": func(t *isakmp.Transform) { t.Attributes[len(t.Attributes)-1].Value = 0 },
		"duration without type": func(t *isakmp.Transform) {
			t.Attributes = append(t.Attributes[:len(t.Attributes)-2], t.Attributes[len(t.Attributes)-1])
		},
	} {
		tr := cloneTransform(base)
		mod(&tr)
		if _, _, err := SelectV1IKE([]isakmp.Transform{tr}, p, time.Hour); !errors.Is(err, ErrNoProposal) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	// A volume lifetime next to the seconds one is accepted and ignored.
	tr := cloneTransform(base)
	tr.Attributes = append(tr.Attributes, isakmp.BasicAttr(isakmp.AttrLifeType, isakmp.LifeKB), isakmp.VarAttr(isakmp.AttrLifeDuration, 1<<20))
	if _, s, err := SelectV1IKE([]isakmp.Transform{tr}, p, 8*time.Hour); err != nil || s.Lifetime != time.Hour {
		t.Errorf("with a KB lifetime: %v, %v", s.Lifetime, err)
	}
	// A huge variable-length duration is capped.
	tr = cloneTransform(base)
	tr.Attributes[len(tr.Attributes)-1] = isakmp.Attribute{Type: isakmp.AttrLifeDuration, Long: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}
	if _, s, err := SelectV1IKE([]isakmp.Transform{tr}, p, 8*time.Hour); err != nil || s.Lifetime != 8*time.Hour {
		t.Errorf("with a 10-byte lifetime: %v, %v", s.Lifetime, err)
	}
}

// esp builds a quick mode ESP transform; 0 values leave attributes out.
func espT(n, id uint8, bits, auth, group, mode uint16, life uint64) isakmp.Transform {
	t := isakmp.Transform{Number: n, ID: id}
	add := func(typ, v uint16) {
		if v != 0 {
			t.Attributes = append(t.Attributes, isakmp.BasicAttr(typ, v))
		}
	}
	add(isakmp.AttrIPsecKeyLength, bits)
	add(isakmp.AttrAuthAlg, auth)
	add(isakmp.AttrGroupDesc, group)
	add(isakmp.AttrEncapMode, mode)
	if life != 0 {
		t.Attributes = append(t.Attributes, isakmp.BasicAttr(isakmp.AttrSALifeType, isakmp.LifeSeconds), isakmp.VarAttr(isakmp.AttrSALifeDuration, life))
	}
	return t
}

func v1ESPProp(n uint8, ts ...isakmp.Transform) isakmp.Proposal {
	return isakmp.Proposal{Number: n, ProtocolID: isakmp.ProtoIPsecESP, SPI: []byte{0xc1, 0, 0, n}, Transforms: ts}
}

func TestSelectV1ESP(t *testing.T) {
	all := mustPolicy(t, []string{"aes128", "aes256", "aes128-gcm-16", "aes256-gcm-16"}, []string{"sha1", "sha2-256"}, []int{14, 19})
	cbcOnly := mustPolicy(t, []string{"aes128"}, []string{"sha1"}, nil)
	const aes, gcm, sha1, sha256 = isakmp.ESP_AES, isakmp.ESP_AES_GCM_16, isakmp.AuthAlgHMACSHA1, isakmp.AuthAlgHMACSHA2_256
	const tun, udp = isakmp.EncapTunnel, isakmp.EncapUDPTunnel
	aes128SHA1 := suite.ESP{Cipher: aes128CBC, Integ: suite.IntegHMACSHA1_96}
	tests := []struct {
		name      string
		offered   []isakmp.Proposal
		policy    Policy
		keGroup   suite.DHGroup
		max       time.Duration
		want      suite.ESP
		wantPFS   suite.DHGroup
		wantMode  uint16
		wantLife  time.Duration
		number    uint8
		transform uint8
		err       string
	}{
		{
			name:    "their order wins, across transforms",
			offered: []isakmp.Proposal{v1ESPProp(1, espT(1, aes, 128, sha1, 0, udp, 3600), espT(2, aes, 256, sha256, 0, udp, 3600))},
			policy:  all, max: time.Hour, want: aes128SHA1, wantMode: udp, wantLife: time.Hour, number: 1, transform: 1,
		},
		{
			name: "first proposal unacceptable, second chosen",
			offered: []isakmp.Proposal{
				v1ESPProp(1, espT(1, aes, 128, isakmp.AuthAlgHMACMD5, 0, tun, 0)),
				v1ESPProp(2, espT(1, aes, 128, sha1, 0, tun, 0)),
			},
			policy: cbcOnly, max: time.Hour, want: aes128SHA1, wantMode: tun, wantLife: time.Hour, number: 2, transform: 1,
		},
		{
			name:    "GCM without integrity",
			offered: []isakmp.Proposal{v1ESPProp(1, espT(1, gcm, 256, 0, 0, isakmp.EncapUDPTunnelDraft, 1800))},
			policy:  all, max: time.Hour, want: suite.ESP{Cipher: aes256GCM}, wantMode: isakmp.EncapUDPTunnelDraft,
			wantLife: 30 * time.Minute, number: 1, transform: 1,
		},
		{
			name:    "GCM with an auth algorithm refused",
			offered: []isakmp.Proposal{v1ESPProp(1, espT(1, gcm, 128, sha1, 0, tun, 0))},
			policy:  all, err: "ESP:aes128-gcm-16-sha1-tunnel (no KE payload)",
		},
		{
			name: "PFS: the transform with the KE payload's group",
			offered: []isakmp.Proposal{v1ESPProp(1, espT(1, aes, 128, sha1, 0, tun, 0), espT(2, aes, 128, sha1, 5, tun, 0),
				espT(3, aes, 128, sha1, 14, tun, 0), espT(4, aes, 128, sha1, 19, tun, 0))},
			policy: all, keGroup: 14, transform: 3, max: time.Hour, want: aes128SHA1, wantPFS: 14, wantMode: tun, wantLife: time.Hour, number: 1,
		},
		{
			name:    "PFS group without KE payload",
			offered: []isakmp.Proposal{v1ESPProp(1, espT(1, aes, 128, sha1, 14, tun, 0))},
			policy:  all, err: "aes128-sha1-modp2048-tunnel (no KE payload)",
		},
		{
			name:    "KE payload without PFS group",
			offered: []isakmp.Proposal{v1ESPProp(1, espT(1, aes, 128, sha1, 0, tun, 0))},
			policy:  all, keGroup: 14, err: "(KE payload modp2048)",
		},
		{
			name:    "PFS group outside the policy",
			offered: []isakmp.Proposal{v1ESPProp(1, espT(1, aes, 128, sha1, 5, tun, 0))},
			policy:  all, keGroup: 5, err: "dh groups 14,19, tunnel mode",
		},
		{
			name:    "PFS with an empty DH list",
			offered: []isakmp.Proposal{v1ESPProp(1, espT(1, aes, 128, sha1, 14, tun, 0))},
			policy:  cbcOnly, keGroup: 14, err: "dh groups none",
		},
		{
			name:    "no mode attribute means tunnel",
			offered: []isakmp.Proposal{v1ESPProp(1, espT(1, aes, 128, sha1, 0, 0, 0))},
			policy:  cbcOnly, want: aes128SHA1, wantMode: tun, wantLife: v1DefaultLifetime, number: 1, transform: 1,
		},
		{
			name: "transport modes refused",
			offered: []isakmp.Proposal{v1ESPProp(1,
				espT(1, aes, 128, sha1, 0, isakmp.EncapTransport, 0),
				espT(2, aes, 128, sha1, 0, isakmp.EncapUDPTransport, 0),
				espT(3, aes, 128, sha1, 0, isakmp.EncapUDPTransportDraft, 0))},
			policy: all, err: "aes128-sha1-transport|aes128-sha1-udp-transport|aes128-sha1-udp-transport-draft",
		},
		{
			name:    "longer lifetime capped",
			offered: []isakmp.Proposal{v1ESPProp(1, espT(1, aes, 128, sha1, 0, udp, 28800))},
			policy:  cbcOnly, max: time.Hour, want: aes128SHA1, wantMode: udp, wantLife: time.Hour, number: 1, transform: 1,
		},
		{
			name: "AH, bundles and bad SPIs skipped",
			offered: []isakmp.Proposal{
				{Number: 1, ProtocolID: isakmp.ProtoIPsecAH, SPI: []byte{1, 2, 3, 4}, Transforms: []isakmp.Transform{{Number: 1, ID: 2}}},
				v1ESPProp(1, espT(1, aes, 128, sha1, 0, tun, 0)),
				{Number: 2, ProtocolID: isakmp.ProtoIPsecESP, SPI: []byte{1, 2}, Transforms: []isakmp.Transform{espT(1, aes, 128, sha1, 0, tun, 0)}},
				v1ESPProp(3, espT(1, aes, 256, sha1, 0, tun, 0), espT(2, aes, 128, sha1, 0, tun, 0)),
			},
			policy: cbcOnly, max: time.Hour, want: aes128SHA1, wantMode: tun, wantLife: time.Hour, number: 3, transform: 2,
		},
		{
			name:    "AES without key length",
			offered: []isakmp.Proposal{v1ESPProp(1, espT(1, aes, 0, sha1, 0, tun, 0))},
			policy:  all, err: "ESP:aes(no key length)-sha1-tunnel",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prop, esp, pfs, mode, life, err := SelectV1ESP(tc.offered, tc.policy, tc.keGroup, tc.max)
			if tc.err != "" {
				if !errors.Is(err, ErrNoProposal) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v\nwant one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if esp != tc.want || pfs != tc.wantPFS || mode != tc.wantMode || life != tc.wantLife {
				t.Errorf("got %v pfs %d mode %d life %v, want %v pfs %d mode %d life %v",
					esp, pfs, mode, life, tc.want, tc.wantPFS, tc.wantMode, tc.wantLife)
			}
			var src isakmp.Proposal
			for _, p := range tc.offered {
				if p.Number == tc.number && p.ProtocolID == isakmp.ProtoIPsecESP {
					src = p
				}
			}
			if prop.Number != tc.number || string(prop.SPI) != string(src.SPI) || len(prop.Transforms) != 1 ||
				!reflect.DeepEqual(prop.Transforms[0], src.Transforms[tc.transform-1]) {
				t.Errorf("proposal = %+v, want #%d transform %d", prop, tc.number, tc.transform)
			}
			prop.SPI[0] ^= 0xff
			if string(prop.SPI) == string(src.SPI) {
				t.Error("SPI not copied")
			}
		})
	}
}

func TestSelectV1ESPRejectsESN(t *testing.T) {
	p := mustPolicy(t, []string{"aes128"}, []string{"sha1"}, nil)
	tr := espT(1, isakmp.ESP_AES, 128, isakmp.AuthAlgHMACSHA1, 0, isakmp.EncapTunnel, 0)
	tr.Attributes = append(tr.Attributes, isakmp.BasicAttr(isakmp.AttrExtendedSeqNums, 1))
	_, _, _, _, _, err := SelectV1ESP([]isakmp.Proposal{v1ESPProp(1, tr)}, p, 0, time.Hour)
	if !errors.Is(err, ErrNoProposal) || !strings.Contains(err.Error(), "-tunnel-esn") {
		t.Errorf("err = %v", err)
	}
}

// TestSelectV1StrongSwanOffers decodes the SA payloads strongSwan 5.9.8 sent
// in swanV1 (main mode 1 and quick mode 1) and selects from them.
func TestSelectV1StrongSwanOffers(t *testing.T) {
	var sai isakmp.SA
	if err := sai.DecodeFromBytes(unhex(t, swanV1.sai)); err != nil {
		t.Fatal(err)
	}
	p := mustPolicy(t, []string{"aes128", "aes256"}, []string{"sha1", "sha2-256"}, []int{14})
	_, s, err := SelectV1IKE(sai.Proposals[0].Transforms, p, 8*time.Hour)
	want := V1Suite{aes256CBC, suite.PRFHMACSHA1, 14, 15840 * time.Second}
	if err != nil || s != want {
		t.Fatalf("phase 1: %v, %v; want %v", s, err, want)
	}
	if s.String() != "aes256-sha1-modp2048" {
		t.Errorf("String() = %q", s)
	}

	var qm isakmp.SA
	for _, pl := range v1Chain(t, 8, unhex(t, swanV1.qm1PT)) {
		if pl.typ == 1 {
			if err := qm.DecodeFromBytes(pl.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	prop, esp, pfs, mode, life, err := SelectV1ESP(qm.Proposals, p, 0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if esp != swanESP || pfs != 0 || mode != isakmp.EncapUDPTunnel || life != time.Hour || string(prop.SPI) != "\xe5\x53\xe8\xd7" {
		t.Errorf("quick mode: %v pfs %d mode %d life %v SPI %x", esp, pfs, mode, life, prop.SPI)
	}
	_, _, _, _, _, err = SelectV1ESP(qm.Proposals, mustPolicy(t, []string{"aes128-gcm-16"}, []string{"sha1"}, nil), 0, time.Hour)
	if err == nil || !strings.Contains(err.Error(), "peer offered ESP:aes256-sha1-udp-tunnel(3960s) (no KE payload); we accept encryption aes128-gcm-16; integrity sha1; dh groups none, tunnel mode") {
		t.Errorf("err = %v", err)
	}
}
