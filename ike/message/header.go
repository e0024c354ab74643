package message

import (
	"encoding/binary"
	"fmt"
)

// Header is the fixed IKE header (RFC 7296 §3.1). Message.Serialize computes
// NextPayload and Length; the values stored here are what was received.
type Header struct {
	SPIi, SPIr                 uint64
	NextPayload                PayloadType
	MajorVersion, MinorVersion uint8
	Exchange                   ExchangeType
	Flags                      uint8
	MessageID                  uint32
	Length                     uint32
}

// IsInitiator reports whether the sender is the original initiator of the IKE SA.
func (h Header) IsInitiator() bool { return h.Flags&FlagInitiator != 0 }

// IsResponse reports whether the message is a response.
func (h Header) IsResponse() bool { return h.Flags&FlagResponse != 0 }

// DecodeFromBytes reads the first HeaderLen bytes of b. It checks syntax
// only; Parse adds the version and length checks.
func (h *Header) DecodeFromBytes(b []byte) error {
	if len(b) < HeaderLen {
		return syntaxError("header truncated: %d bytes", len(b))
	}
	h.SPIi = binary.BigEndian.Uint64(b[0:8])
	h.SPIr = binary.BigEndian.Uint64(b[8:16])
	h.NextPayload = PayloadType(b[16])
	h.MajorVersion = b[17] >> 4
	h.MinorVersion = b[17] & 0x0f
	h.Exchange = ExchangeType(b[18])
	h.Flags = b[19]
	h.MessageID = binary.BigEndian.Uint32(b[20:24])
	h.Length = binary.BigEndian.Uint32(b[24:28])
	return nil
}

// Serialize writes the header exactly as stored (a zero MajorVersion as 2).
func (h Header) Serialize() ([]byte, error) {
	if h.MajorVersion > 15 || h.MinorVersion > 15 {
		return nil, fmt.Errorf("ikev2 message: version %d.%d does not fit", h.MajorVersion, h.MinorVersion)
	}
	return h.append(make([]byte, 0, HeaderLen), h.NextPayload, h.Length), nil
}

func (h Header) append(dst []byte, next PayloadType, length uint32) []byte {
	major := h.MajorVersion
	if major == 0 {
		major = 2 // callers building a fresh header need not set it
	}
	dst = binary.BigEndian.AppendUint64(dst, h.SPIi)
	dst = binary.BigEndian.AppendUint64(dst, h.SPIr)
	dst = append(dst, byte(next), major<<4|h.MinorVersion&0x0f, byte(h.Exchange), h.Flags)
	dst = binary.BigEndian.AppendUint32(dst, h.MessageID)
	return binary.BigEndian.AppendUint32(dst, length)
}

// AppendEncryptedHeader appends the IKE header (NextPayload SK, Length
// 28+4+bodyLen) and the SK generic header (Next Payload = inner). The caller
// appends the body (IV|ciphertext|ICV), at most 65531 bytes (the SK
// payload's length field is 16 bits). Everything appended is the AAD and the
// integrity-protected prefix of RFC 7296 §3.14 / RFC 5282.
func AppendEncryptedHeader(dst []byte, h Header, inner PayloadType, bodyLen int) []byte {
	dst = h.append(dst, PayloadSK, uint32(HeaderLen+genericHeaderLen+bodyLen))
	return appendGenericHeader(dst, inner, false, genericHeaderLen+bodyLen)
}

func (h Header) String() string {
	dir := "request"
	if h.IsResponse() {
		dir = "response"
	}
	return fmt.Sprintf("%v %s %016x_i %016x_r mid %d", h.Exchange, dir, h.SPIi, h.SPIr, h.MessageID)
}
