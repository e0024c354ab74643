package message

import (
	"go/format"
	"os"
	"path/filepath"
	"testing"
)

// The signatures other packages were written against (/tmp/contract.md);
// a change here breaks them, so it must fail to compile here first.
var (
	_ func([]byte) (*Message, error)                = Parse
	_ func(PayloadType, []byte) ([]Payload, error)  = ParsePayloads
	_ func([]Payload) (PayloadType, []byte, error)  = SerializePayloads
	_ func([]byte, Header, PayloadType, int) []byte = AppendEncryptedHeader
	_ func(*Message) ([]byte, error)                = (*Message).Serialize
	_ func(*Message, PayloadType) Payload           = (*Message).Find
	_ func(*ID) []byte                              = (*ID).Body
	_ func(*ParseError) error                       = (*ParseError).Unwrap
	_                                               = ParseError{Notify: INVALID_SYNTAX, Err: nil}
	_                                               = Header{SPIi: 0, SPIr: 0, NextPayload: PayloadNone, MajorVersion: 2, MinorVersion: 0,
		Exchange: IKE_SA_INIT, Flags: FlagInitiator | FlagVersion | FlagResponse, MessageID: 0, Length: HeaderLen}
	_ = Message{Header: Header{}, Payloads: []Payload{}, Raw: []byte{}}

	_ Payload = (*SA)(nil)
	_ Payload = (*KE)(nil)
	_ Payload = (*Nonce)(nil)
	_ Payload = (*ID)(nil)
	_ Payload = (*Auth)(nil)
	_ Payload = (*Notify)(nil)
	_ Payload = (*Delete)(nil)
	_ Payload = (*VendorID)(nil)
	_ Payload = (*TrafficSelectors)(nil)
	_ Payload = (*Config)(nil)
	_ Payload = (*Encrypted)(nil)
	_ Payload = (*EncryptedFragment)(nil)
	_ Payload = (*Unknown)(nil)
)

// TestGofmt fails on files that gofmt would change, as wireguard-go's
// format_test.go does.
func TestGofmt(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, err := format.Source(src)
		if err != nil {
			t.Errorf("%s: %v", f, err)
		} else if string(out) != string(src) {
			t.Errorf("%s is not gofmt-ed", f)
		}
	}
}
