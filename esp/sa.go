// Package esp is vpgw's user-space IPsec datapath: ESP security associations
// (RFC 4303, tunnel mode, 32-bit sequence numbers), the outside sockets of a
// gateway address (UDP 500, UDP 4500 with the RFC 3948 non-ESP marker, raw IP
// protocol 50) and one TUN device per tunnel. It never negotiates: ike does,
// and gateway installs the resulting SAs here.
//
// Packets are sealed and opened in place in pooled buffers; the hot path does
// not allocate and drops bad packets into counters instead of returning errors.
package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
	"sync"
	"sync/atomic"

	"github.com/vpgw/vpgw/suite"
)

// SAConfig is one direction of a CHILD_SA as ike negotiated it.
// EncrKey includes the 4-byte salt for AES-GCM (RFC 4106 §8.1).
type SAConfig struct {
	SPI          uint32
	ESP          suite.ESP
	EncrKey      []byte
	IntegKey     []byte
	ReplayWindow int // inbound only; 64..2048, 0 means DefaultReplayWindow
}

const (
	// DefaultReplayWindow is AWS's default tunnel option.
	DefaultReplayWindow = 1024
	MinReplayWindow     = 64
	MaxReplayWindow     = 2048

	espHeaderLen = 8 // SPI | sequence number
	maxIVLen     = aes.BlockSize
	maxICVLen    = 32 // HMAC-SHA2-512-256

	// SealHeadroom is the most bytes Seal writes in front of the packet.
	SealHeadroom = espHeaderLen + maxIVLen
	// SealTailroom is the most bytes Seal writes after the packet:
	// padding to the AES block, pad length, next header and the ICV.
	SealTailroom = aes.BlockSize - 1 + 2 + maxICVLen

	nextHeaderIPv4 = 4
	nextHeaderIPv6 = 41
)

// Sentinel errors of Seal and Open; each maps to one drop reason (ReasonOf).
var (
	ErrAuthFailed    = errors.New("esp: integrity check failed")
	ErrReplay        = errors.New("esp: replayed or too old sequence number")
	ErrBadPadding    = errors.New("esp: bad padding")
	ErrBadNextHeader = errors.New("esp: unsupported next header")
	ErrMalformed     = errors.New("esp: malformed packet")
	ErrSeqOverflow   = errors.New("esp: sequence numbers exhausted, SA must be rekeyed")
	ErrNoRoom        = errors.New("esp: buffer lacks headroom or tailroom")
)

// ivSetter lets one CBC BlockMode be reused for every packet; the standard
// library's AES CBC modes implement it (creating a mode per packet allocates).
type ivSetter interface{ SetIV([]byte) }

// SA is one ESP security association. Seal and Open are safe for concurrent
// use; an SA is normally used in one direction only.
//
// The datapath splits both operations in two (see send.go, receive.go): a
// cheap sequential step under mu (reserveSeq outbound; accept, the replay
// window, inbound) and the crypto (seal, decrypt), which any number of
// goroutines run at once, each with a saCrypto of its own taken from the SA
// (getCrypto, putCrypto).
type SA struct {
	// promote, on an inbound SA installed by a rekey, is the outbound SA
	// of the same pair, waiting to become the tunnel's current one (see
	// Tunnel.Install). Nil once promoted: one atomic load per packet.
	promote atomic.Pointer[outbound]

	spi    uint32
	suite  suite.ESP
	ivLen  int
	icvLen int
	align  int // the ciphertext (payload..next header) is a multiple of this
	window uint32

	counters counters

	// Read-only after NewSA, safe for concurrent use.
	aead  cipher.AEAD  // AES-GCM-16
	salt  [4]byte      // the implicit part of the GCM nonce
	block cipher.Block // AES-CBC
	ivGen cipher.Block // AES under a random key: IV = E(seq), unpredictable without a syscall per packet
	mac0  hash.Cloner  // keyed, unused HMAC: cloned for each saCrypto

	mu       sync.Mutex // guards seq, rp and the embedded saCrypto
	seq      uint32     // last sequence number sent (or reserved)
	rp       replayWindow
	saCrypto // Seal's and Open's own state

	cmu   sync.Mutex  // guards spare
	spare []*saCrypto // idle crypto states of the parallel datapath
}

// saCrypto is the mutable cipher state of one goroutine sealing or opening
// with an SA: the GCM nonce, the CBC modes (their IV is state) and the HMAC.
// AES blocks and the GCM AEAD are stateless and shared through the SA.
type saCrypto struct {
	nonce          [12]byte // salt | explicit IV
	cbcEnc, cbcDec cipher.BlockMode
	ivIn           [aes.BlockSize]byte
	mac            hash.Hash
	sum            [64]byte
}

// NewSA checks cfg and builds the cipher state once; keys are copied into the
// cipher objects and not kept.
func NewSA(cfg SAConfig) (*SA, error) {
	if cfg.SPI < 256 {
		// RFC 4303 §2.1: 1..255 are reserved by IANA, 0 is local-use only.
		return nil, fmt.Errorf("esp: SPI %#x is reserved", cfg.SPI)
	}
	w := cfg.ReplayWindow
	if w == 0 {
		w = DefaultReplayWindow
	}
	if w < MinReplayWindow || w > MaxReplayWindow {
		return nil, fmt.Errorf("esp: replay window %d outside %d..%d", w, MinReplayWindow, MaxReplayWindow)
	}
	c := cfg.ESP.Cipher
	if c.KeyBits != 128 && c.KeyBits != 256 {
		return nil, fmt.Errorf("esp: unsupported key size %d", c.KeyBits)
	}
	if len(cfg.EncrKey) != c.KeyLen() {
		return nil, fmt.Errorf("esp: %v needs a %d-byte key, got %d", c, c.KeyLen(), len(cfg.EncrKey))
	}
	sa := &SA{spi: cfg.SPI, suite: cfg.ESP, window: uint32(w)}
	switch c.Encr {
	case suite.EncrAESGCM16:
		if cfg.ESP.Integ != suite.IntegNone {
			return nil, fmt.Errorf("esp: %v takes no separate integrity algorithm", c)
		}
		n := len(cfg.EncrKey) - 4
		block, err := aes.NewCipher(cfg.EncrKey[:n])
		if err != nil {
			return nil, err
		}
		if sa.aead, err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
		copy(sa.salt[:], cfg.EncrKey[n:])
		sa.ivLen, sa.icvLen, sa.align = 8, 16, 4
	case suite.EncrAESCBC:
		newHash := hashFor(cfg.ESP.Integ)
		if newHash == nil {
			return nil, fmt.Errorf("esp: %v needs an integrity algorithm, got %v", c, cfg.ESP.Integ)
		}
		if len(cfg.IntegKey) != cfg.ESP.Integ.KeyLen() {
			return nil, fmt.Errorf("esp: %v needs a %d-byte key, got %d", cfg.ESP.Integ, cfg.ESP.Integ.KeyLen(), len(cfg.IntegKey))
		}
		var err error
		if sa.block, err = aes.NewCipher(cfg.EncrKey); err != nil {
			return nil, err
		}
		var ivKey [16]byte
		if _, err := rand.Read(ivKey[:]); err != nil {
			return nil, err
		}
		if sa.ivGen, err = aes.NewCipher(ivKey[:]); err != nil {
			return nil, err
		}
		mac, ok := hmac.New(newHash, cfg.IntegKey).(hash.Cloner)
		if !ok {
			return nil, errors.New("esp: HMAC cannot be cloned")
		}
		sa.mac0 = mac
		sa.ivLen, sa.icvLen, sa.align = aes.BlockSize, cfg.ESP.Integ.ICVLen(), aes.BlockSize
	default:
		return nil, fmt.Errorf("esp: unsupported cipher %v", c)
	}
	if err := sa.initCrypto(&sa.saCrypto); err != nil {
		return nil, err
	}
	sa.rp.reset(sa.window)
	return sa, nil
}

// initCrypto fills a fresh saCrypto for sa.
func (sa *SA) initCrypto(c *saCrypto) error {
	copy(c.nonce[:4], sa.salt[:])
	if sa.block == nil {
		return nil
	}
	var zero [aes.BlockSize]byte
	c.cbcEnc = cipher.NewCBCEncrypter(sa.block, zero[:])
	c.cbcDec = cipher.NewCBCDecrypter(sa.block, zero[:])
	_, okE := c.cbcEnc.(ivSetter)
	_, okD := c.cbcDec.(ivSetter)
	if !okE || !okD {
		return errors.New("esp: AES-CBC mode cannot reset its IV")
	}
	mac, err := sa.mac0.Clone()
	if err != nil {
		return fmt.Errorf("esp: clone HMAC: %w", err)
	}
	c.mac = mac
	return nil
}

// getCrypto returns an idle crypto state for one goroutine's use, making one
// when none is idle: at most one per goroutine using the SA at once, so the
// steady state allocates nothing. Give it back with putCrypto.
func (sa *SA) getCrypto() *saCrypto {
	sa.cmu.Lock()
	if n := len(sa.spare); n > 0 {
		c := sa.spare[n-1]
		sa.spare[n-1] = nil
		sa.spare = sa.spare[:n-1]
		sa.cmu.Unlock()
		return c
	}
	sa.cmu.Unlock()
	c := new(saCrypto)
	if err := sa.initCrypto(c); err != nil {
		panic(err) // NewSA succeeded with the same inputs
	}
	return c
}

func (sa *SA) putCrypto(c *saCrypto) {
	sa.cmu.Lock()
	sa.spare = append(sa.spare, c)
	sa.cmu.Unlock()
}

func hashFor(i suite.Integ) func() hash.Hash {
	switch i {
	case suite.IntegHMACSHA1_96:
		return sha1.New
	case suite.IntegHMACSHA256128:
		return sha256.New
	case suite.IntegHMACSHA384192:
		return sha512.New384
	case suite.IntegHMACSHA512256:
		return sha512.New
	}
	return nil
}

// SPI returns the SA's security parameter index.
func (sa *SA) SPI() uint32 { return sa.spi }

// HeaderLen is the ESP header plus IV: the offset of the payload in a packet.
func (sa *SA) HeaderLen() int { return espHeaderLen + sa.ivLen }

// Overhead is the largest number of bytes Seal adds to a packet of n bytes.
func (sa *SA) Overhead(n int) int {
	return sa.HeaderLen() + sa.padLen(n) + 2 + sa.icvLen
}

// String names the SA for logs; it never shows keys.
func (sa *SA) String() string { return fmt.Sprintf("SA(%#08x %v)", sa.spi, sa.suite) }

func (sa *SA) padLen(n int) int { return (sa.align - (n+2)%sa.align) % sa.align }

// Seal encrypts the IP packet buf[off:off+n] in place as an ESP packet and
// returns its bounds in buf. The ESP header and IV go in front of off
// (HeaderLen bytes), padding and ICV after the packet (see SealTailroom).
// The next header is 4 or 41 according to the packet's IP version.
//
// Seal is the three steps of the datapath in one call: prepareSeal,
// reserveSeq and seal.
func (sa *SA) Seal(buf []byte, off, n int) (start, end int, err error) {
	start, ptEnd, err := sa.prepareSeal(buf, off, n)
	if err != nil {
		return 0, 0, err
	}
	sa.mu.Lock()
	defer sa.mu.Unlock()
	if sa.seq == math.MaxUint32 {
		// 32-bit sequence numbers must not cycle (RFC 4303 §3.3.3).
		return 0, 0, ErrSeqOverflow
	}
	sa.seq++
	end = sa.sealLocked(buf, start, ptEnd, sa.seq, nil)
	return start, end, nil
}

// prepareSeal checks that the IP packet buf[off:off+n] can be sealed in
// place and writes its ESP trailer (padding, pad length, next header). It
// returns where the ESP packet will start and where its plaintext ends; the
// ICV goes after ptEnd. It touches no SA state.
func (sa *SA) prepareSeal(buf []byte, off, n int) (start, ptEnd int, err error) {
	if n <= 0 || off < 0 || off+n > len(buf) {
		return 0, 0, ErrMalformed
	}
	var nh byte
	switch buf[off] >> 4 {
	case 4:
		nh = nextHeaderIPv4
	case 6:
		nh = nextHeaderIPv6
	default:
		return 0, 0, ErrBadNextHeader
	}
	start = off - sa.HeaderLen()
	pad := sa.padLen(n)
	ptEnd = off + n + pad + 2
	if start < 0 || ptEnd+sa.icvLen > len(buf) {
		return 0, 0, ErrNoRoom
	}
	// Self-describing padding, RFC 4303 §2.4: 1, 2, 3, ...
	for i := 0; i < pad; i++ {
		buf[off+n+i] = byte(i + 1)
	}
	buf[ptEnd-2] = byte(pad)
	buf[ptEnd-1] = nh
	return start, ptEnd, nil
}

// reserveSeq takes the next n outbound sequence numbers, first..first+got-1,
// in one step. got < n only when the 32-bit space runs out (RFC 4303
// §3.3.3: it must not cycle); the SA must then be rekeyed.
func (sa *SA) reserveSeq(n int) (first uint32, got int) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	left := uint64(math.MaxUint32 - sa.seq)
	got = int(min(uint64(n), left))
	first = sa.seq + 1
	sa.seq += uint32(got)
	return first, got
}

// sealLocked is seal with the SA's own crypto state; the caller holds mu
// (tests call it alone).
func (sa *SA) sealLocked(buf []byte, start, ptEnd int, seq uint32, iv []byte) int {
	return sa.seal(&sa.saCrypto, buf, start, ptEnd, seq, iv)
}

// seal writes the header, encrypts buf[start+HeaderLen:ptEnd] (payload
// with its trailer, see prepareSeal) and appends the ICV, using c, which
// the caller owns. iv == nil derives the IV from seq; tests pass published
// IVs. It returns the end of the packet.
func (sa *SA) seal(c *saCrypto, buf []byte, start, ptEnd int, seq uint32, iv []byte) int {
	binary.BigEndian.PutUint32(buf[start:], sa.spi)
	binary.BigEndian.PutUint32(buf[start+4:], seq)
	ivb := buf[start+espHeaderLen : start+sa.HeaderLen()]
	pt := buf[start+sa.HeaderLen() : ptEnd]
	if sa.aead != nil {
		// RFC 4106 §3.1: the explicit IV must never repeat under a key;
		// the sequence number gives that for free.
		if iv != nil {
			copy(ivb, iv)
		} else {
			binary.BigEndian.PutUint64(ivb, uint64(seq))
		}
		copy(c.nonce[4:], ivb)
		sa.aead.Seal(pt[:0], c.nonce[:], pt, buf[start:start+espHeaderLen])
		return ptEnd + sa.icvLen
	}
	if iv != nil {
		copy(ivb, iv)
	} else {
		// RFC 3602 §2.4 wants unpredictable IVs: encrypt the (unique)
		// sequence number under a per-SA random key.
		clear(c.ivIn[:8])
		binary.BigEndian.PutUint64(c.ivIn[8:], uint64(seq))
		sa.ivGen.Encrypt(ivb, c.ivIn[:])
	}
	c.cbcEnc.(ivSetter).SetIV(ivb)
	c.cbcEnc.CryptBlocks(pt, pt)
	c.mac.Reset()
	c.mac.Write(buf[start:ptEnd])
	copy(buf[ptEnd:], c.mac.Sum(c.sum[:0])[:sa.icvLen])
	return ptEnd + sa.icvLen
}

// Open authenticates and decrypts the ESP packet pkt (from the SPI to the
// ICV) in place and returns the inner IP packet, a subslice of pkt starting
// at HeaderLen. The ICV is checked before decryption and before the replay
// window moves (RFC 4303 §3.4.3, §3.4.4).
//
// The datapath does the same in three steps: mayAccept before the crypto
// (a cheap early drop of replays), decrypt on any goroutine, then accept in
// arrival order.
func (sa *SA) Open(pkt []byte) ([]byte, error) {
	ct, err := sa.openPayload(pkt)
	if err != nil {
		return nil, err
	}
	return parseTrailer(ct)
}

// openPayload returns the decrypted payload with padding, pad length and
// next header still attached.
func (sa *SA) openPayload(pkt []byte) ([]byte, error) {
	seq, err := sa.checkHeader(pkt)
	if err != nil {
		return nil, err
	}
	sa.mu.Lock()
	defer sa.mu.Unlock()
	// Cheap duplicate check first, so replays cost no crypto.
	if !sa.rp.check(seq) {
		return nil, ErrReplay
	}
	ct, err := sa.decrypt(&sa.saCrypto, pkt)
	if err != nil {
		return nil, err
	}
	sa.rp.update(seq)
	return ct, nil
}

// checkHeader checks pkt's length, alignment and SPI, and returns its
// sequence number.
func (sa *SA) checkHeader(pkt []byte) (seq uint32, err error) {
	hl := sa.HeaderLen()
	if len(pkt) < hl+sa.align+sa.icvLen {
		return 0, ErrMalformed
	}
	if (len(pkt)-hl-sa.icvLen)%sa.align != 0 || binary.BigEndian.Uint32(pkt) != sa.spi {
		return 0, ErrMalformed
	}
	return binary.BigEndian.Uint32(pkt[4:]), nil
}

// decrypt checks the ICV of pkt, which checkHeader accepted, and decrypts
// it in place, using c, which the caller owns. It leaves the replay window
// alone: the caller must accept the sequence number afterwards.
func (sa *SA) decrypt(c *saCrypto, pkt []byte) ([]byte, error) {
	hl := sa.HeaderLen()
	ct := pkt[hl : len(pkt)-sa.icvLen]
	if sa.aead != nil {
		copy(c.nonce[4:], pkt[espHeaderLen:hl])
		if _, err := sa.aead.Open(ct[:0], c.nonce[:], pkt[hl:], pkt[:espHeaderLen]); err != nil {
			return nil, ErrAuthFailed
		}
		return ct, nil
	}
	c.mac.Reset()
	c.mac.Write(pkt[:len(pkt)-sa.icvLen])
	sum := c.mac.Sum(c.sum[:0])[:sa.icvLen]
	if !hmac.Equal(sum, pkt[len(pkt)-sa.icvLen:]) {
		return nil, ErrAuthFailed
	}
	c.cbcDec.(ivSetter).SetIV(pkt[espHeaderLen:hl])
	c.cbcDec.CryptBlocks(ct, ct)
	return ct, nil
}

// mayAccept reports whether seq could still be accepted. The window only
// moves forward, so a false answer stays false: a packet refused here can be
// dropped before any crypto.
func (sa *SA) mayAccept(seq uint32) bool {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return sa.rp.check(seq)
}

// accept checks seq, of an authenticated packet, against the replay window
// and records it (RFC 4303 §3.4.3: the window moves only for packets whose
// ICV was verified).
func (sa *SA) accept(seq uint32) bool {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	if !sa.rp.check(seq) {
		return false
	}
	sa.rp.update(seq)
	return true
}

// parseTrailer checks the self-describing padding and the next header, and
// returns the inner packet trimmed to its IP length (which drops TFC padding).
func parseTrailer(ct []byte) ([]byte, error) {
	if len(ct) < 2 {
		return nil, ErrMalformed
	}
	pad := int(ct[len(ct)-2])
	nh := ct[len(ct)-1]
	if pad+2 > len(ct) {
		return nil, ErrBadPadding
	}
	inner := ct[:len(ct)-2-pad]
	for i, b := range ct[len(inner) : len(ct)-2] {
		if b != byte(i+1) {
			return nil, ErrBadPadding
		}
	}
	switch nh {
	case nextHeaderIPv4:
		if len(inner) < 20 || inner[0]>>4 != 4 {
			return nil, ErrMalformed
		}
		l := int(binary.BigEndian.Uint16(inner[2:]))
		if l < 20 || l > len(inner) {
			return nil, ErrMalformed
		}
		return inner[:l], nil
	case nextHeaderIPv6:
		if len(inner) < 40 || inner[0]>>4 != 6 {
			return nil, ErrMalformed
		}
		l := 40 + int(binary.BigEndian.Uint16(inner[4:]))
		if l > len(inner) {
			return nil, ErrMalformed
		}
		return inner[:l], nil
	}
	// Includes 59, the dummy packets of RFC 4303 §2.6: discarded too.
	return nil, ErrBadNextHeader
}
