package message

// ID is the Identification payload (RFC 7296 §3.5): IDi when Initiator is
// set, IDr otherwise. Data is the identity in its type's encoding (4 or 16
// address bytes, or the FQDN/RFC822/KEY_ID octets).
type ID struct {
	Initiator bool
	IDType    uint8
	Data      []byte
}

func (id *ID) Type() PayloadType {
	if id.Initiator {
		return PayloadIDi
	}
	return PayloadIDr
}

// DecodeFromBytes keeps Initiator, which comes from the payload type.
func (id *ID) DecodeFromBytes(b []byte) error {
	if len(b) < 4 {
		return syntaxError("ID body truncated: %d bytes", len(b))
	}
	id.IDType = b[0]
	id.Data = clone(b[4:])
	return nil
}

func (id *ID) Serialize() ([]byte, error) { return id.Body(), nil }

// Body is IDType|RESERVED(3)|Data: the "RestOfIDPayload" that the AUTH
// computation of RFC 7296 §2.15 feeds to the PRF as IDx'. Reserved bytes are
// zero, as vpgw and strongSwan send them.
func (id *ID) Body() []byte {
	b := make([]byte, 4, 4+len(id.Data))
	b[0] = id.IDType
	return append(b, id.Data...)
}
