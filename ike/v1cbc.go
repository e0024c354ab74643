package ike

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"

	"github.com/vpgw/vpgw/suite"
)

// ErrV1Decrypt is wrapped by V1CBC.Decrypt failures. There is no integrity
// check in IKEv1 encryption itself: a wrong key or IV shows up as garbage
// that the payload parser or the HASH payload rejects.
var ErrV1Decrypt = errors.New("ike: cannot decrypt ISAKMP message")

// checkV1Cipher accepts AES-CBC, the only IKEv1 phase-1 cipher we run.
func checkV1Cipher(c suite.Cipher) error {
	if c.Encr != suite.EncrAESCBC {
		return fmt.Errorf("ike: %v cannot protect IKEv1 messages", c)
	}
	switch c.KeyBits {
	case 128, 192, 256:
		return nil
	}
	return fmt.Errorf("ike: unsupported key size %v", c)
}

// V1CBC encrypts and decrypts ISAKMP message bodies (everything after the
// 28-byte header) with an IKE SA's Ka (RFC 2408 §3.1, RFC 2409 Appendix B).
// It holds no IV: each exchange keeps its own chain, where a message's IV is
// the last ciphertext block of the previous message of that exchange (the
// first one's from V1Phase1IV or V1PhaseIV). Encrypt and Decrypt return that
// block as nextIV. A V1CBC can be used from several goroutines.
type V1CBC struct {
	block cipher.Block
}

// NewV1CBC keys AES-CBC with Ka (V1Keys.EncKey).
func NewV1CBC(c suite.Cipher, key []byte) (*V1CBC, error) {
	if err := checkV1Cipher(c); err != nil {
		return nil, err
	}
	if len(key) != c.KeyLen() {
		return nil, fmt.Errorf("ike: %v wants a %d-byte key, got %d", c, c.KeyLen(), len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return &V1CBC{block: block}, nil
}

// BlockSize is the cipher block size, the length of every IV.
func (v *V1CBC) BlockSize() int { return aes.BlockSize }

// PaddedLen is the ciphertext length for n plaintext bytes: 1 to 16 octets
// of padding, so a whole block when n is already aligned (strongSwan's
// choice; the ISAKMP header's Length covers the padding).
func (v *V1CBC) PaddedLen(n int) int {
	return (n/aes.BlockSize + 1) * aes.BlockSize
}

// Encrypt pads plaintext with zero octets (RFC 2409 Appendix B; receivers
// find the end of the payload chain from the payload lengths) and encrypts
// it under iv. It panics if iv is not one block: IVs come from this package.
func (v *V1CBC) Encrypt(iv, plaintext []byte) (ct, nextIV []byte) {
	if len(iv) != aes.BlockSize {
		panic("ike: IKEv1 IV is not one block")
	}
	ct = make([]byte, v.PaddedLen(len(plaintext)))
	copy(ct, plaintext)
	cipher.NewCBCEncrypter(v.block, iv).CryptBlocks(ct, ct)
	return ct, lastBlock(ct)
}

// Decrypt decrypts a message body under iv. The plaintext keeps the sender's
// padding; isakmp.ParsePayloads ignores it. nextIV is the last ciphertext
// block; a caller that rejects the message keeps its old IV.
func (v *V1CBC) Decrypt(iv, ct []byte) (pt, nextIV []byte, err error) {
	if len(iv) != aes.BlockSize {
		return nil, nil, fmt.Errorf("%w: IV of %d bytes", ErrV1Decrypt, len(iv))
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, nil, fmt.Errorf("%w: %d bytes is not a whole number of blocks", ErrV1Decrypt, len(ct))
	}
	pt = make([]byte, len(ct))
	cipher.NewCBCDecrypter(v.block, iv).CryptBlocks(pt, ct)
	return pt, lastBlock(ct), nil
}

func lastBlock(ct []byte) []byte {
	return append([]byte(nil), ct[len(ct)-aes.BlockSize:]...)
}

// V1Encrypt is NewV1CBC + Encrypt for one message.
func V1Encrypt(c suite.Cipher, key, iv, plaintext []byte) (ct, nextIV []byte, err error) {
	v, err := NewV1CBC(c, key)
	if err != nil {
		return nil, nil, err
	}
	if len(iv) != aes.BlockSize {
		return nil, nil, fmt.Errorf("ike: IKEv1 IV of %d bytes", len(iv))
	}
	ct, nextIV = v.Encrypt(iv, plaintext)
	return ct, nextIV, nil
}

// V1Decrypt is NewV1CBC + Decrypt for one message.
func V1Decrypt(c suite.Cipher, key, iv, ct []byte) (pt, nextIV []byte, err error) {
	v, err := NewV1CBC(c, key)
	if err != nil {
		return nil, nil, err
	}
	return v.Decrypt(iv, ct)
}
