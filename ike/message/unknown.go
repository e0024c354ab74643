package message

// Unknown keeps a payload vpgw has no decoder for (CERT, CERTREQ, EAP, or a
// type from a later RFC), with its critical bit, like strongSwan's
// unknown_payload. Parse only returns non-critical ones: a critical unknown
// payload fails with UNSUPPORTED_CRITICAL_PAYLOAD (RFC 7296 §2.5).
type Unknown struct {
	T        PayloadType
	Critical bool
	Body     []byte
}

func (u *Unknown) Type() PayloadType { return u.T }

// DecodeFromBytes keeps T and Critical, which come from the generic header.
func (u *Unknown) DecodeFromBytes(b []byte) error {
	u.Body = clone(b)
	return nil
}

func (u *Unknown) Serialize() ([]byte, error) { return clone(u.Body), nil }
