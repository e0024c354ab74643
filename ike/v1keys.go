package ike

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"time"

	"github.com/vpgw/vpgw/suite"
)

// IKEv1 key material (RFC 2409 §5 and Appendix B). IKEv1 has no separate
// PRF transform: its prf is the HMAC of the negotiated hash, so a phase-1
// suite names the hash by its IKEv2 PRF ID (SHA1 → PRFHMACSHA1, ...).

// V1Suite is the algorithm set of an IKEv1 phase-1 (ISAKMP) SA.
type V1Suite struct {
	Cipher   suite.Cipher // AES-CBC 128/256; GCM is ESP-only in IKEv1
	Hash     suite.PRF    // HMAC of the negotiated hash: IKEv1's prf
	DH       suite.DHGroup
	Lifetime time.Duration // as chosen by SelectV1IKE (the peer's, capped to ours)
}

// String names the suite as strongSwan's IKEv1 proposals do, e.g.
// "aes256-sha1-modp2048".
func (s V1Suite) String() string {
	return s.Cipher.String() + "-" + v1HashName(s.Hash) + "-" + GroupName(s.DH)
}

// v1HashName is the configuration's name for a hash ("sha1", "sha2-256").
func v1HashName(p suite.PRF) string {
	for i, q := range suite.PRFForInteg {
		if q == p {
			return i.String()
		}
	}
	return fmt.Sprintf("hash%d", uint16(p))
}

// V1Keys are the secrets of an IKEv1 phase-1 SA.
type V1Keys struct {
	SKEYID  []byte
	SKEYIDd []byte // derives quick mode KEYMAT
	SKEYIDa []byte // authenticates phase-2 and informational messages
	SKEYIDe []byte
	EncKey  []byte // Ka: SKEYID_e cut or extended (Appendix B) to the cipher's key length
}

// String and GoString keep key bytes out of logs.
func (k *V1Keys) String() string   { return "ike.V1Keys{redacted}" }
func (k *V1Keys) GoString() string { return k.String() }

// Zero overwrites the keys; call it when the SA is deleted.
func (k *V1Keys) Zero() {
	for _, b := range [][]byte{k.SKEYID, k.SKEYIDd, k.SKEYIDa, k.SKEYIDe, k.EncKey} {
		clear(b)
	}
}

// v1Hash returns the hash function behind an IKEv1 prf; IVs use the bare
// hash, not the HMAC (RFC 2409 Appendix B).
func v1Hash(p suite.PRF) (func() hash.Hash, error) {
	switch p {
	case suite.PRFHMACSHA1:
		return sha1.New, nil
	case suite.PRFHMACSHA256:
		return sha256.New, nil
	case suite.PRFHMACSHA384:
		return sha512.New384, nil
	case suite.PRFHMACSHA512:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("ike: unsupported IKEv1 hash %v", p)
}

// mustV1PRF is NewPRF for functions whose suite was validated by selection;
// an unknown ID there is a programming error.
func mustV1PRF(p suite.PRF) PRF {
	prf, err := NewPRF(p)
	if err != nil {
		panic(err)
	}
	return prf
}

func cookies(ckyI, ckyR uint64) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], ckyI)
	binary.BigEndian.PutUint64(b[8:], ckyR)
	return b[:]
}

// DeriveV1Keys computes the phase-1 keys for pre-shared key authentication
// (RFC 2409 §5):
//
//	SKEYID   = prf(pre-shared-key, Ni_b | Nr_b)
//	SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
//	SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
//	SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
//
// and the encryption key Ka from SKEYID_e (Appendix B). ni and nr are the
// nonce payload bodies, gxy the shared secret as DH.SharedSecret returns it.
func DeriveV1Keys(s V1Suite, psk, ni, nr, gxy []byte, ckyI, ckyR uint64) (*V1Keys, error) {
	prf, err := NewPRF(s.Hash)
	if err != nil {
		return nil, err
	}
	if err := checkV1Cipher(s.Cipher); err != nil {
		return nil, err
	}
	skeyid := prf.Sum(psk, concat(ni, nr))
	k := v1KeysFromSKEYID(prf, skeyid, gxy, ckyI, ckyR)
	k.EncKey = v1ExtendKey(prf, k.SKEYIDe, s.Cipher.KeyLen())
	return k, nil
}

// v1KeysFromSKEYID derives SKEYID_d, _a and _e; this part is the same for
// every authentication method.
func v1KeysFromSKEYID(prf PRF, skeyid, gxy []byte, ckyI, ckyR uint64) *V1Keys {
	cky := cookies(ckyI, ckyR)
	d := prf.Sum(skeyid, concat(gxy, cky, []byte{0}))
	a := prf.Sum(skeyid, concat(d, gxy, cky, []byte{1}))
	e := prf.Sum(skeyid, concat(a, gxy, cky, []byte{2}))
	return &V1Keys{SKEYID: skeyid, SKEYIDd: d, SKEYIDa: a, SKEYIDe: e}
}

// v1ExtendKey is Appendix B's key stretching: SKEYID_e's first n bytes when
// it is long enough, else the first n bytes of
//
//	Ka = K1 | K2 | K3 ...,  K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, K(n-1))
//
// with "0" one zero octet (as strongSwan, libreswan and NSS do).
func v1ExtendKey(prf PRF, skeyidE []byte, n int) []byte {
	if len(skeyidE) >= n {
		return append([]byte(nil), skeyidE[:n]...)
	}
	return v1Expand(prf, skeyidE, []byte{0}, nil, n)
}

// v1Expand returns n bytes of K1 | K2 | ... with K1 = prf(key, first) and
// Kn = prf(key, K(n-1) | seed): Appendix B's form (seed empty) and quick
// mode's KEYMAT form (first = seed) in one.
func v1Expand(prf PRF, key, first, seed []byte, n int) []byte {
	out := make([]byte, 0, n+prf.Size())
	k := prf.Sum(key, first)
	out = append(out, k...)
	buf := make([]byte, 0, prf.Size()+len(seed))
	for len(out) < n {
		buf = append(append(buf[:0], k...), seed...)
		k = prf.Sum(key, buf)
		out = append(out, k...)
	}
	return out[:n:n]
}

// V1KeyMat computes n bytes of quick mode keying material for one SA
// direction (RFC 2409 §5.5):
//
//	KEYMAT = K1 | K2 | K3 | ...
//	K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
//	Kn = prf(SKEYID_d, K(n-1) | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)
//
// gqmxy is nil without PFS. spi is the receiver's SPI: ours for the inbound
// SA, the peer's for the outbound one. ni and nr are the quick mode nonce
// bodies. protocol is 3 for ESP.
func V1KeyMat(prfID suite.PRF, skeyidD, gqmxy []byte, protocol uint8, spi uint32, ni, nr []byte, n int) []byte {
	var ps [5]byte
	ps[0] = protocol
	binary.BigEndian.PutUint32(ps[1:], spi)
	seed := concat(gqmxy, ps[:], ni, nr)
	return v1Expand(mustV1PRF(prfID), skeyidD, seed, seed, n)
}

// V1KeyMatLen is how many KEYMAT bytes one direction of esp takes.
func V1KeyMatLen(esp suite.ESP) int { return esp.Cipher.KeyLen() + esp.Integ.KeyLen() }

// V1ChildKeys splits each direction's KEYMAT into the encryption key (with
// the 4-byte salt at its end for AES-GCM, RFC 4106 §8.1) and the integrity
// key, in that order (RFC 2407 §4.5.2 via RFC 2409 §5.5). Each KEYMAT must
// hold at least V1KeyMatLen(esp) bytes.
func V1ChildKeys(keymatIn, keymatOut []byte, esp suite.ESP) (in, out ChildKeys) {
	split := func(km []byte) ChildKeys {
		el, al := esp.Cipher.KeyLen(), esp.Integ.KeyLen()
		k := ChildKeys{Encr: append([]byte(nil), km[:el]...)}
		if al > 0 {
			k.Integ = append([]byte(nil), km[el:el+al]...)
		}
		return k
	}
	return split(keymatIn), split(keymatOut)
}

// DeriveV1ChildKeys computes both directions' ESP keys of a quick mode
// exchange: inbound with inSPI (ours), outbound with outSPI (the peer's).
// gqmxy is nil without PFS.
func DeriveV1ChildKeys(prfID suite.PRF, skeyidD, gqmxy, ni, nr []byte, inSPI, outSPI uint32, esp suite.ESP) (in, out ChildKeys, err error) {
	if _, err := NewPRF(prfID); err != nil {
		return ChildKeys{}, ChildKeys{}, err
	}
	if err := checkCipher(esp.Cipher, esp.Integ); err != nil {
		return ChildKeys{}, ChildKeys{}, err
	}
	n := V1KeyMatLen(esp)
	const protoESP = 3
	kin := V1KeyMat(prfID, skeyidD, gqmxy, protoESP, inSPI, ni, nr, n)
	kout := V1KeyMat(prfID, skeyidD, gqmxy, protoESP, outSPI, ni, nr, n)
	defer clear(kin)
	defer clear(kout)
	in, out = V1ChildKeys(kin, kout, esp)
	return in, out, nil
}

// V1Phase1IV is the IV of the first encrypted phase-1 message (RFC 2409
// Appendix B): hash(g^xi | g^xr) with the negotiated hash itself (not its
// HMAC), cut to the cipher's block size. gxi and gxr are the KE payload bodies.
func V1Phase1IV(hashID suite.PRF, gxi, gxr []byte, blockSize int) []byte {
	return v1IV(hashID, blockSize, gxi, gxr)
}

// V1PhaseIV is the first IV of a quick mode or informational exchange
// (RFC 2409 Appendix B): hash(last CBC block of the last phase-1 message |
// M-ID), cut to the block size. Later messages of that exchange chain on
// the last ciphertext block of the previous one.
func V1PhaseIV(hashID suite.PRF, lastPhase1Block []byte, msgID uint32, blockSize int) []byte {
	var mid [4]byte
	binary.BigEndian.PutUint32(mid[:], msgID)
	return v1IV(hashID, blockSize, lastPhase1Block, mid[:])
}

func v1IV(hashID suite.PRF, blockSize int, parts ...[]byte) []byte {
	newHash, err := v1Hash(hashID)
	if err != nil {
		panic(err)
	}
	h := newHash()
	for _, p := range parts {
		h.Write(p)
	}
	sum := h.Sum(nil)
	if blockSize > len(sum) {
		panic("ike: IKEv1 hash shorter than the cipher block")
	}
	return sum[:blockSize:blockSize]
}
