package isakmp

// The payloads whose body is opaque data: KE (RFC 2408 §3.7), Hash (§3.11),
// Nonce (§3.13), Vendor ID (§3.16), NAT-D (RFC 3947 §3.2) and Unknown.

// KE is the Key Exchange payload: the Diffie-Hellman public value.
type KE struct {
	rawBody
	Data []byte
}

func (*KE) Type() PayloadType { return PayloadKE }

func (k *KE) DecodeFromBytes(b []byte) error {
	k.Data = clone(b)
	k.setRaw(b)
	return nil
}

func (k *KE) Serialize() ([]byte, error) { return clone(k.Data), nil }

// Nonce is the Nonce payload; its length (8..256 bytes per RFC 2409 §5) is
// for the exchange to check.
type Nonce struct {
	rawBody
	Data []byte
}

func (*Nonce) Type() PayloadType { return PayloadNonce }

func (n *Nonce) DecodeFromBytes(b []byte) error {
	n.Data = clone(b)
	n.setRaw(b)
	return nil
}

func (n *Nonce) Serialize() ([]byte, error) { return clone(n.Data), nil }

// Hash is the Hash payload (HASH_I, HASH_R, Quick Mode HASH(1..3)).
type Hash struct {
	rawBody
	Data []byte
}

func (*Hash) Type() PayloadType { return PayloadHash }

func (h *Hash) DecodeFromBytes(b []byte) error {
	h.Data = clone(b)
	h.setRaw(b)
	return nil
}

func (h *Hash) Serialize() ([]byte, error) { return clone(h.Data), nil }

// VendorID is the Vendor ID payload; see DescribeVendorID for known values.
type VendorID struct {
	rawBody
	Data []byte
}

func (*VendorID) Type() PayloadType { return PayloadVendorID }

func (v *VendorID) DecodeFromBytes(b []byte) error {
	v.Data = clone(b)
	v.setRaw(b)
	return nil
}

func (v *VendorID) Serialize() ([]byte, error) { return clone(v.Data), nil }

// NATD is a NAT-D payload: HASH(CKY-I | CKY-R | IP | Port) with the
// negotiated hash. Draft selects payload type 130 (NAT-T drafts 02/03)
// instead of 20 (RFC 3947).
type NATD struct {
	rawBody
	Draft bool
	Hash  []byte
}

func (n *NATD) Type() PayloadType {
	if n.Draft {
		return PayloadNATDDraft
	}
	return PayloadNATD
}

// DecodeFromBytes keeps Draft, which comes from the payload type.
func (n *NATD) DecodeFromBytes(b []byte) error {
	n.Hash = clone(b)
	n.setRaw(b)
	return nil
}

func (n *NATD) Serialize() ([]byte, error) { return clone(n.Hash), nil }

// Unknown keeps a payload vpgw has no decoder for (CERT, CR, SIG, Mode
// Config attributes, fragments, or a type from a later document). IKEv1 has
// no critical bit, so refusing one is the exchange's decision.
type Unknown struct {
	rawBody
	T    PayloadType
	Body []byte
}

func (u *Unknown) Type() PayloadType { return u.T }

// DecodeFromBytes keeps T, which comes from the chain.
func (u *Unknown) DecodeFromBytes(b []byte) error {
	u.Body = clone(b)
	u.setRaw(b)
	return nil
}

func (u *Unknown) Serialize() ([]byte, error) { return clone(u.Body), nil }
