package message

import "encoding/binary"

// KE is the Key Exchange payload (RFC 7296 §3.4). Data is the public value:
// the big-endian MODP value, ECP x||y, or the Curve25519 u-coordinate.
type KE struct {
	Group uint16
	Data  []byte
}

func (*KE) Type() PayloadType { return PayloadKE }

func (k *KE) DecodeFromBytes(b []byte) error {
	if len(b) < 4 {
		return syntaxError("KE body truncated: %d bytes", len(b))
	}
	k.Group = binary.BigEndian.Uint16(b)
	k.Data = clone(b[4:])
	return nil
}

func (k *KE) Serialize() ([]byte, error) {
	b := make([]byte, 4, 4+len(k.Data))
	binary.BigEndian.PutUint16(b, k.Group)
	return append(b, k.Data...), nil
}
