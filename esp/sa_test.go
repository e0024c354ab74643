package esp

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"

	"github.com/vpgw/vpgw/esp/esptest"
	"github.com/vpgw/vpgw/suite"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var allSuites = []suite.ESP{
	{Cipher: suite.Cipher{Encr: suite.EncrAESGCM16, KeyBits: 128}},
	{Cipher: suite.Cipher{Encr: suite.EncrAESGCM16, KeyBits: 256}},
	{Cipher: suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 128}, Integ: suite.IntegHMACSHA1_96},
	{Cipher: suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 256}, Integ: suite.IntegHMACSHA256128},
	{Cipher: suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 128}, Integ: suite.IntegHMACSHA384192},
	{Cipher: suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 256}, Integ: suite.IntegHMACSHA512256},
}

func randomConfig(t testing.TB, spi uint32, s suite.ESP, window int) SAConfig {
	t.Helper()
	c := SAConfig{SPI: spi, ESP: s, EncrKey: make([]byte, s.Cipher.KeyLen()),
		IntegKey: make([]byte, s.Integ.KeyLen()), ReplayWindow: window}
	rand.Read(c.EncrKey)
	rand.Read(c.IntegKey)
	return c
}

// pair returns a sealing and an opening SA with the same keys.
func pair(t testing.TB, s suite.ESP, window int) (sealer, opener *SA) {
	t.Helper()
	cfg := randomConfig(t, 0x1234abcd, s, window)
	var err error
	if sealer, err = NewSA(cfg); err != nil {
		t.Fatal(err)
	}
	if opener, err = NewSA(cfg); err != nil {
		t.Fatal(err)
	}
	return sealer, opener
}

var (
	srcA = netip.MustParseAddr("172.16.0.5")
	dstA = netip.MustParseAddr("10.0.1.7")
)

// sealPacket seals a copy of inner and returns the ESP packet.
func sealPacket(t testing.TB, sa *SA, inner []byte) []byte {
	t.Helper()
	buf := make([]byte, headroom+len(inner)+SealTailroom)
	copy(buf[headroom:], inner)
	start, end, err := sa.Seal(buf, headroom, len(inner))
	if err != nil {
		t.Fatal(err)
	}
	return buf[start:end]
}

// GCM ESP packets from draft-mcgrew-gcm-test-01 §4 with 32-bit sequence
// numbers (the 64-bit ESN cases and AES-192 do not apply). Their next header
// is 1, so full Open must refuse them after a successful decryption.
var gcmVectors = []struct {
	name              string
	key               string // key | salt
	spi               uint32
	seq               uint32
	iv                string
	plaintext, packet string
}{
	{
		name: "case2-aes128", key: "feffe9928665731c6d6a8f9467308308 cafebabe", spi: 0x0000a5f8, seq: 0xa,
		iv: "facedbaddecaf888",
		plaintext: `4500003e698f000080114dccc0a80102 c0a801010a980035002a2343b2d00100
			00010000000000000373697009637962 65726369747902646b00000100010001`,
		packet: `0000a5f80000000afacedbaddecaf888 deb22cd9b07c72c16e3a65beeb8df304
			a5a5897d33ae530f1ba76d5d114d2a5c 3de81827c10e9a4f51330d0eec416642
			cfbb85a5b47e48a4ec3b9ba95d918bd1 83b70d3aa8bc6ee4c309e9d85a41ad4a`,
	},
	{
		name: "case3-aes256", key: "abbccddef00112233445566778899aababbccddef00112233445566778899aab 11223344",
		spi: 0x4a2cbfe3, seq: 2, iv: "0102030405060708",
		plaintext: `4500003069a6400080062690c0a80102 9389155e0a9e008b2dc57ee000000000
			7002400020bf0000020405b401010402 01020201`,
		packet: `4a2cbfe3000000020102030405060708 ff425c9b724599df7a3bcd510194e00d
			6a78107f1b0b1cbf06efae9d65a5d763 748a637985771d347f0545659f14e99d
			ef842d8eb335f4eecfdbf831824b4c49 15956c96`,
	},
	{
		name: "case4-zero-key", key: "00000000000000000000000000000000 00000000", spi: 0, seq: 1,
		iv: "0000000000000000",
		plaintext: `4500003c99c500008001cb7a40679318 010101010800075c0200440061626364
			65666768696a6b6c6d6e6f7071727374 75767761626364656667686901020201`,
		packet: `00000000000000010000000000000000 4688daf2f973a392732909c331d56d60
			f694abaa414b5e7ff5fdcdfff5e9a284 456476492719ffb64de7d9dca1e1d894
			bc3bd57873ed4d181d19d4d5c8c18af3 f821d496eeb096e98ad2b69e4799c71d`,
	},
	{
		name: "case-seq-ffffffff", key: "7d773d00c144c525ac619d18c84a3f47 d9664267", spi: 0x335467ae,
		seq: 0xffffffff, iv: "43457e9182443bc6",
		plaintext: "01020201",
		packet: `335467aeffffffff43457e9182443bc6 437f866bcb3f699fe9b0822bac961c45
			04bef270`,
	},
}

func gcmSA(t *testing.T, key []byte, spi uint32) *SA {
	t.Helper()
	sa, err := NewSA(SAConfig{SPI: 0x1000, EncrKey: key,
		ESP: suite.ESP{Cipher: suite.Cipher{Encr: suite.EncrAESGCM16, KeyBits: (len(key) - 4) * 8}}})
	if err != nil {
		t.Fatal(err)
	}
	sa.spi = spi // vectors use reserved SPIs such as 0
	return sa
}

func TestGCMKnownAnswer(t *testing.T) {
	for _, v := range gcmVectors {
		t.Run(v.name, func(t *testing.T) {
			key, iv := unhex(t, v.key), unhex(t, v.iv)
			pt, want := unhex(t, v.plaintext), unhex(t, v.packet)

			sa := gcmSA(t, key, v.spi)
			buf := make([]byte, len(want)+8)
			copy(buf[sa.HeaderLen():], pt)
			end := sa.sealLocked(buf, 0, sa.HeaderLen()+len(pt), v.seq, iv)
			if !bytes.Equal(buf[:end], want) {
				t.Fatalf("seal:\n got %x\nwant %x", buf[:end], want)
			}

			got, err := gcmSA(t, key, v.spi).openPayload(bytes.Clone(want))
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if !bytes.Equal(got, pt) {
				t.Fatalf("open:\n got %x\nwant %x", got, pt)
			}
			// The vectors carry next header 1, which a tunnel-mode SA refuses.
			if _, err := gcmSA(t, key, v.spi).Open(bytes.Clone(want)); !errors.Is(err, ErrBadNextHeader) {
				t.Fatalf("Open = %v, want ErrBadNextHeader", err)
			}
			bad := bytes.Clone(want)
			bad[len(bad)-1] ^= 1
			if _, err := gcmSA(t, key, v.spi).Open(bad); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("Open(tampered tag) = %v, want ErrAuthFailed", err)
			}
		})
	}
}

// HMAC truncation vectors: RFC 2202 test case 5 (HMAC-SHA1-96) and RFC 4868
// §2.7.2 AUTH256-1..4, AUTH384-1, AUTH512-1.
func TestHMACTruncationKnownAnswer(t *testing.T) {
	rep := func(b byte, n int) string { return strings.Repeat(fmt.Sprintf("%02x", b), n) }
	cases := []struct {
		integ          suite.Integ
		key, data, icv string
	}{
		{suite.IntegHMACSHA1_96, rep(0x0c, 20), hex.EncodeToString([]byte("Test With Truncation")), "4c1a03424b55e07fe7f27be1"},
		{suite.IntegHMACSHA256128, rep(0x0b, 32), "4869205468657265", "198a607eb44bfbc69903a0f1cf2bbdc5"},
		{suite.IntegHMACSHA256128, hex.EncodeToString([]byte("JefeJefeJefeJefeJefeJefeJefeJefe")),
			hex.EncodeToString([]byte("what do ya want for nothing?")), "167f928588c5cc2eef8e3093caa0e87c"},
		{suite.IntegHMACSHA256128, rep(0xaa, 32), rep(0xdd, 50), "cdcb1220d1ecccea91e53aba3092f962"},
		{suite.IntegHMACSHA256128, "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20", rep(0xcd, 50),
			"372efcf9b40b35c2115b1346903d2ef4"},
		{suite.IntegHMACSHA384192, rep(0x0b, 48), "4869205468657265", "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973"},
		{suite.IntegHMACSHA512256, rep(0x0b, 64), "4869205468657265",
			"637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8"},
	}
	for _, c := range cases {
		t.Run(c.integ.String(), func(t *testing.T) {
			sa, err := NewSA(SAConfig{SPI: 0x1000, EncrKey: make([]byte, 16), IntegKey: unhex(t, c.key),
				ESP: suite.ESP{Cipher: suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 128}, Integ: c.integ}})
			if err != nil {
				t.Fatal(err)
			}
			sa.mac.Reset()
			sa.mac.Write(unhex(t, c.data))
			got := sa.mac.Sum(nil)[:sa.icvLen]
			if want := unhex(t, c.icv); !bytes.Equal(got, want) {
				t.Fatalf("ICV %x, want %x", got, want)
			}
		})
	}
}

// AES-CBC layer with RFC 3602 §4 case #2 (key, IV, two blocks); the ICV is
// HMAC-SHA1-96 over SPI|seq|IV|ciphertext (RFC 4303 §2.8).
func TestCBCKnownAnswer(t *testing.T) {
	integKey := bytes.Repeat([]byte{0x42}, 20)
	sa, err := NewSA(SAConfig{SPI: 0x4321, EncrKey: unhex(t, "c286696d887c9aa0611bbb3e2025a45a"), IntegKey: integKey,
		ESP: suite.ESP{Cipher: suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 128}, Integ: suite.IntegHMACSHA1_96}})
	if err != nil {
		t.Fatal(err)
	}
	iv := unhex(t, "562e17996d093d28ddb3ba695a2e6f58")
	pt := unhex(t, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	buf := make([]byte, 8+16+32+12)
	copy(buf[24:], pt)
	end := sa.sealLocked(buf, 0, 24+32, 1, iv)
	if want := unhex(t, "0000432100000001"); !bytes.Equal(buf[:8], want) {
		t.Fatalf("header %x", buf[:8])
	}
	if want := unhex(t, "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"); !bytes.Equal(buf[24:56], want) {
		t.Fatalf("ciphertext %x, want %x", buf[24:56], want)
	}
	m := hmac.New(sha1.New, integKey)
	m.Write(buf[:56])
	if want := m.Sum(nil)[:12]; !bytes.Equal(buf[56:end], want) {
		t.Fatalf("ICV %x, want %x", buf[56:end], want)
	}
}

func TestRoundTripAllSuites(t *testing.T) {
	v6 := make([]byte, 60)
	v6[0] = 0x60
	v6[5] = 20 // payload length
	for _, s := range allSuites {
		t.Run(s.String(), func(t *testing.T) {
			sealer, opener := pair(t, s, 0)
			for n := 0; n <= 1400; n += 97 {
				inner := esptest.Ping(srcA, dstA, 1, uint16(n), bytes.Repeat([]byte{byte(n)}, n))
				pkt := sealPacket(t, sealer, inner)
				if len(pkt)-sealer.HeaderLen()-sealer.icvLen < len(inner)+2 {
					t.Fatalf("ciphertext too short")
				}
				if (len(pkt)-sealer.HeaderLen()-sealer.icvLen)%sealer.align != 0 {
					t.Fatalf("ciphertext not aligned to %d", sealer.align)
				}
				got, err := opener.Open(pkt)
				if err != nil {
					t.Fatalf("len %d: %v", len(inner), err)
				}
				if !bytes.Equal(got, inner) {
					t.Fatalf("len %d: inner differs", len(inner))
				}
			}
			got, err := opener.Open(sealPacket(t, sealer, v6))
			if err != nil || !bytes.Equal(got, v6) {
				t.Fatalf("IPv6: %v", err)
			}
		})
	}
}

func TestTamperEveryByte(t *testing.T) {
	for _, s := range allSuites {
		t.Run(s.String(), func(t *testing.T) {
			sealer, opener := pair(t, s, 0)
			orig := sealPacket(t, sealer, esptest.Ping(srcA, dstA, 1, 1, []byte("tamper")))
			for i := range orig {
				p := bytes.Clone(orig)
				p[i] ^= 0x01
				_, err := opener.Open(p)
				switch {
				case i < 4:
					if !errors.Is(err, ErrMalformed) { // SPI no longer ours
						t.Fatalf("byte %d: %v", i, err)
					}
				case i < 8: // sequence number: 1 may become 0, which is never valid
					if !errors.Is(err, ErrAuthFailed) && !errors.Is(err, ErrReplay) {
						t.Fatalf("byte %d: %v", i, err)
					}
				default:
					if !errors.Is(err, ErrAuthFailed) {
						t.Fatalf("byte %d: %v, want ErrAuthFailed", i, err)
					}
				}
			}
			// Failed packets must not have moved the window.
			if _, err := opener.Open(orig); err != nil {
				t.Fatalf("original after tampering: %v", err)
			}
			if _, err := opener.Open(orig[:len(orig)-1]); err == nil {
				t.Fatal("truncated packet accepted")
			}
		})
	}
}

// sealAt seals inner with a chosen sequence number.
func sealAt(t *testing.T, sa *SA, seq uint32, inner []byte) []byte {
	sa.seq = seq - 1
	return sealPacket(t, sa, inner)
}

func TestReplay(t *testing.T) {
	for _, s := range allSuites[:3] {
		t.Run(s.String(), func(t *testing.T) {
			sealer, opener := pair(t, s, 64)
			inner := esptest.Ping(srcA, dstA, 1, 1, nil)
			pkts := map[uint32][]byte{}
			for _, seq := range []uint32{1, 2, 3, 4, 5, 100, 136, 137, 200} {
				pkts[seq] = sealAt(t, sealer, seq, inner)
			}
			open := func(seq uint32) error {
				_, err := opener.Open(bytes.Clone(pkts[seq]))
				return err
			}
			steps := []struct {
				seq  uint32
				want error
			}{
				{5, nil}, {5, ErrReplay}, // duplicate
				{3, nil}, {1, nil}, {4, nil}, {3, ErrReplay}, // reordering inside the window
				{200, nil},
				{136, ErrReplay}, // 200-136 = 64: just left of a 64-wide window
				{137, nil},       // 63 behind: inside
				{100, ErrReplay}, {2, ErrReplay}, {137, ErrReplay}, {200, ErrReplay},
			}
			for i, st := range steps {
				if err := open(st.seq); !errors.Is(err, st.want) {
					t.Fatalf("step %d seq %d: %v, want %v", i, st.seq, err, st.want)
				}
			}
		})
	}
}

// TestReplayWindowModel compares the ring bitmap with a map-based model over
// random traffic for several window sizes.
func TestReplayWindowModel(t *testing.T) {
	for _, w := range []uint32{64, 100, 1024, 2048} {
		var r replayWindow
		r.reset(w)
		seen := map[uint32]bool{}
		var last uint32
		var rnd [4]byte
		seq := uint32(1)
		for i := 0; i < 200000; i++ {
			rand.Read(rnd[:])
			// mostly forward, sometimes jumps back within ~2.5 windows, sometimes far ahead
			switch rnd[0] % 8 {
			case 0:
				seq -= uint32(rnd[1]) * w / 100
			case 1:
				seq += uint32(rnd[2]) * 40
			default:
				seq += uint32(rnd[3] % 3)
			}
			want := seq != 0 && !seen[seq] && (seq > last || last-seq < w)
			if got := r.check(seq); got != want {
				t.Fatalf("w=%d step %d seq %d last %d: check %v, want %v", w, i, seq, last, got, want)
			}
			if want {
				r.update(seq)
				seen[seq] = true
				if seq > last {
					last = seq
				}
			}
		}
	}
}

func TestBadPaddingAndNextHeader(t *testing.T) {
	for _, s := range []suite.ESP{allSuites[0], allSuites[2]} {
		t.Run(s.String(), func(t *testing.T) {
			sealer, opener := pair(t, s, 0)
			inner := esptest.Ping(srcA, dstA, 1, 1, []byte("abcdefghij")) // 38 bytes
			craft := func(seq uint32, trailer []byte) []byte {
				hl := sealer.HeaderLen()
				pt := append(bytes.Clone(inner), trailer...)
				if len(pt)%sealer.align != 0 {
					t.Fatalf("bad test trailer length")
				}
				buf := make([]byte, hl+len(pt)+sealer.icvLen)
				copy(buf[hl:], pt)
				end := sealer.sealLocked(buf, 0, hl+len(pt), seq, nil)
				return buf[:end]
			}
			// 38 + 8 = 46 is not 4/16-aligned: pad the inner with zero bytes
			// that the inner IP length will trim.
			inner = append(inner, make([]byte, 64-len(inner)-8)...)
			cases := []struct {
				trailer []byte
				want    error
			}{
				{[]byte{1, 2, 3, 4, 5, 6, 6, 4}, nil},
				{[]byte{1, 2, 3, 4, 5, 7, 6, 4}, ErrBadPadding},  // wrong pad byte
				{[]byte{0, 0, 0, 0, 0, 0, 6, 4}, ErrBadPadding},  // zero padding
				{[]byte{1, 2, 3, 4, 5, 6, 90, 4}, ErrBadPadding}, // pad length beyond payload
				{[]byte{1, 2, 3, 4, 5, 6, 6, 17}, ErrBadNextHeader},
				{[]byte{1, 2, 3, 4, 5, 6, 6, 59}, ErrBadNextHeader}, // dummy packet
				{[]byte{1, 2, 3, 4, 5, 6, 6, 41}, ErrMalformed},     // says IPv6, is IPv4
			}
			for i, c := range cases {
				_, err := opener.Open(craft(uint32(i+1), c.trailer))
				if !errors.Is(err, c.want) {
					t.Fatalf("case %d: %v, want %v", i, err, c.want)
				}
			}
		})
	}
}

func TestSeqOverflow(t *testing.T) {
	sealer, opener := pair(t, allSuites[0], 0)
	inner := esptest.Ping(srcA, dstA, 1, 1, nil)
	pkt := sealAt(t, sealer, math.MaxUint32, inner)
	if _, err := opener.Open(pkt); err != nil {
		t.Fatalf("seq 2^32-1: %v", err)
	}
	buf := make([]byte, 256)
	copy(buf[headroom:], inner)
	if _, _, err := sealer.Seal(buf, headroom, len(inner)); !errors.Is(err, ErrSeqOverflow) {
		t.Fatalf("Seal after 2^32-1 = %v, want ErrSeqOverflow", err)
	}
	if sealer.seq != math.MaxUint32 {
		t.Fatal("sequence number wrapped")
	}
}

func TestNewSAValidates(t *testing.T) {
	gcm := suite.ESP{Cipher: suite.Cipher{Encr: suite.EncrAESGCM16, KeyBits: 128}}
	cbc := suite.ESP{Cipher: suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 128}, Integ: suite.IntegHMACSHA1_96}
	bad := []SAConfig{
		{SPI: 0x1000, ESP: gcm, EncrKey: make([]byte, 16)},                           // salt missing
		{SPI: 0x1000, ESP: cbc, EncrKey: make([]byte, 16)},                           // integ key missing
		{SPI: 0x1000, ESP: suite.ESP{Cipher: cbc.Cipher}, EncrKey: make([]byte, 16)}, // no integrity
		{SPI: 0x1000, ESP: gcm, EncrKey: make([]byte, 20), ReplayWindow: 32},         // window too small
		{SPI: 0x1000, ESP: gcm, EncrKey: make([]byte, 20), ReplayWindow: 4096},       // window too big
		{SPI: 7, ESP: gcm, EncrKey: make([]byte, 20)},                                // reserved SPI
		{SPI: 0x1000, ESP: suite.ESP{Cipher: suite.Cipher{Encr: 3, KeyBits: 128}}, EncrKey: make([]byte, 16)},
	}
	for i, c := range bad {
		if _, err := NewSA(c); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
	sa, err := NewSA(SAConfig{SPI: 0x1000, ESP: gcm, EncrKey: bytes.Repeat([]byte{0xaa}, 20)})
	if err != nil {
		t.Fatal(err)
	}
	if s := sa.String(); strings.Contains(s, "aaaa") {
		t.Fatalf("String shows key material: %s", s)
	}
}

func TestSealNeedsRoom(t *testing.T) {
	sa, _ := pair(t, allSuites[2], 0)
	inner := esptest.Ping(srcA, dstA, 1, 1, nil)
	buf := make([]byte, 10+len(inner)+SealTailroom)
	copy(buf[10:], inner)
	if _, _, err := sa.Seal(buf, 10, len(inner)); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("no headroom: %v", err)
	}
	buf = make([]byte, headroom+len(inner)+4)
	copy(buf[headroom:], inner)
	if _, _, err := sa.Seal(buf, headroom, len(inner)); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("no tailroom: %v", err)
	}
	if sa.seq != 0 {
		t.Fatal("failed Seal consumed a sequence number")
	}
}
