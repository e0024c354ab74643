package ike

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/vpgw/vpgw/suite"
)

// ErrOpen is wrapped by every Protector.Open failure. Callers must drop the
// message silently (RFC 7296 §2.21.1); the wrapped text is for debug logs.
var ErrOpen = errors.New("ike: cannot open SK payload")

// Protector protects SK payload bodies in one direction of an IKE SA:
// AES-CBC with a truncated HMAC (RFC 7296 §3.14) or AES-GCM with a 16-byte
// ICV (RFC 5282). The body is IV | ciphertext | ICV, where the ciphertext
// covers inner payloads | padding | pad length. It holds no per-message
// state, so one value can be used from several goroutines.
type Protector struct {
	cipher suite.Cipher
	integ  suite.Integ

	// AES-CBC + HMAC
	block    cipher.Block
	newHash  func() hash.Hash
	integKey []byte
	icvLen   int

	// AES-GCM
	aead cipher.AEAD
	salt [4]byte
}

const (
	cbcIVLen = aes.BlockSize
	gcmIVLen = 8  // RFC 5282 §3: explicit part of the nonce
	gcmICV   = 16 // ENCR_AES_GCM_16
)

// NewProtector keys one direction: encKey is SK_ei or SK_er (with the 4-byte
// salt at its end for GCM), integKey is SK_ai or SK_ar (empty for GCM).
func NewProtector(c suite.Cipher, i suite.Integ, encKey, integKey []byte) (*Protector, error) {
	if err := checkCipher(c, i); err != nil {
		return nil, err
	}
	if len(encKey) != c.KeyLen() {
		return nil, fmt.Errorf("ike: %v wants a %d-byte key, got %d", c, c.KeyLen(), len(encKey))
	}
	p := &Protector{cipher: c, integ: i}
	if c.IsAEAD() {
		block, err := aes.NewCipher(encKey[:len(encKey)-4])
		if err != nil {
			return nil, err
		}
		// Our nonce is salt | random 8 bytes (RFC 5282 §4), so the
		// crypto/cipher variant that makes its own nonces does not fit.
		p.aead, err = cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		copy(p.salt[:], encKey[len(encKey)-4:])
		return p, nil
	}
	if len(integKey) != i.KeyLen() {
		return nil, fmt.Errorf("ike: %v wants a %d-byte key, got %d", i, i.KeyLen(), len(integKey))
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	p.block = block
	p.newHash, _ = integHash(i)
	p.integKey = append([]byte(nil), integKey...)
	p.icvLen = i.ICVLen()
	return p, nil
}

// SealedLen is the body length Seal produces for a plaintext of n bytes; the
// caller needs it for the header lengths that go into aad.
func (p *Protector) SealedLen(n int) int {
	if p.aead != nil {
		// GCM has a 1-byte block: no padding, just the pad length octet.
		return gcmIVLen + n + 1 + gcmICV
	}
	return cbcIVLen + cbcPaddedLen(n) + p.icvLen
}

// cbcPaddedLen is plaintext + minimal padding + pad length, a whole number
// of blocks.
func cbcPaddedLen(n int) int { return (n + 1 + aes.BlockSize - 1) / aes.BlockSize * aes.BlockSize }

// Seal encrypts plaintext (the inner payload chain) and returns the SK body.
// aad is the IKE header and SK generic header with their final lengths
// (see message.AppendEncryptedHeader). The IV is read from rand; Seal panics
// if rand fails, as crypto/rand never does.
func (p *Protector) Seal(aad, plaintext []byte, rand io.Reader) []byte {
	body := make([]byte, p.SealedLen(len(plaintext)))
	if p.aead != nil {
		iv := body[:gcmIVLen]
		mustRead(rand, iv)
		var nonce [12]byte
		copy(nonce[:4], p.salt[:])
		copy(nonce[4:], iv)
		pt := body[gcmIVLen : gcmIVLen+len(plaintext)+1]
		copy(pt, plaintext)
		pt[len(plaintext)] = 0 // pad length
		p.aead.Seal(pt[:0], nonce[:], pt, aad)
		return body
	}
	iv := body[:cbcIVLen]
	mustRead(rand, iv)
	padded := cbcPaddedLen(len(plaintext))
	ct := body[cbcIVLen : cbcIVLen+padded]
	copy(ct, plaintext)
	// Padding octets are zero (any value is allowed); the last one is the
	// pad length.
	ct[padded-1] = byte(padded - len(plaintext) - 1)
	cipher.NewCBCEncrypter(p.block, iv).CryptBlocks(ct, ct)
	copy(body[cbcIVLen+padded:], p.icv(aad, body[:cbcIVLen+padded]))
	return body
}

// icv is the truncated HMAC over aad | IV | ciphertext (RFC 7296 §3.14: from
// the first octet of the IKE header through the pad length).
func (p *Protector) icv(aad, ivct []byte) []byte {
	m := hmac.New(p.newHash, p.integKey)
	m.Write(aad)
	m.Write(ivct)
	return m.Sum(nil)[:p.icvLen]
}

// Open checks and decrypts an SK body. aad is the message from the IKE
// header through the SK generic header (Message.Raw[:Encrypted.BodyOffset]).
// The ICV is checked before anything is decrypted. The result is a new slice.
func (p *Protector) Open(aad, body []byte) ([]byte, error) {
	if p.aead != nil {
		if len(body) < gcmIVLen+1+gcmICV {
			return nil, fmt.Errorf("%w: body of %d bytes too short", ErrOpen, len(body))
		}
		var nonce [12]byte
		copy(nonce[:4], p.salt[:])
		copy(nonce[4:], body[:gcmIVLen])
		pt, err := p.aead.Open(nil, nonce[:], body[gcmIVLen:], aad)
		if err != nil {
			return nil, fmt.Errorf("%w: integrity check failed", ErrOpen)
		}
		return unpad(pt)
	}
	ctLen := len(body) - cbcIVLen - p.icvLen
	if ctLen < aes.BlockSize || ctLen%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: body of %d bytes is not IV + whole blocks + ICV", ErrOpen, len(body))
	}
	want := p.icv(aad, body[:cbcIVLen+ctLen])
	if !hmac.Equal(want, body[cbcIVLen+ctLen:]) {
		return nil, fmt.Errorf("%w: integrity check failed", ErrOpen)
	}
	pt := make([]byte, ctLen)
	cipher.NewCBCDecrypter(p.block, body[:cbcIVLen]).CryptBlocks(pt, body[cbcIVLen:cbcIVLen+ctLen])
	return unpad(pt)
}

// unpad strips padding and the pad length octet.
func unpad(pt []byte) ([]byte, error) {
	padLen := int(pt[len(pt)-1])
	if padLen+1 > len(pt) {
		return nil, fmt.Errorf("%w: pad length %d exceeds %d-byte plaintext", ErrOpen, padLen, len(pt))
	}
	return pt[:len(pt)-1-padLen], nil
}

func mustRead(rand io.Reader, b []byte) {
	if _, err := io.ReadFull(rand, b); err != nil {
		panic("ike: random source failed: " + err.Error())
	}
}
