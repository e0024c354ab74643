package isakmp

import (
	"encoding/binary"
	"fmt"
)

// Header is the ISAKMP header (RFC 2408 §3.1). Version is the whole byte
// (major<<4 | minor). Message.Serialize computes NextPayload and Length for
// clear messages; the values stored here are what was received.
type Header struct {
	ICookie, RCookie uint64
	NextPayload      PayloadType
	Version          uint8
	Exchange         ExchangeType
	Flags            uint8
	MessageID        uint32
	Length           uint32
}

// Encrypted reports whether the body after the header is encrypted.
func (h Header) Encrypted() bool { return h.Flags&FlagEncryption != 0 }

// DecodeFromBytes reads the first HeaderLen bytes of b. It checks syntax
// only; Parse adds the version and length checks.
func (h *Header) DecodeFromBytes(b []byte) error {
	if len(b) < HeaderLen {
		return malformed("header truncated: %d bytes", len(b))
	}
	h.ICookie = binary.BigEndian.Uint64(b[0:8])
	h.RCookie = binary.BigEndian.Uint64(b[8:16])
	h.NextPayload = PayloadType(b[16])
	h.Version = b[17]
	h.Exchange = ExchangeType(b[18])
	h.Flags = b[19]
	h.MessageID = binary.BigEndian.Uint32(b[20:24])
	h.Length = binary.BigEndian.Uint32(b[24:28])
	return nil
}

// Serialize writes the header exactly as stored (a zero Version as 0x10).
func (h Header) Serialize() ([]byte, error) {
	return h.append(make([]byte, 0, HeaderLen), h.NextPayload, h.Length), nil
}

func (h Header) append(dst []byte, next PayloadType, length uint32) []byte {
	v := h.Version
	if v == 0 {
		v = Version // callers building a fresh header need not set it
	}
	dst = binary.BigEndian.AppendUint64(dst, h.ICookie)
	dst = binary.BigEndian.AppendUint64(dst, h.RCookie)
	dst = append(dst, byte(next), v, byte(h.Exchange), h.Flags)
	dst = binary.BigEndian.AppendUint32(dst, h.MessageID)
	return binary.BigEndian.AppendUint32(dst, length)
}

// AppendEncrypted appends an encrypted message: the header with
// FlagEncryption set, NextPayload = first (the type of the first encrypted
// payload) and Length = HeaderLen+len(ciphertext), then the ciphertext.
func AppendEncrypted(dst []byte, h Header, first PayloadType, ciphertext []byte) []byte {
	h.Flags |= FlagEncryption
	dst = h.append(dst, first, uint32(HeaderLen+len(ciphertext)))
	return append(dst, ciphertext...)
}

// String names the exchange and the SA, e.g.
// "ID_PROT 183dcd8ced11ded0_i 900b5909025466b9_r mid 0".
func (h Header) String() string {
	s := fmt.Sprintf("%v %016x_i %016x_r mid %d", h.Exchange, h.ICookie, h.RCookie, h.MessageID)
	if h.Encrypted() {
		s += " encrypted"
	}
	return s
}
