package ike

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/vpgw/vpgw/suite"
)

var (
	aes128CBC = suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 128}
	aes256CBC = suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 256}
	aes128GCM = suite.Cipher{Encr: suite.EncrAESGCM16, KeyBits: 128}
	aes256GCM = suite.Cipher{Encr: suite.EncrAESGCM16, KeyBits: 256}
)

func (k *IKEKeys) concat() []byte {
	return concat(k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr)
}

// NIST CAVP IKEv2 KDF (SP 800-135) sample vector, SHA-1, DKM length 1056
// bits, as carried in libreswan's CAVP test code (programs/cavp,
// lib/libswan/test_prf...). DKM(Child SA) uses SK_d = DKM[:20].
var cavpSHA1 = struct {
	ni, nr, gir, girNew, spii, spir                string
	skeyseed, dkm, dkmChild, dkmChildDH, rekeySeed string
}{
	ni: "32b50d5f4a3763f3", nr: "9206a04b26564cb1",
	gir:    "4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52",
	girNew: "863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330",
	spii:   "34c9e7c188868785", spir: "3ff77d760d2b2199",
	skeyseed: "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7",
	dkm: "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002a2a63080e514a062768b76606f9fa5e9" +
		"92204fc5a670bde3f10d6b027113936a5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd1119" +
		"8af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435a7a56cc4",
	dkmChild: "8059e3ee8810e6c3a91bc8bcd2a7a41151b8d0e6ae239c7b38093ad85ef4c5811a8e7b5d1cdabd9560b2d5e092d1f24e" +
		"2d4b85eccdf0ad0dc9abd94b51ee71814ca6dbc8bb51b6309f5b9545c7eb35cf5580b1e521a8fe20754a2d883ba0c2cf" +
		"285f524aea6545b33106bc03e614296d319d41d4b50b3f510b1c0a22f3e664994d234cb4",
	dkmChildDH: "bb43244c1860ad65ee1e211ffe8bb3661750c8f89cb9f547df7f4fa61d37301628190e38c66232eab4b3ab14c400a519" +
		"7dd3730ed4820a8a10394d51e1c0400052f63ebd36b0e7ef53aaed31eba4a5080d7d4b5666023a8bbb5ffb7857240f9a" +
		"05884d1b7d2f933708450b7b3288f1fc863ab49fa901227cffc06e27899c7054d56fd74c",
	rekeySeed: "63e81194946ebd05df7df5ebf5d8750056bf1f1d",
}

func spi(t *testing.T, s string) uint64 { return binary.BigEndian.Uint64(unhex(t, s)) }

func TestDeriveIKEKeysCAVPSHA1(t *testing.T) {
	v := cavpSHA1
	ni, nr := unhex(t, v.ni), unhex(t, v.nr)
	dkm := unhex(t, v.dkm)

	// prf+ on its own: DKM = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
	prf, _ := NewPRF(suite.PRFHMACSHA1)
	seed := concat(ni, nr, unhex(t, v.spii), unhex(t, v.spir))
	if got := PRFPlus(prf, unhex(t, v.skeyseed), seed, len(dkm)); !bytes.Equal(got, dkm) {
		t.Fatalf("prf+ = %x\nwant   %x", got, dkm)
	}

	// aes128 + sha1 + prf-sha1 takes exactly 20+20+20+16+16+20+20 = 132 bytes.
	s := IKESuite{Cipher: aes128CBC, Integ: suite.IntegHMACSHA1_96, PRF: suite.PRFHMACSHA1, DH: 14}
	k, err := DeriveIKEKeys(s, ni, nr, unhex(t, v.gir), spi(t, v.spii), spi(t, v.spir))
	if err != nil {
		t.Fatal(err)
	}
	if got := k.concat(); !bytes.Equal(got, dkm) {
		t.Fatalf("keys %x\nwant %x", got, dkm)
	}
	for name, b := range map[string][]byte{"SKd": k.SKd, "SKai": k.SKai, "SKei": k.SKei, "SKpr": k.SKpr} {
		want := map[string]int{"SKd": 20, "SKai": 20, "SKei": 16, "SKpr": 20}[name]
		if len(b) != want {
			t.Errorf("%s is %d bytes, want %d", name, len(b), want)
		}
	}

	// CHILD_SA keys from SK_d, without and with PFS. aes128-sha1 takes
	// 2 * (16 + 20) = 72 bytes of KEYMAT: i->r encr, i->r integ, r->i encr, r->i integ.
	esp := suite.ESP{Cipher: aes128CBC, Integ: suite.IntegHMACSHA1_96}
	for _, c := range []struct {
		name      string
		gir, want []byte
	}{{"no PFS", nil, unhex(t, v.dkmChild)}, {"PFS", unhex(t, v.girNew), unhex(t, v.dkmChildDH)}} {
		iToR, rToI, err := DeriveChildKeys(suite.PRFHMACSHA1, k.SKd, c.gir, ni, nr, esp)
		if err != nil {
			t.Fatal(err)
		}
		got := concat(iToR.Encr, iToR.Integ, rToI.Encr, rToI.Integ)
		if !bytes.Equal(got, c.want[:72]) {
			t.Errorf("%s: KEYMAT %x\nwant %x", c.name, got, c.want[:72])
		}
		if len(iToR.Encr) != 16 || len(rToI.Integ) != 20 {
			t.Errorf("%s: key lengths %d/%d", c.name, len(iToR.Encr), len(rToI.Integ))
		}
	}

	// IKE SA rekey: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr).
	rk, err := DeriveRekeyedIKEKeys(suite.PRFHMACSHA1, k.SKd, s, ni, nr, unhex(t, v.girNew), spi(t, v.spii), spi(t, v.spir))
	if err != nil {
		t.Fatal(err)
	}
	if want := PRFPlus(prf, unhex(t, v.rekeySeed), seed, 132); !bytes.Equal(rk.concat(), want) {
		t.Errorf("rekeyed keys do not come from SKEYSEED(Rekey)")
	}
}

// NIST CAVP sample vectors for SHA-256 as carried in NSS's
// gtests/common/testvectors/ike-sha256-vectors.h (tests 6, 7, 8).
func TestDeriveIKEKeysCAVPSHA256(t *testing.T) {
	ni, nr := unhex(t, "3f302be1abcb28e1"), unhex(t, "8c332ee006064c9b")
	gir := unhex(t, "0f4d257d7a58fc4545c7d7a88119eee5d5c9690c5b4c989171d3abbfd99d1d29")
	spii, spir := spi(t, "40dac39e1e1a8640"), spi(t, "8619a1cf9a6e4c07")
	skeyseed := unhex(t, "5f00d1bd2c58ec224b1e6b71fa0f19a1faa7a193952c444411b47c1a9d8ba6fe")
	dkm := unhex(t, "0b137d669b0947d7d026d593f0305ad401ff0c471357d695778a9c7f4b4869ece98aca531188d16041b3bb936d2dbb3b"+
		"4993a6e768a809160de45d0283f273a6cdf6854379e31be72b8d3d1fa990cf9c5b015ca9f918a7df6253c958114a09d4"+
		"e1c19bdcd4db14b29d98db1a74ad405c588662c14a04d0d36aa4ab55e90f8986d12d4aad")
	girNew := unhex(t, "25f3b12d6f282739256e39bf54eda53b60ffcf379bb7bcc90c27b4c4c578616c")
	rekeySeed := unhex(t, "2d63f6debc92048b4fef3889c4c99ca67d6496e0fac14a2bca9a2d6566ff2398")

	prf, _ := NewPRF(suite.PRFHMACSHA256)
	if got := prf.Sum(concat(ni, nr), gir); !bytes.Equal(got, skeyseed) {
		t.Fatalf("SKEYSEED %x, want %x", got, skeyseed)
	}
	// GCM: no SK_a; SK_e is 16 + 4 salt bytes. The vector is 132 bytes of
	// the 136 this suite takes.
	s := IKESuite{Cipher: aes128GCM, PRF: suite.PRFHMACSHA256, DH: 19}
	k, err := DeriveIKEKeys(s, ni, nr, gir, spii, spir)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.concat(); len(got) != 136 || !bytes.Equal(got[:132], dkm) {
		t.Fatalf("keys %x\nwant %x", got, dkm)
	}
	if len(k.SKai) != 0 || len(k.SKei) != 20 || len(k.SKpi) != 32 {
		t.Errorf("lengths: SKai %d SKei %d SKpi %d", len(k.SKai), len(k.SKei), len(k.SKpi))
	}
	rk, err := DeriveRekeyedIKEKeys(suite.PRFHMACSHA256, k.SKd, s, ni, nr, girNew, spii, spir)
	if err != nil {
		t.Fatal(err)
	}
	var spis [16]byte
	binary.BigEndian.PutUint64(spis[:], spii)
	binary.BigEndian.PutUint64(spis[8:], spir)
	if want := PRFPlus(prf, rekeySeed, concat(ni, nr, spis[:]), 136); !bytes.Equal(rk.concat(), want) {
		t.Errorf("rekeyed keys do not come from SKEYSEED(Rekey)")
	}
}

func TestDeriveKeyLengths(t *testing.T) {
	ni, nr, gir := make([]byte, 32), make([]byte, 32), make([]byte, 256)
	for _, c := range []struct {
		s       IKESuite
		d, a, e int
	}{
		{IKESuite{aes256CBC, suite.IntegHMACSHA512256, suite.PRFHMACSHA512, 14}, 64, 64, 32},
		{IKESuite{aes128CBC, suite.IntegHMACSHA384192, suite.PRFHMACSHA384, 14}, 48, 48, 16},
		{IKESuite{aes256GCM, suite.IntegNone, suite.PRFHMACSHA256, 14}, 32, 0, 36},
	} {
		k, err := DeriveIKEKeys(c.s, ni, nr, gir, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(k.SKd) != c.d || len(k.SKar) != c.a || len(k.SKer) != c.e || len(k.SKpr) != c.d {
			t.Errorf("%v: lengths d=%d a=%d e=%d p=%d", c.s, len(k.SKd), len(k.SKar), len(k.SKer), len(k.SKpr))
		}
	}
	iToR, rToI, err := DeriveChildKeys(suite.PRFHMACSHA256, make([]byte, 32), nil, ni, nr, suite.ESP{Cipher: aes256GCM})
	if err != nil || len(iToR.Encr) != 36 || len(rToI.Encr) != 36 || len(iToR.Integ) != 0 {
		t.Errorf("GCM child keys: %d/%d/%d, %v", len(iToR.Encr), len(rToI.Encr), len(iToR.Integ), err)
	}
	if _, err := DeriveIKEKeys(IKESuite{aes128CBC, suite.IntegNone, suite.PRFHMACSHA1, 2}, ni, nr, gir, 1, 2); err == nil {
		t.Error("CBC without integrity accepted")
	}
	if _, err := DeriveIKEKeys(IKESuite{aes128GCM, suite.IntegHMACSHA1_96, suite.PRFHMACSHA1, 2}, ni, nr, gir, 1, 2); err == nil {
		t.Error("GCM with integrity accepted")
	}
}

func TestSuiteNamesAndRedaction(t *testing.T) {
	for s, want := range map[IKESuite]string{
		{aes128CBC, suite.IntegHMACSHA256128, suite.PRFHMACSHA256, 14}: "aes128-sha2-256-prf-sha2-256-modp2048",
		{aes256GCM, suite.IntegNone, suite.PRFHMACSHA384, 20}:          "aes256-gcm-16-prf-sha2-384-ecp384",
		{aes128CBC, suite.IntegHMACSHA1_96, suite.PRFHMACSHA1, 2}:      "aes128-sha1-prf-sha1-modp1024",
		{aes128CBC, suite.IntegHMACSHA1_96, suite.PRFHMACSHA1, 31}:     "aes128-sha1-prf-sha1-curve25519",
		{aes128CBC, suite.IntegHMACSHA1_96, suite.PRFHMACSHA1, 24}:     "aes128-sha1-prf-sha1-modp2048s256",
	} {
		if got := s.String(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if GroupName(99) != "dh99" {
		t.Errorf("GroupName(99) = %q", GroupName(99))
	}
	k := &IKEKeys{SKd: []byte{0xde, 0xad}}
	ck := ChildKeys{Encr: []byte{0xde, 0xad}}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v %#v", k, k), fmt.Sprint(ck), fmt.Sprintf("%#v", ck)} {
		if bytes.Contains([]byte(s), []byte("222")) || bytes.Contains([]byte(s), []byte("dead")) {
			t.Errorf("key bytes in %q", s)
		}
	}
	k.Zero()
	if k.SKd[0] != 0 {
		t.Error("Zero left key bytes")
	}
}
