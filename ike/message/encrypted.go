package message

import (
	"encoding/binary"
	"fmt"
)

// Encrypted is the Encrypted and Authenticated payload SK (RFC 7296 §3.14).
// NextPayload is the type of the first inner payload (the SK generic header's
// Next Payload field). Body is IV|ciphertext|ICV, still protected. Parse sets
// BodyOffset to Body's offset in Message.Raw, so Raw[:BodyOffset] is the AAD
// (AEAD) and Raw[:len(Raw)-ICV] the integrity-checked octets.
type Encrypted struct {
	NextPayload PayloadType
	Body        []byte
	BodyOffset  int
}

func (*Encrypted) Type() PayloadType { return PayloadSK }

// DecodeFromBytes sets Body; NextPayload and BodyOffset come from the chain.
func (e *Encrypted) DecodeFromBytes(b []byte) error {
	e.Body = clone(b)
	return nil
}

func (e *Encrypted) Serialize() ([]byte, error) { return clone(e.Body), nil }

// EncryptedFragment is the Encrypted Fragment payload SKF (RFC 7383 §2.5).
// NextPayload is the first inner payload type in fragment 1 and zero in the
// others. Body is IV|ciphertext|ICV after the fragment numbers; Parse sets
// BodyOffset so that Raw[:BodyOffset] is the AAD, fragment numbers included.
type EncryptedFragment struct {
	NextPayload    PayloadType
	FragmentNumber uint16
	TotalFragments uint16
	Body           []byte
	BodyOffset     int
}

func (*EncryptedFragment) Type() PayloadType { return PayloadSKF }

func (e *EncryptedFragment) DecodeFromBytes(b []byte) error {
	if len(b) < 4 {
		return syntaxError("SKF body truncated: %d bytes", len(b))
	}
	e.FragmentNumber = binary.BigEndian.Uint16(b)
	e.TotalFragments = binary.BigEndian.Uint16(b[2:])
	e.Body = clone(b[4:])
	return nil
}

func (e *EncryptedFragment) Serialize() ([]byte, error) {
	if len(e.Body) > maxPayloadBody-4 {
		return nil, fmt.Errorf("ikev2 message: SKF body of %d bytes", len(e.Body))
	}
	b := make([]byte, 4, 4+len(e.Body))
	binary.BigEndian.PutUint16(b, e.FragmentNumber)
	binary.BigEndian.PutUint16(b[2:], e.TotalFragments)
	return append(b, e.Body...), nil
}
