package ike

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/vpgw/vpgw/suite"
)

// testAAD stands for the IKE header + SK generic header; Protector treats it
// as opaque bytes.
var testAAD = bytes.Repeat([]byte{0xa5}, 32)

func newTestProtector(t testing.TB, c suite.Cipher, i suite.Integ) *Protector {
	t.Helper()
	p, err := NewProtector(c, i, bytes.Repeat([]byte{0x11}, c.KeyLen()), bytes.Repeat([]byte{0x22}, i.KeyLen()))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProtectorRoundTrip(t *testing.T) {
	combos := []struct {
		c suite.Cipher
		i suite.Integ
	}{
		{aes128CBC, suite.IntegHMACSHA1_96},
		{aes256CBC, suite.IntegHMACSHA256128},
		{aes128CBC, suite.IntegHMACSHA384192},
		{aes256CBC, suite.IntegHMACSHA512256},
		{aes128GCM, suite.IntegNone},
		{aes256GCM, suite.IntegNone},
	}
	for _, c := range combos {
		p := newTestProtector(t, c.c, c.i)
		for n := 0; n <= 40; n++ {
			pt := bytes.Repeat([]byte{byte(n)}, n)
			body := p.Seal(testAAD, pt, rand.Reader)
			if len(body) != p.SealedLen(n) {
				t.Fatalf("%v/%v n=%d: body %d bytes, SealedLen %d", c.c, c.i, n, len(body), p.SealedLen(n))
			}
			got, err := p.Open(testAAD, body)
			if err != nil {
				t.Fatalf("%v/%v n=%d: %v", c.c, c.i, n, err)
			}
			if !bytes.Equal(got, pt) {
				t.Fatalf("%v/%v n=%d: got %x", c.c, c.i, n, got)
			}
		}
	}
}

// The CBC body built by hand: IV | AES-CBC(pt | zero padding | pad length) |
// HMAC-SHA-256(aad | IV | ct)[:16], with minimal padding (RFC 7296 §3.14).
func TestProtectorCBCLayout(t *testing.T) {
	encKey, integKey := bytes.Repeat([]byte{0x11}, 16), bytes.Repeat([]byte{0x22}, 32)
	p, _ := NewProtector(aes128CBC, suite.IntegHMACSHA256128, encKey, integKey)
	iv := unhex(t, "000102030405060708090a0b0c0d0e0f")
	pt := []byte("inner payloads, 29 bytes long")

	block, _ := aes.NewCipher(encKey)
	padded := append(append([]byte{}, pt...), 0, 0, 2) // 29 + 2 padding + pad length = 32
	var ct []byte
	prev := iv
	for off := 0; off < len(padded); off += 16 {
		x := make([]byte, 16)
		for j := range x {
			x[j] = padded[off+j] ^ prev[j]
		}
		block.Encrypt(x, x)
		ct, prev = append(ct, x...), x
	}
	m := hmac.New(sha256.New, integKey)
	m.Write(testAAD)
	m.Write(iv)
	m.Write(ct)
	want := concat(iv, ct, m.Sum(nil)[:16])

	if got := p.Seal(testAAD, pt, &fixedReader{b: iv}); !bytes.Equal(got, want) {
		t.Fatalf("body %x\nwant %x", got, want)
	}
}

// GCM spec (McGrew & Viega) test case 4 read as an RFC 5282 SK body: salt =
// the first 4 bytes of the 12-byte IV, the explicit IV the other 8, AAD the
// header bytes. Its last plaintext byte, 0x39, is read as the pad length, so
// Open must return the first 60-1-57 = 2 bytes.
func TestProtectorGCMSpecVector(t *testing.T) {
	key := unhex(t, "feffe9928665731c6d6a8f9467308308")
	salt := unhex(t, "cafebabe")
	p, err := NewProtector(aes128GCM, suite.IntegNone, concat(key, salt), nil)
	if err != nil {
		t.Fatal(err)
	}
	aad := unhex(t, "feedfacedeadbeeffeedfacedeadbeefabaddad2")
	body := unhex(t, "facedbaddecaf888"+
		"42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"+
		"21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"+
		"5bc94fbc3221a5db94fae95ae7121a47")
	got, err := p.Open(aad, body)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "d931"); !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
	// And the other way: Seal lays out IV | ct | tag with a pad length of 0.
	sealed := p.Seal(aad, unhex(t, "d931"), &fixedReader{b: unhex(t, "facedbaddecaf888")})
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	want := gcm.Seal(unhex(t, "facedbaddecaf888"), unhex(t, "cafebabefacedbaddecaf888"), unhex(t, "d93100"), aad)
	if !bytes.Equal(sealed, want) {
		t.Errorf("sealed %x\nwant   %x", sealed, want)
	}
}

// Any flipped bit in aad or body must make Open fail.
func TestProtectorTamper(t *testing.T) {
	for _, p := range []*Protector{
		newTestProtector(t, aes128CBC, suite.IntegHMACSHA1_96),
		newTestProtector(t, aes128GCM, suite.IntegNone),
	} {
		body := p.Seal(testAAD, []byte("some inner payloads"), rand.Reader)
		for i := range testAAD {
			aad := bytes.Clone(testAAD)
			aad[i] ^= 0x01
			if _, err := p.Open(aad, body); !errors.Is(err, ErrOpen) {
				t.Fatalf("aad byte %d flipped: err = %v", i, err)
			}
		}
		for i := range body {
			b := bytes.Clone(body)
			b[i] ^= 0x80
			if _, err := p.Open(testAAD, b); !errors.Is(err, ErrOpen) {
				t.Fatalf("body byte %d flipped: err = %v", i, err)
			}
		}
		for _, n := range []int{0, 1, len(body) - 1} {
			if _, err := p.Open(testAAD, body[:n]); !errors.Is(err, ErrOpen) {
				t.Fatalf("truncated to %d: err = %v", n, err)
			}
		}
	}
	// Keys for the other direction do not open it.
	a := newTestProtector(t, aes128CBC, suite.IntegHMACSHA1_96)
	b, _ := NewProtector(aes128CBC, suite.IntegHMACSHA1_96, make([]byte, 16), make([]byte, 20))
	if _, err := b.Open(testAAD, a.Seal(testAAD, []byte("x"), rand.Reader)); err == nil {
		t.Error("opened with the wrong key")
	}
}

// A pad length pointing before the start of the plaintext is refused even
// when the ICV is right.
func TestProtectorBadPadding(t *testing.T) {
	encKey, integKey := bytes.Repeat([]byte{0x11}, 16), bytes.Repeat([]byte{0x22}, 32)
	p, _ := NewProtector(aes128CBC, suite.IntegHMACSHA256128, encKey, integKey)
	block, _ := aes.NewCipher(encKey)
	iv := make([]byte, 16)
	pt := make([]byte, 32)
	pt[31] = 32 // pad length 32 + 1 > 32
	ct := make([]byte, 32)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, pt)
	body := concat(iv, ct, p.icv(testAAD, concat(iv, ct)))
	if _, err := p.Open(testAAD, body); !errors.Is(err, ErrOpen) {
		t.Errorf("CBC: err = %v", err)
	}
	pt[31] = 31 // exactly everything is padding: empty plaintext, allowed
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, pt)
	body = concat(iv, ct, p.icv(testAAD, concat(iv, ct)))
	if got, err := p.Open(testAAD, body); err != nil || len(got) != 0 {
		t.Errorf("CBC all padding: %x, %v", got, err)
	}

	key := bytes.Repeat([]byte{0x11}, 20)
	g, _ := NewProtector(aes128GCM, suite.IntegNone, key, nil)
	gb, _ := aes.NewCipher(key[:16])
	gcm, _ := cipher.NewGCM(gb)
	nonce := concat(key[16:], make([]byte, 8))
	body = gcm.Seal(make([]byte, 8), nonce, []byte{1, 2, 3, 200}, testAAD)
	if _, err := g.Open(testAAD, body); !errors.Is(err, ErrOpen) {
		t.Errorf("GCM: err = %v", err)
	}
}

func TestNewProtectorRejects(t *testing.T) {
	cases := []struct {
		c         suite.Cipher
		i         suite.Integ
		enc, auth int
	}{
		{aes128CBC, suite.IntegHMACSHA1_96, 15, 20},
		{aes128CBC, suite.IntegHMACSHA1_96, 16, 12},
		{aes128CBC, suite.IntegNone, 16, 0},
		{aes128GCM, suite.IntegNone, 16, 0},
		{aes128GCM, suite.IntegHMACSHA1_96, 20, 20},
		{suite.Cipher{Encr: 3, KeyBits: 192}, suite.IntegHMACSHA1_96, 24, 20},
	}
	for _, c := range cases {
		if _, err := NewProtector(c.c, c.i, make([]byte, c.enc), make([]byte, c.auth)); err == nil {
			t.Errorf("%v/%v with %d/%d-byte keys accepted", c.c, c.i, c.enc, c.auth)
		}
	}
}

// FuzzProtectorOpen feeds arbitrary SK bodies to both kinds of Protector:
// Open must never panic, and whatever it accepts must re-seal and re-open to
// the same plaintext. The first byte picks the Protector.
func FuzzProtectorOpen(f *testing.F) {
	cbc := newTestProtector(f, aes128CBC, suite.IntegHMACSHA256128)
	gcm := newTestProtector(f, aes128GCM, suite.IntegNone)
	f.Add(append([]byte{0}, cbc.Seal(testAAD, []byte("seed"), rand.Reader)...))
	f.Add(append([]byte{1}, gcm.Seal(testAAD, []byte("seed"), rand.Reader)...))
	f.Add([]byte{0})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		p := cbc
		if data[0]&1 == 1 {
			p = gcm
		}
		pt, err := p.Open(testAAD, data[1:])
		if err != nil {
			return
		}
		again, err := p.Open(testAAD, p.Seal(testAAD, pt, rand.Reader))
		if err != nil || !bytes.Equal(again, pt) {
			t.Fatalf("accepted body does not round-trip: %v", err)
		}
	})
}
