package ike

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"

	"github.com/vpgw/vpgw/suite"
)

// PRF is an IKEv2 pseudo-random function (RFC 7296 §2.13). All supported
// PRFs are HMACs, which take keys of any length.
type PRF interface {
	Sum(key, data []byte) []byte
	Size() int
}

type hmacPRF struct {
	newHash func() hash.Hash
	size    int
}

func (p hmacPRF) Sum(key, data []byte) []byte {
	m := hmac.New(p.newHash, key)
	m.Write(data)
	return m.Sum(nil)
}

func (p hmacPRF) Size() int { return p.size }

// NewPRF returns the PRF for an IKEv2 PRF transform ID.
func NewPRF(id suite.PRF) (PRF, error) {
	switch id {
	case suite.PRFHMACSHA1:
		return hmacPRF{sha1.New, sha1.Size}, nil
	case suite.PRFHMACSHA256:
		return hmacPRF{sha256.New, sha256.Size}, nil
	case suite.PRFHMACSHA384:
		return hmacPRF{sha512.New384, sha512.Size384}, nil
	case suite.PRFHMACSHA512:
		return hmacPRF{sha512.New, sha512.Size}, nil
	}
	return nil, fmt.Errorf("ike: unsupported PRF %v", id)
}

// integHash returns the hash behind an HMAC integrity transform.
func integHash(i suite.Integ) (func() hash.Hash, error) {
	switch i {
	case suite.IntegHMACSHA1_96:
		return sha1.New, nil
	case suite.IntegHMACSHA256128:
		return sha256.New, nil
	case suite.IntegHMACSHA384192:
		return sha512.New384, nil
	case suite.IntegHMACSHA512256:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("ike: unsupported integrity transform %v", i)
}

// PRFPlus is prf+ of RFC 7296 §2.13:
//
//	prf+ (K,S) = T1 | T2 | T3 | ...
//	T1 = prf (K, S | 0x01), Tn = prf (K, Tn-1 | S | n)
//
// truncated to n bytes. The counter is one octet, so at most 255 blocks can
// be produced; IKE never needs more, and asking for more panics.
func PRFPlus(p PRF, key, seed []byte, n int) []byte {
	size := p.Size()
	if n > 255*size {
		panic("ike: prf+ output longer than 255 blocks")
	}
	out := make([]byte, 0, n+size)
	var t []byte
	buf := make([]byte, 0, size+len(seed)+1)
	for i := 1; len(out) < n; i++ {
		buf = append(append(append(buf[:0], t...), seed...), byte(i))
		t = p.Sum(key, buf)
		out = append(out, t...)
	}
	return out[:n]
}
