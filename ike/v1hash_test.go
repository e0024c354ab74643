package ike

import (
	"bytes"
	"testing"

	"github.com/vpgw/vpgw/suite"
)

func TestV1HashStrongSwan(t *testing.T) {
	v := swanV1
	k := swanKeys(t)
	gxi, gxr, ckyI, ckyR := unhex(t, v.gxi), unhex(t, v.gxr), spi(t, v.ckyI), spi(t, v.ckyR)
	hashI := V1HashI(swanSuite, k.SKEYID, gxi, gxr, ckyI, ckyR, unhex(t, v.sai), unhex(t, v.idii))
	hashR := V1HashR(swanSuite, k.SKEYID, gxi, gxr, ckyI, ckyR, unhex(t, v.sai), unhex(t, v.idir))
	if !bytes.Equal(hashI, unhex(t, v.hashI)) {
		t.Errorf("HASH_I = %x, want %s", hashI, v.hashI)
	}
	if !bytes.Equal(hashR, unhex(t, v.hashR)) {
		t.Errorf("HASH_R = %x, want %s", hashR, v.hashR)
	}
	// The hashes travel in main mode 5 and 6 after the ID payload.
	mm5 := v1Chain(t, 5, unhex(t, v.mm5PT))
	mm6 := v1Chain(t, 5, unhex(t, v.mm6PT))
	if !bytes.Equal(mm5[0].body, unhex(t, v.idii)) || !bytes.Equal(mm5[1].body, hashI) {
		t.Errorf("MM5 carries ID %x HASH %x", mm5[0].body, mm5[1].body)
	}
	if !bytes.Equal(mm6[0].body, unhex(t, v.idir)) || !bytes.Equal(mm6[1].body, hashR) {
		t.Errorf("MM6 carries ID %x HASH %x", mm6[0].body, mm6[1].body)
	}
}

// afterHash returns the received HASH payload and the bytes the quick mode
// and informational hashes cover: every payload after it, headers included,
// padding excluded.
func afterHash(t *testing.T, pt []byte) (hash, after []byte) {
	t.Helper()
	ps := v1Chain(t, 8, pt)
	return ps[0].body, pt[ps[0].end:ps[len(ps)-1].end]
}

func TestV1QuickHashStrongSwan(t *testing.T) {
	v := swanV1
	skeyidA := swanKeys(t).SKEYIDa
	ni, nr := qmNonces(t)
	prf := suite.PRFHMACSHA1

	h1, after1 := afterHash(t, unhex(t, v.qm1PT))
	if got := V1QuickHash1(prf, skeyidA, v.qmMID, after1); !bytes.Equal(got, h1) {
		t.Errorf("HASH(1) = %x, want %x", got, h1)
	}
	h2, after2 := afterHash(t, unhex(t, v.qm2PT))
	if got := V1QuickHash2(prf, skeyidA, v.qmMID, ni, after2); !bytes.Equal(got, h2) {
		t.Errorf("HASH(2) = %x, want %x", got, h2)
	}
	h3, _ := afterHash(t, unhex(t, v.qm3PT))
	if got := V1QuickHash3(prf, skeyidA, v.qmMID, ni, nr); !bytes.Equal(got, h3) {
		t.Errorf("HASH(3) = %x, want %x", got, h3)
	}
	// The informational exchange deletes the ESP SA.
	hi, afterI := afterHash(t, unhex(t, v.infoPT))
	if got := V1InfoHash(prf, skeyidA, v.infoMID, afterI); !bytes.Equal(got, hi) {
		t.Errorf("informational HASH(1) = %x, want %x", got, hi)
	}
	if afterI[0] != 0 || afterI[8] != 3 || !bytes.Equal(afterI[len(afterI)-4:], []byte{0xe5, 0x53, 0xe8, 0xd7}) {
		t.Errorf("informational message is not the ESP delete: %x", afterI)
	}
	// Any other M-ID or key gives another hash.
	if bytes.Equal(V1QuickHash1(prf, skeyidA, v.qmMID+1, after1), h1) || bytes.Equal(V1QuickHash1(prf, ni, v.qmMID, after1), h1) {
		t.Error("HASH(1) ignores its inputs")
	}
}

func TestV1HashUnknownPRFPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	V1QuickHash3(99, nil, 0, nil, nil)
}
