package ike

import (
	"bytes"
	"crypto/ecdh"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"

	"github.com/vpgw/vpgw/suite"
)

// DH is one side's ephemeral Diffie-Hellman key for one exchange. Public is
// the KE payload's Key Exchange Data; SharedSecret is g^ir as IKEv2 uses it
// (fixed length: the prime's length for MODP, the x coordinate for ECP).
type DH interface {
	Group() suite.DHGroup
	Public() []byte
	SharedSecret(peerPublic []byte) ([]byte, error)
}

// ErrBadPublic is returned by SharedSecret when the peer's public value is
// malformed or fails validation (wrong length, out of range, not on the
// curve, outside the subgroup, or giving a degenerate secret).
var ErrBadPublic = errors.New("ike: invalid peer DH public value")

// IKE Diffie-Hellman group numbers (IANA "Transform Type 4").
const (
	GroupMODP768      suite.DHGroup = 1
	GroupMODP1024     suite.DHGroup = 2
	GroupMODP1536     suite.DHGroup = 5
	GroupMODP2048     suite.DHGroup = 14
	GroupMODP3072     suite.DHGroup = 15
	GroupMODP4096     suite.DHGroup = 16
	GroupMODP6144     suite.DHGroup = 17
	GroupMODP8192     suite.DHGroup = 18
	GroupECP256       suite.DHGroup = 19
	GroupECP384       suite.DHGroup = 20
	GroupECP521       suite.DHGroup = 21
	GroupMODP1024S160 suite.DHGroup = 22
	GroupMODP2048S224 suite.DHGroup = 23
	GroupMODP2048S256 suite.DHGroup = 24
	GroupCurve25519   suite.DHGroup = 31
)

// modpGroup is a MODP group. Groups with a known subgroup order q (RFC 5114)
// take exponents in [1, q-1] and check peers against the subgroup; the safe
// primes take short exponents of expBits bits, far cheaper than full-length
// ones: from 2048 bits up at least what RFC 7919 (appendix A) asks of the
// same-sized ffdhe groups (225, 275, 325, 375, 400 bits), rounded up to a
// multiple of 32; the legacy groups below that twice RFC 3526 §8's
// strength estimate.
type modpGroup struct {
	p, g, q *big.Int
	expBits int

	combOnce sync.Once
	comb     [][]big.Int // powers of g for public values (dh_comb.go)
}

var modpGroups = map[suite.DHGroup]*modpGroup{
	GroupMODP768:      safePrime(modp768P, 256),
	GroupMODP1024:     safePrime(modp1024P, 256),
	GroupMODP1536:     safePrime(modp1536P, 240),
	GroupMODP2048:     safePrime(modp2048P, 256),
	GroupMODP3072:     safePrime(modp3072P, 288),
	GroupMODP4096:     safePrime(modp4096P, 352),
	GroupMODP6144:     safePrime(modp6144P, 384),
	GroupMODP8192:     safePrime(modp8192P, 416),
	GroupMODP1024S160: subgroupPrime(modp1024s160P, modp1024s160G, modp1024s160Q),
	GroupMODP2048S224: subgroupPrime(modp2048s224P, modp2048s224G, modp2048s224Q),
	GroupMODP2048S256: subgroupPrime(modp2048s256P, modp2048s256G, modp2048s256Q),
}

func mustHex(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("ike: bad group constant")
	}
	return n
}

func safePrime(p string, expBits int) *modpGroup {
	return &modpGroup{p: mustHex(p), g: big.NewInt(2), expBits: expBits}
}

func subgroupPrime(p, g, q string) *modpGroup {
	return &modpGroup{p: mustHex(p), g: mustHex(g), q: mustHex(q)}
}

func (m *modpGroup) size() int { return (m.p.BitLen() + 7) / 8 }

func ecdhCurve(g suite.DHGroup) ecdh.Curve {
	switch g {
	case GroupECP256:
		return ecdh.P256()
	case GroupECP384:
		return ecdh.P384()
	case GroupECP521:
		return ecdh.P521()
	case GroupCurve25519:
		return ecdh.X25519()
	}
	return nil
}

// coordLen is the byte length of one ECP coordinate (RFC 5903 §7) or of an
// X25519 key.
func coordLen(g suite.DHGroup) int {
	switch g {
	case GroupECP256, GroupCurve25519:
		return 32
	case GroupECP384:
		return 48
	case GroupECP521:
		return 66
	}
	return 0
}

// SupportedGroup reports whether NewDH accepts g.
func SupportedGroup(g suite.DHGroup) bool {
	return modpGroups[g] != nil || ecdhCurve(g) != nil
}

// PublicLen is the length of g's Key Exchange Data, 0 if unsupported.
func PublicLen(g suite.DHGroup) int {
	if m := modpGroups[g]; m != nil {
		return m.size()
	}
	switch g {
	case GroupCurve25519:
		return 32
	case GroupECP256, GroupECP384, GroupECP521:
		return 2 * coordLen(g)
	}
	return 0
}

// NewDH makes a fresh key pair in group g. Private values are read from rand
// (not from the crypto/ecdh default source), so a fixed reader gives
// reproducible exchanges in tests.
func NewDH(g suite.DHGroup, rand io.Reader) (DH, error) {
	if m := modpGroups[g]; m != nil {
		x, err := m.randomExponent(rand)
		if err != nil {
			return nil, err
		}
		return newMODP(g, m, x), nil
	}
	c := ecdhCurve(g)
	if c == nil {
		return nil, fmt.Errorf("ike: unsupported DH group %d", g)
	}
	buf := make([]byte, coordLen(g))
	// Rejection sampling: NewPrivateKey refuses 0 and scalars >= the order,
	// which for these curves happens with negligible probability.
	for range 100 {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("ike: DH private key: %w", err)
		}
		if g == GroupECP521 {
			buf[0] &= 0x01 // 521 bits in 66 bytes
		}
		if priv, err := c.NewPrivateKey(buf); err == nil {
			return newECDH(g, priv), nil
		}
	}
	return nil, errors.New("ike: DH private key: random source looks broken")
}

// newDHFromPrivate builds a key pair from a fixed private value (a big-endian
// MODP exponent or an ECP/X25519 private key). Tests use it for RFC vectors.
func newDHFromPrivate(g suite.DHGroup, priv []byte) (DH, error) {
	if m := modpGroups[g]; m != nil {
		return newMODP(g, m, new(big.Int).SetBytes(priv)), nil
	}
	c := ecdhCurve(g)
	if c == nil {
		return nil, fmt.Errorf("ike: unsupported DH group %d", g)
	}
	k, err := c.NewPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return newECDH(g, k), nil
}

func (m *modpGroup) randomExponent(rand io.Reader) (*big.Int, error) {
	bits := m.expBits
	if m.q != nil {
		bits = m.q.BitLen()
	}
	buf := make([]byte, (bits+7)/8)
	x := new(big.Int)
	for range 100 {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("ike: DH private key: %w", err)
		}
		if extra := len(buf)*8 - bits; extra > 0 {
			buf[0] &= 0xff >> extra
		}
		x.SetBytes(buf)
		if m.q != nil && x.Cmp(m.q) >= 0 {
			continue
		}
		if x.BitLen() > 1 { // x >= 2
			return x, nil
		}
	}
	return nil, errors.New("ike: DH private key: random source looks broken")
}

type modpDH struct {
	group suite.DHGroup
	m     *modpGroup
	x     *big.Int
	pub   []byte
}

func newMODP(g suite.DHGroup, m *modpGroup, x *big.Int) *modpDH {
	y := m.powG(x)
	return &modpDH{group: g, m: m, x: x, pub: y.FillBytes(make([]byte, m.size()))}
}

func (d *modpDH) Group() suite.DHGroup { return d.group }
func (d *modpDH) Public() []byte       { return bytes.Clone(d.pub) }

func (d *modpDH) SharedSecret(peer []byte) ([]byte, error) {
	m := d.m
	// RFC 7296 §3.4: the value is left-padded to the prime's length.
	if len(peer) != m.size() {
		return nil, fmt.Errorf("%w: %d bytes, group %d wants %d", ErrBadPublic, len(peer), d.group, m.size())
	}
	y := new(big.Int).SetBytes(peer)
	pMinus1 := new(big.Int).Sub(m.p, big.NewInt(1))
	// 1 < y < p-1 rules out the trivial subgroups {1} and {1, p-1}.
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pMinus1) >= 0 {
		return nil, fmt.Errorf("%w: out of range", ErrBadPublic)
	}
	// Groups with small-order subgroups must be checked for membership in the
	// prime-order subgroup (RFC 6989 §2.2).
	if m.q != nil && new(big.Int).Exp(y, m.q, m.p).Cmp(big.NewInt(1)) != 0 {
		return nil, fmt.Errorf("%w: not in the prime-order subgroup", ErrBadPublic)
	}
	z := new(big.Int).Exp(y, d.x, m.p)
	if z.Cmp(big.NewInt(1)) == 0 {
		return nil, fmt.Errorf("%w: degenerate shared secret", ErrBadPublic)
	}
	return z.FillBytes(make([]byte, m.size())), nil
}

type ecdhDH struct {
	group suite.DHGroup
	priv  *ecdh.PrivateKey
	pub   []byte
}

func newECDH(g suite.DHGroup, priv *ecdh.PrivateKey) *ecdhDH {
	pub := priv.PublicKey().Bytes()
	if g != GroupCurve25519 {
		pub = pub[1:] // RFC 5903 §7: x || y, without SEC 1's 0x04 prefix
	}
	return &ecdhDH{group: g, priv: priv, pub: pub}
}

func (d *ecdhDH) Group() suite.DHGroup { return d.group }
func (d *ecdhDH) Public() []byte       { return bytes.Clone(d.pub) }

func (d *ecdhDH) SharedSecret(peer []byte) ([]byte, error) {
	if len(peer) != len(d.pub) {
		return nil, fmt.Errorf("%w: %d bytes, group %d wants %d", ErrBadPublic, len(peer), d.group, len(d.pub))
	}
	raw := peer
	if d.group != GroupCurve25519 {
		raw = append([]byte{4}, peer...)
	}
	// NewPublicKey checks that an ECP point is on the curve.
	pk, err := d.priv.Curve().NewPublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPublic, err)
	}
	z, err := d.priv.ECDH(pk)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPublic, err)
	}
	// RFC 8031 §2.3: an all-zero X25519 result (low-order peer point) MUST
	// be rejected; crypto/ecdh already does, this keeps the rule visible.
	if subtle.ConstantTimeCompare(z, make([]byte, len(z))) == 1 {
		return nil, fmt.Errorf("%w: all-zero shared secret", ErrBadPublic)
	}
	return z, nil
}
