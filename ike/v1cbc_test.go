package ike

import (
	"bytes"
	"crypto/aes"
	"errors"
	"testing"
)

// TestV1CBCStrongSwan replays the encrypted messages of swanV1 through one
// IV chain per exchange: main mode 5 (decrypt) and 6 (encrypt, zero padding
// to the block), then quick mode 1, 2 (144 aligned bytes: strongSwan adds a
// whole block of padding, as we do) and 3.
func TestV1CBCStrongSwan(t *testing.T) {
	v := swanV1
	k := swanKeys(t)
	c, err := NewV1CBC(swanSuite.Cipher, k.EncKey)
	if err != nil {
		t.Fatal(err)
	}
	decrypt := func(name string, iv []byte, ct, want string) []byte {
		t.Helper()
		pt, next, err := c.Decrypt(iv, unhex(t, ct))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(pt, unhex(t, want)) {
			t.Errorf("%s: plaintext %x\nwant %s", name, pt, want)
		}
		return next
	}
	encrypt := func(name string, iv []byte, pt, want string) []byte {
		t.Helper()
		ct, next := c.Encrypt(iv, unhex(t, pt))
		if !bytes.Equal(ct, unhex(t, want)) {
			t.Errorf("%s: ciphertext %x\nwant %s", name, ct, want)
		}
		if !bytes.Equal(next, ct[len(ct)-aes.BlockSize:]) {
			t.Errorf("%s: next IV %x is not the last block", name, next)
		}
		return next
	}

	iv := V1Phase1IV(swanSuite.Hash, unhex(t, v.gxi), unhex(t, v.gxr), c.BlockSize())
	iv = decrypt("MM5", iv, v.mm5CT, v.mm5PT)
	if !bytes.Equal(iv, unhex(t, v.mm6IV)) {
		t.Errorf("MM6 IV %x, want %s", iv, v.mm6IV)
	}
	last := encrypt("MM6", iv, v.mm6PT, v.mm6CT)

	iv = V1PhaseIV(swanSuite.Hash, last, v.qmMID, c.BlockSize())
	iv = decrypt("QM1", iv, v.qm1CT, v.qm1PT)
	if !bytes.Equal(iv, unhex(t, v.qm2IV)) {
		t.Errorf("QM2 IV %x, want %s", iv, v.qm2IV)
	}
	iv = encrypt("QM2", iv, v.qm2PT, v.qm2CT)
	decrypt("QM3", iv, v.qm3CT, v.qm3PT)

	iv = V1PhaseIV(swanSuite.Hash, last, v.infoMID, c.BlockSize())
	decrypt("informational", iv, v.infoCT, v.infoPT)

	// The one-shot helpers agree.
	ct, _, err := V1Encrypt(swanSuite.Cipher, k.EncKey, unhex(t, v.mm6IV), unhex(t, v.mm6PT))
	if err != nil || !bytes.Equal(ct, unhex(t, v.mm6CT)) {
		t.Errorf("V1Encrypt = %x, %v", ct, err)
	}
	pt, _, err := V1Decrypt(swanSuite.Cipher, k.EncKey, unhex(t, v.mm6IV), ct)
	if err != nil || !bytes.HasPrefix(pt, unhex(t, v.mm6PT)) {
		t.Errorf("V1Decrypt = %x, %v", pt, err)
	}
}

func TestV1CBCRoundTrip(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 16)
	c, err := NewV1CBC(aes128CBC, key)
	if err != nil {
		t.Fatal(err)
	}
	iv := bytes.Repeat([]byte{9}, 16)
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 100} {
		msg := bytes.Repeat([]byte{0xa5}, n)
		ct, next := c.Encrypt(iv, msg)
		if len(ct) != c.PaddedLen(n) || len(ct)%16 != 0 || len(ct) <= n || len(ct) > n+16 {
			t.Errorf("n=%d: %d ciphertext bytes", n, len(ct))
		}
		pt, next2, err := c.Decrypt(iv, ct)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !bytes.Equal(pt[:n], msg) || !bytes.Equal(pt[n:], make([]byte, len(pt)-n)) {
			t.Errorf("n=%d: round trip %x", n, pt)
		}
		if !bytes.Equal(next, next2) {
			t.Errorf("n=%d: encrypt and decrypt disagree on the next IV", n)
		}
	}
}

func TestV1CBCTamper(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	c, _ := NewV1CBC(aes256CBC, key)
	iv := make([]byte, 16)
	msg := []byte("payload chain of an ISAKMP message, 48 bytes..")
	ct, _ := c.Encrypt(iv, msg)

	// CBC has no integrity: a flipped bit garbles its block and flips the
	// same bit in the next, which the HASH payload then catches.
	bad := bytes.Clone(ct)
	bad[3] ^= 0x80
	pt, _, err := c.Decrypt(iv, bad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(pt[:16], msg[:16]) || pt[16+3] != msg[16+3]^0x80 || !bytes.Equal(pt[32:len(msg)], msg[32:]) {
		t.Errorf("tampered block decrypted to %q", pt)
	}
	// A wrong IV garbles only the first block.
	pt, _, _ = c.Decrypt(bytes.Repeat([]byte{1}, 16), ct)
	if bytes.Equal(pt[:16], msg[:16]) || !bytes.Equal(pt[16:len(msg)], msg[16:]) {
		t.Errorf("wrong IV decrypted to %q", pt)
	}

	for _, b := range [][]byte{nil, ct[:15], ct[:17]} {
		if _, _, err := c.Decrypt(iv, b); !errors.Is(err, ErrV1Decrypt) {
			t.Errorf("%d bytes: err %v", len(b), err)
		}
	}
	if _, _, err := c.Decrypt(iv[:8], ct); !errors.Is(err, ErrV1Decrypt) {
		t.Errorf("short IV: err %v", err)
	}
	if _, _, err := V1Encrypt(aes256CBC, key, iv[:8], msg); err == nil {
		t.Error("V1Encrypt took a short IV")
	}
}

func TestNewV1CBCRejects(t *testing.T) {
	if _, err := NewV1CBC(aes128GCM, make([]byte, 20)); err == nil {
		t.Error("GCM accepted")
	}
	if _, err := NewV1CBC(aes256CBC, make([]byte, 16)); err == nil {
		t.Error("short key accepted")
	}
}
