package ike

import (
	"encoding/hex"
	"strings"
	"testing"
)

// unhex decodes hex written the RFC way: any case, with spaces and line
// breaks allowed.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.Join(strings.Fields(s), "")
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test vector: %v", err)
	}
	return b
}

// fixedReader returns its bytes in order, then repeats them; tests use it as
// a deterministic random source.
type fixedReader struct {
	b []byte
	i int
}

func (r *fixedReader) Read(p []byte) (int, error) {
	for n := range p {
		p[n] = r.b[r.i%len(r.b)]
		r.i++
	}
	return len(p), nil
}
