package message

import "fmt"

// Nonce is the Nonce payload (RFC 7296 §3.9).
type Nonce struct {
	Data []byte
}

// Nonce size bounds of RFC 7296 §3.9; they are part of the format, so both
// directions enforce them.
const (
	MinNonceLen = 16
	MaxNonceLen = 256
)

func (*Nonce) Type() PayloadType { return PayloadNonce }

func (n *Nonce) DecodeFromBytes(b []byte) error {
	if len(b) < MinNonceLen || len(b) > MaxNonceLen {
		return syntaxError("nonce of %d bytes, want %d..%d", len(b), MinNonceLen, MaxNonceLen)
	}
	n.Data = clone(b)
	return nil
}

func (n *Nonce) Serialize() ([]byte, error) {
	if len(n.Data) < MinNonceLen || len(n.Data) > MaxNonceLen {
		return nil, fmt.Errorf("ikev2 message: nonce of %d bytes, want %d..%d", len(n.Data), MinNonceLen, MaxNonceLen)
	}
	return clone(n.Data), nil
}
