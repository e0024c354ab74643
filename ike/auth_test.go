package ike

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"

	"github.com/vpgw/vpgw/suite"
)

// PSKAuth against the RFC 7296 §2.15 formula written out with crypto/hmac.
func TestPSKAuth(t *testing.T) {
	mac := func(key []byte, parts ...[]byte) []byte {
		m := hmac.New(sha256.New, key)
		for _, p := range parts {
			m.Write(p)
		}
		return m.Sum(nil)
	}
	psk := []byte("example.psk_0123456789")
	msg := []byte("IKE_SA_INIT response bytes")
	nonce := bytes.Repeat([]byte{7}, 32)
	skp := bytes.Repeat([]byte{9}, 32)
	id := []byte{1, 0, 0, 0, 203, 0, 113, 2} // ID_IPV4_ADDR 203.0.113.2
	want := mac(mac(psk, []byte("Key Pad for IKEv2")), msg, nonce, mac(skp, id))
	if got := PSKAuth(suite.PRFHMACSHA256, psk, msg, nonce, skp, id); !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
	if got := PSKAuth(suite.PRFHMACSHA256, []byte("other"), msg, nonce, skp, id); bytes.Equal(got, want) {
		t.Error("different PSK, same AUTH")
	}
	if PSKAuth(suite.PRF(99), psk, msg, nonce, skp, id) != nil {
		t.Error("unsupported PRF gave AUTH data")
	}
}
