// Package suite names the algorithms that ike negotiates and esp runs, so the
// two packages agree on identifiers without importing each other. It holds
// identifiers and sizes only, no cryptography.
package suite

import "fmt"

// Encr is an IKEv2 encryption transform ID (RFC 7296 §3.3.2, IANA "Transform Type 1").
type Encr uint16

const (
	EncrAESCBC   Encr = 12
	EncrAESGCM16 Encr = 20
)

// Integ is an IKEv2 integrity transform ID (IANA "Transform Type 3").
type Integ uint16

const (
	IntegNone          Integ = 0
	IntegHMACSHA1_96   Integ = 2
	IntegHMACSHA256128 Integ = 12
	IntegHMACSHA384192 Integ = 13
	IntegHMACSHA512256 Integ = 14
)

// PRF is an IKEv2 pseudo-random function ID (IANA "Transform Type 2").
type PRF uint16

const (
	PRFHMACSHA1   PRF = 2
	PRFHMACSHA256 PRF = 5
	PRFHMACSHA384 PRF = 6
	PRFHMACSHA512 PRF = 7
)

// DHGroup is a Diffie-Hellman group number (IANA "Transform Type 4").
type DHGroup uint16

// Cipher is an encryption algorithm with its key size.
type Cipher struct {
	Encr    Encr
	KeyBits int // 128 or 256
}

// IsAEAD reports whether the cipher carries its own integrity check.
func (c Cipher) IsAEAD() bool { return c.Encr == EncrAESGCM16 }

// KeyLen is the number of key bytes the cipher takes from the key material,
// including the 4-byte salt of AES-GCM (RFC 4106 §8.1, RFC 5282 §7).
func (c Cipher) KeyLen() int {
	n := c.KeyBits / 8
	if c.IsAEAD() {
		n += 4
	}
	return n
}

func (c Cipher) String() string {
	switch c.Encr {
	case EncrAESCBC:
		return fmt.Sprintf("aes%d", c.KeyBits)
	case EncrAESGCM16:
		return fmt.Sprintf("aes%d-gcm-16", c.KeyBits)
	}
	return fmt.Sprintf("encr%d/%d", c.Encr, c.KeyBits)
}

// KeyLen is the HMAC key length in bytes (RFC 4868 §2.1.2: the hash output size).
func (i Integ) KeyLen() int {
	switch i {
	case IntegHMACSHA1_96:
		return 20
	case IntegHMACSHA256128:
		return 32
	case IntegHMACSHA384192:
		return 48
	case IntegHMACSHA512256:
		return 64
	}
	return 0
}

// ICVLen is the truncated MAC length in bytes carried on the wire.
func (i Integ) ICVLen() int {
	switch i {
	case IntegHMACSHA1_96:
		return 12
	case IntegHMACSHA256128:
		return 16
	case IntegHMACSHA384192:
		return 24
	case IntegHMACSHA512256:
		return 32
	}
	return 0
}

func (i Integ) String() string {
	switch i {
	case IntegNone:
		return "none"
	case IntegHMACSHA1_96:
		return "sha1"
	case IntegHMACSHA256128:
		return "sha2-256"
	case IntegHMACSHA384192:
		return "sha2-384"
	case IntegHMACSHA512256:
		return "sha2-512"
	}
	return fmt.Sprintf("integ%d", uint16(i))
}

func (p PRF) String() string {
	switch p {
	case PRFHMACSHA1:
		return "prf-sha1"
	case PRFHMACSHA256:
		return "prf-sha2-256"
	case PRFHMACSHA384:
		return "prf-sha2-384"
	case PRFHMACSHA512:
		return "prf-sha2-512"
	}
	return fmt.Sprintf("prf%d", uint16(p))
}

// ESP is the algorithm set of one ESP SA.
type ESP struct {
	Cipher Cipher
	Integ  Integ // IntegNone with an AEAD cipher
}

func (e ESP) String() string {
	if e.Cipher.IsAEAD() {
		return e.Cipher.String()
	}
	return e.Cipher.String() + "-" + e.Integ.String()
}

// Names used in the configuration file (AWS's tunnel option names).
var (
	CipherNames = map[string]Cipher{
		"aes128":        {EncrAESCBC, 128},
		"aes256":        {EncrAESCBC, 256},
		"aes128-gcm-16": {EncrAESGCM16, 128},
		"aes256-gcm-16": {EncrAESGCM16, 256},
	}
	IntegNames = map[string]Integ{
		"sha1":     IntegHMACSHA1_96,
		"sha2-256": IntegHMACSHA256128,
		"sha2-384": IntegHMACSHA384192,
		"sha2-512": IntegHMACSHA512256,
	}
	// PRFForInteg pairs each integrity name with the PRF of the same hash,
	// as AWS's phase 1 "integrity" option selects both.
	PRFForInteg = map[Integ]PRF{
		IntegHMACSHA1_96:   PRFHMACSHA1,
		IntegHMACSHA256128: PRFHMACSHA256,
		IntegHMACSHA384192: PRFHMACSHA384,
		IntegHMACSHA512256: PRFHMACSHA512,
	}
)
