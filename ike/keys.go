package ike

import (
	"encoding/binary"
	"fmt"

	"github.com/vpgw/vpgw/suite"
)

// IKESuite is the algorithm set of one IKE SA.
type IKESuite struct {
	Cipher suite.Cipher
	Integ  suite.Integ // IntegNone with an AEAD cipher
	PRF    suite.PRF
	DH     suite.DHGroup
}

// String names the suite as strongSwan does, e.g.
// "aes128-sha2-256-prf-sha2-256-modp2048" or "aes256-gcm-16-prf-sha2-384-ecp384".
func (s IKESuite) String() string {
	out := s.Cipher.String()
	if !s.Cipher.IsAEAD() || s.Integ != suite.IntegNone {
		out += "-" + s.Integ.String()
	}
	return out + "-" + s.PRF.String() + "-" + GroupName(s.DH)
}

// GroupName is strongSwan's name for a DH group ("modp2048", "ecp256",
// "curve25519"), or "dhN" for groups it does not know.
func GroupName(g suite.DHGroup) string {
	switch g {
	case GroupMODP768:
		return "modp768"
	case GroupMODP1024:
		return "modp1024"
	case GroupMODP1536:
		return "modp1536"
	case GroupMODP2048:
		return "modp2048"
	case GroupMODP3072:
		return "modp3072"
	case GroupMODP4096:
		return "modp4096"
	case GroupMODP6144:
		return "modp6144"
	case GroupMODP8192:
		return "modp8192"
	case GroupECP256:
		return "ecp256"
	case GroupECP384:
		return "ecp384"
	case GroupECP521:
		return "ecp521"
	case GroupMODP1024S160:
		return "modp1024s160"
	case GroupMODP2048S224:
		return "modp2048s224"
	case GroupMODP2048S256:
		return "modp2048s256"
	case GroupCurve25519:
		return "curve25519"
	}
	return fmt.Sprintf("dh%d", uint16(g))
}

// IKEKeys are the seven secrets of an IKE SA (RFC 7296 §2.14).
type IKEKeys struct {
	SKd, SKai, SKar, SKei, SKer, SKpi, SKpr []byte
}

// String and GoString keep key bytes out of logs.
func (k *IKEKeys) String() string   { return "ike.IKEKeys{redacted}" }
func (k *IKEKeys) GoString() string { return k.String() }

// Zero overwrites the keys; call it when the SA is deleted or rekeyed.
func (k *IKEKeys) Zero() {
	for _, b := range [][]byte{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr} {
		clear(b)
	}
}

// String and GoString keep key bytes out of logs (ChildKeys lives in events.go).
func (k ChildKeys) String() string   { return "ike.ChildKeys{redacted}" }
func (k ChildKeys) GoString() string { return k.String() }

// checkCipher rejects algorithm combinations we cannot run.
func checkCipher(c suite.Cipher, i suite.Integ) error {
	switch c.Encr {
	case suite.EncrAESCBC, suite.EncrAESGCM16:
	default:
		return fmt.Errorf("ike: unsupported cipher %v", c)
	}
	switch c.KeyBits {
	case 128, 192, 256:
	default:
		return fmt.Errorf("ike: unsupported key size %v", c)
	}
	if c.IsAEAD() {
		if i != suite.IntegNone {
			return fmt.Errorf("ike: %v takes no integrity transform, got %v", c, i)
		}
		return nil
	}
	if _, err := integHash(i); err != nil {
		return err
	}
	return nil
}

// DeriveIKEKeys computes an IKE SA's keys from the IKE_SA_INIT exchange
// (RFC 7296 §2.14):
//
//	SKEYSEED = prf(Ni | Nr, g^ir)
//	{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
//
// ni and nr are the nonce payload bodies; all our PRFs are HMACs and take the
// whole Ni | Nr as key.
func DeriveIKEKeys(s IKESuite, ni, nr, gir []byte, spii, spir uint64) (*IKEKeys, error) {
	prf, err := NewPRF(s.PRF)
	if err != nil {
		return nil, err
	}
	skeyseed := prf.Sum(concat(ni, nr), gir)
	defer clear(skeyseed)
	return expandIKEKeys(s, prf, skeyseed, ni, nr, spii, spir)
}

// DeriveRekeyedIKEKeys computes the keys of an IKE SA that replaces an old
// one through CREATE_CHILD_SA (RFC 7296 §2.18):
//
//	SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
//
// with the old SA's PRF, then prf+ as in DeriveIKEKeys with the new suite's.
// ni, nr and the SPIs are those of the rekeying exchange.
func DeriveRekeyedIKEKeys(oldPRF suite.PRF, oldSKd []byte, s IKESuite, ni, nr, gir []byte, spii, spir uint64) (*IKEKeys, error) {
	op, err := NewPRF(oldPRF)
	if err != nil {
		return nil, err
	}
	prf, err := NewPRF(s.PRF)
	if err != nil {
		return nil, err
	}
	skeyseed := op.Sum(oldSKd, concat(gir, ni, nr))
	defer clear(skeyseed)
	return expandIKEKeys(s, prf, skeyseed, ni, nr, spii, spir)
}

func expandIKEKeys(s IKESuite, prf PRF, skeyseed, ni, nr []byte, spii, spir uint64) (*IKEKeys, error) {
	if err := checkCipher(s.Cipher, s.Integ); err != nil {
		return nil, err
	}
	var spis [16]byte
	binary.BigEndian.PutUint64(spis[:8], spii)
	binary.BigEndian.PutUint64(spis[8:], spir)
	pl, al, el := prf.Size(), s.Integ.KeyLen(), s.Cipher.KeyLen()
	km := PRFPlus(prf, skeyseed, concat(ni, nr, spis[:]), 3*pl+2*al+2*el)
	k := &IKEKeys{}
	for _, f := range []struct {
		dst *[]byte
		n   int
	}{{&k.SKd, pl}, {&k.SKai, al}, {&k.SKar, al}, {&k.SKei, el}, {&k.SKer, el}, {&k.SKpi, pl}, {&k.SKpr, pl}} {
		*f.dst, km = km[:f.n:f.n], km[f.n:]
	}
	return k, nil
}

// DeriveChildKeys computes a CHILD_SA's keys (RFC 7296 §2.17):
//
//	KEYMAT = prf+(SK_d, [g^ir (new)] | Ni | Nr)
//
// gir is nil without PFS. Keys for initiator-to-responder traffic come first,
// encryption key before integrity key, then those for the other direction.
// Encr includes the 4-byte salt for AES-GCM (RFC 4106 §8.1).
func DeriveChildKeys(prfID suite.PRF, skd, gir, ni, nr []byte, esp suite.ESP) (iToR, rToI ChildKeys, err error) {
	prf, err := NewPRF(prfID)
	if err != nil {
		return ChildKeys{}, ChildKeys{}, err
	}
	if err := checkCipher(esp.Cipher, esp.Integ); err != nil {
		return ChildKeys{}, ChildKeys{}, err
	}
	el, al := esp.Cipher.KeyLen(), esp.Integ.KeyLen()
	km := PRFPlus(prf, skd, concat(gir, ni, nr), 2*(el+al))
	take := func(n int) []byte {
		b := km[:n:n]
		km = km[n:]
		return b
	}
	iToR = ChildKeys{Encr: take(el), Integ: take(al)}
	rToI = ChildKeys{Encr: take(el), Integ: take(al)}
	return iToR, rToI, nil
}

func concat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
