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
type SA struct {
	spi    uint32
	suite  suite.ESP
	ivLen  int
	icvLen int
	align  int // the ciphertext (payload..next header) is a multiple of this
	window uint32

	counters counters

	mu  sync.Mutex // guards everything below
	seq uint32     // last sequence number sent
	rp  replayWindow

	aead  cipher.AEAD // AES-GCM-16
	nonce [12]byte    // salt | explicit IV

	cbcEnc, cbcDec cipher.BlockMode
	ivGen          cipher.Block // AES under a random key: IV = E(seq), unpredictable without a syscall per packet
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
		copy(sa.nonce[:4], cfg.EncrKey[n:])
		sa.ivLen, sa.icvLen, sa.align = 8, 16, 4
	case suite.EncrAESCBC:
		newHash := hashFor(cfg.ESP.Integ)
		if newHash == nil {
			return nil, fmt.Errorf("esp: %v needs an integrity algorithm, got %v", c, cfg.ESP.Integ)
		}
		if len(cfg.IntegKey) != cfg.ESP.Integ.KeyLen() {
			return nil, fmt.Errorf("esp: %v needs a %d-byte key, got %d", cfg.ESP.Integ, cfg.ESP.Integ.KeyLen(), len(cfg.IntegKey))
		}
		block, err := aes.NewCipher(cfg.EncrKey)
		if err != nil {
			return nil, err
		}
		var zero [aes.BlockSize]byte
		sa.cbcEnc = cipher.NewCBCEncrypter(block, zero[:])
		sa.cbcDec = cipher.NewCBCDecrypter(block, zero[:])
		_, okE := sa.cbcEnc.(ivSetter)
		_, okD := sa.cbcDec.(ivSetter)
		if !okE || !okD {
			return nil, errors.New("esp: AES-CBC mode cannot reset its IV")
		}
		var ivKey [16]byte
		if _, err := rand.Read(ivKey[:]); err != nil {
			return nil, err
		}
		if sa.ivGen, err = aes.NewCipher(ivKey[:]); err != nil {
			return nil, err
		}
		sa.mac = hmac.New(newHash, cfg.IntegKey)
		sa.ivLen, sa.icvLen, sa.align = aes.BlockSize, cfg.ESP.Integ.ICVLen(), aes.BlockSize
	default:
		return nil, fmt.Errorf("esp: unsupported cipher %v", c)
	}
	sa.rp.reset(sa.window)
	return sa, nil
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
func (sa *SA) Seal(buf []byte, off, n int) (start, end int, err error) {
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
	ptEnd := off + n + pad + 2
	if start < 0 || ptEnd+sa.icvLen > len(buf) {
		return 0, 0, ErrNoRoom
	}
	// Self-describing padding, RFC 4303 §2.4: 1, 2, 3, ...
	for i := 0; i < pad; i++ {
		buf[off+n+i] = byte(i + 1)
	}
	buf[ptEnd-2] = byte(pad)
	buf[ptEnd-1] = nh

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

// sealLocked writes the header, encrypts buf[start+HeaderLen:ptEnd] (payload
// with its trailer) and appends the ICV. iv == nil derives the IV from seq;
// tests pass published IVs. It returns the end of the packet.
func (sa *SA) sealLocked(buf []byte, start, ptEnd int, seq uint32, iv []byte) int {
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
		copy(sa.nonce[4:], ivb)
		sa.aead.Seal(pt[:0], sa.nonce[:], pt, buf[start:start+espHeaderLen])
		return ptEnd + sa.icvLen
	}
	if iv != nil {
		copy(ivb, iv)
	} else {
		// RFC 3602 §2.4 wants unpredictable IVs: encrypt the (unique)
		// sequence number under a per-SA random key.
		clear(sa.ivIn[:8])
		binary.BigEndian.PutUint64(sa.ivIn[8:], uint64(seq))
		sa.ivGen.Encrypt(ivb, sa.ivIn[:])
	}
	sa.cbcEnc.(ivSetter).SetIV(ivb)
	sa.cbcEnc.CryptBlocks(pt, pt)
	sa.mac.Reset()
	sa.mac.Write(buf[start:ptEnd])
	copy(buf[ptEnd:], sa.mac.Sum(sa.sum[:0])[:sa.icvLen])
	return ptEnd + sa.icvLen
}

// Open authenticates and decrypts the ESP packet pkt (from the SPI to the
// ICV) in place and returns the inner IP packet, a subslice of pkt starting
// at HeaderLen. The ICV is checked before decryption and before the replay
// window moves (RFC 4303 §3.4.3, §3.4.4).
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
	hl := sa.HeaderLen()
	if len(pkt) < hl+sa.align+sa.icvLen {
		return nil, ErrMalformed
	}
	ct := pkt[hl : len(pkt)-sa.icvLen]
	if len(ct)%sa.align != 0 || binary.BigEndian.Uint32(pkt) != sa.spi {
		return nil, ErrMalformed
	}
	seq := binary.BigEndian.Uint32(pkt[4:])

	sa.mu.Lock()
	defer sa.mu.Unlock()
	// Cheap duplicate check first, so replays cost no crypto.
	if !sa.rp.check(seq) {
		return nil, ErrReplay
	}
	if sa.aead != nil {
		copy(sa.nonce[4:], pkt[espHeaderLen:hl])
		if _, err := sa.aead.Open(ct[:0], sa.nonce[:], pkt[hl:], pkt[:espHeaderLen]); err != nil {
			return nil, ErrAuthFailed
		}
	} else {
		sa.mac.Reset()
		sa.mac.Write(pkt[:len(pkt)-sa.icvLen])
		sum := sa.mac.Sum(sa.sum[:0])[:sa.icvLen]
		if !hmac.Equal(sum, pkt[len(pkt)-sa.icvLen:]) {
			return nil, ErrAuthFailed
		}
		sa.cbcDec.(ivSetter).SetIV(pkt[espHeaderLen:hl])
		sa.cbcDec.CryptBlocks(ct, ct)
	}
	sa.rp.update(seq)
	return ct, nil
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
