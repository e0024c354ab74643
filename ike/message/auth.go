package message

// Auth is the Authentication payload (RFC 7296 §3.8). Method 2
// (AuthSharedKeyMIC) is the PSK MIC of §2.15.
type Auth struct {
	Method uint8
	Data   []byte
}

func (*Auth) Type() PayloadType { return PayloadAUTH }

func (a *Auth) DecodeFromBytes(b []byte) error {
	if len(b) < 4 {
		return syntaxError("AUTH body truncated: %d bytes", len(b))
	}
	a.Method = b[0]
	a.Data = clone(b[4:])
	return nil
}

func (a *Auth) Serialize() ([]byte, error) {
	b := make([]byte, 4, 4+len(a.Data))
	b[0] = a.Method
	return append(b, a.Data...), nil
}
