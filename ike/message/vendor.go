package message

// VendorID is the Vendor ID payload (RFC 7296 §3.12).
type VendorID struct {
	Data []byte
}

func (*VendorID) Type() PayloadType { return PayloadVendorID }

func (v *VendorID) DecodeFromBytes(b []byte) error {
	v.Data = clone(b)
	return nil
}

func (v *VendorID) Serialize() ([]byte, error) { return clone(v.Data), nil }
