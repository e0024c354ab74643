package ike

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vpgw/vpgw/suite"
)

// HMAC known answers through NewPRF: RFC 2202 §3 (HMAC-SHA-1) and RFC 4231
// §4 (HMAC-SHA-256/384/512).
func TestNewPRFKnownAnswers(t *testing.T) {
	hiThere := []byte("Hi There")
	jefe := []byte("what do ya want for nothing?")
	bigKeyData := []byte("Test Using Larger Than Block-Size Key - Hash Key First")
	tests := []struct {
		name      string
		prf       suite.PRF
		key, data []byte
		want      string
	}{
		{"RFC2202 case 1", suite.PRFHMACSHA1, bytes.Repeat([]byte{0x0b}, 20), hiThere,
			"b617318655057264e28bc0b6fb378c8ef146be00"},
		{"RFC2202 case 2", suite.PRFHMACSHA1, []byte("Jefe"), jefe,
			"effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
		{"RFC2202 case 6", suite.PRFHMACSHA1, bytes.Repeat([]byte{0xaa}, 80), bigKeyData,
			"aa4ae5e15272d00e95705637ce8a3b55ed402112"},
		{"RFC4231 case 1 sha256", suite.PRFHMACSHA256, bytes.Repeat([]byte{0x0b}, 20), hiThere,
			"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"RFC4231 case 2 sha256", suite.PRFHMACSHA256, []byte("Jefe"), jefe,
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"RFC4231 case 6 sha256", suite.PRFHMACSHA256, bytes.Repeat([]byte{0xaa}, 131), bigKeyData,
			"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
		{"RFC4231 case 1 sha384", suite.PRFHMACSHA384, bytes.Repeat([]byte{0x0b}, 20), hiThere,
			"afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"},
		{"RFC4231 case 2 sha384", suite.PRFHMACSHA384, []byte("Jefe"), jefe,
			"af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"},
		{"RFC4231 case 1 sha512", suite.PRFHMACSHA512, bytes.Repeat([]byte{0x0b}, 20), hiThere,
			"87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
		{"RFC4231 case 2 sha512", suite.PRFHMACSHA512, []byte("Jefe"), jefe,
			"164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPRF(tt.prf)
			if err != nil {
				t.Fatal(err)
			}
			got := p.Sum(tt.key, tt.data)
			if want := unhex(t, tt.want); !bytes.Equal(got, want) {
				t.Errorf("got %x, want %x", got, want)
			}
			if p.Size() != len(got) {
				t.Errorf("Size() = %d, output %d bytes", p.Size(), len(got))
			}
		})
	}
	if _, err := NewPRF(suite.PRF(4)); err == nil { // AES128-XCBC: not supported
		t.Error("NewPRF(4) succeeded")
	}
}

// RFC 4868 §2.7.2: the authenticator test cases, truncated as the integrity
// transforms do (HMAC-SHA-256-128, -384-192, -512-256). The key is as long as
// the hash output (RFC 4868 §2.1.2). Checked through Protector's ICV code.
func TestIntegTruncationRFC4868(t *testing.T) {
	hiThere := []byte("Hi There")
	jefe := []byte("what do ya want for nothing?")
	tests := []struct {
		name      string
		integ     suite.Integ
		key, data []byte
		full      string
	}{
		{"AUTH256-1", suite.IntegHMACSHA256128, bytes.Repeat([]byte{0x0b}, 32), hiThere,
			"198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"},
		{"AUTH256-2", suite.IntegHMACSHA256128, []byte(strings.Repeat("Jefe", 8)), jefe,
			"167f928588c5cc2eef8e3093caa0e87c9ff566a14794aa61648d81621a2a40c6"},
		{"AUTH256-3", suite.IntegHMACSHA256128, bytes.Repeat([]byte{0xaa}, 32), bytes.Repeat([]byte{0xdd}, 50),
			"cdcb1220d1ecccea91e53aba3092f962e549fe6ce9ed7fdc43191fbde45c30b0"},
		{"AUTH256-4", suite.IntegHMACSHA256128, unhex(t, "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"), bytes.Repeat([]byte{0xcd}, 50),
			"372efcf9b40b35c2115b1346903d2ef42fced46f0846e7257bb156d3d7b30d3f"},
		{"AUTH384-1", suite.IntegHMACSHA384192, bytes.Repeat([]byte{0x0b}, 48), hiThere,
			"b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee9737a959796489bddbc4c5df61d5b3297b4fb68dab9f1b582c2"},
		{"AUTH384-2", suite.IntegHMACSHA384192, []byte(strings.Repeat("Jefe", 12)), jefe,
			"2c7353974f1842fd66d53c452ca42122b28c0b594cfb184da86a368e9b8e16f5349524ca4e82400cbde0686d403371c9"},
		{"AUTH512-1", suite.IntegHMACSHA512256, bytes.Repeat([]byte{0x0b}, 64), hiThere,
			"637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8ac2878ebd5803f6f0b61dbce5e251ff8789a4722c1be65aea45fd464e89f8f5b"},
		{"AUTH512-2", suite.IntegHMACSHA512256, []byte(strings.Repeat("Jefe", 16)), jefe,
			"cb370917ae8a7ce28cfd1d8f4705d6141c173b2a9362c15df235dfb251b154546aa334ae9fb9afc2184932d8695e397bfa0ffb93466cfcceaae38c833b7dba38"},
		// HMAC-SHA1-96 (RFC 2404), RFC 2202 case 1 with a 20-byte key.
		{"SHA1-96", suite.IntegHMACSHA1_96, bytes.Repeat([]byte{0x0b}, 20), hiThere,
			"b617318655057264e28bc0b6fb378c8ef146be00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewProtector(suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 128}, tt.integ, make([]byte, 16), tt.key)
			if err != nil {
				t.Fatal(err)
			}
			got := p.icv(tt.data, nil)
			want := unhex(t, tt.full)[:tt.integ.ICVLen()]
			if !bytes.Equal(got, want) {
				t.Errorf("ICV %x, want %x", got, want)
			}
		})
	}
}

// prf+ per RFC 7296 §2.13, checked against a direct expansion and for its
// output being a prefix-stable stream.
func TestPRFPlus(t *testing.T) {
	p, _ := NewPRF(suite.PRFHMACSHA256)
	key, seed := []byte("key"), []byte("seed")
	t1 := p.Sum(key, append(append([]byte{}, seed...), 1))
	t2 := p.Sum(key, append(append(append([]byte{}, t1...), seed...), 2))
	t3 := p.Sum(key, append(append(append([]byte{}, t2...), seed...), 3))
	want := append(append(append([]byte{}, t1...), t2...), t3...)
	for _, n := range []int{0, 1, 32, 33, 64, 96} {
		if got := PRFPlus(p, key, seed, n); !bytes.Equal(got, want[:n]) {
			t.Errorf("n=%d: got %x, want %x", n, got, want[:n])
		}
	}
}
