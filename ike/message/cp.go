package message

import (
	"encoding/binary"
	"fmt"
)

// Config is the Configuration payload (RFC 7296 §3.15). vpgw does not hand
// out addresses, but keeps the payload so it can be logged and answered.
type Config struct {
	ConfigType uint8
	Attributes []ConfigAttribute
}

// ConfigAttribute is one configuration attribute (RFC 7296 §3.15.1). Type is
// 15 bits; the reserved top bit is ignored on receipt and sent as zero.
type ConfigAttribute struct {
	Type  uint16
	Value []byte
}

func (*Config) Type() PayloadType { return PayloadCP }

func (c *Config) DecodeFromBytes(b []byte) error {
	if len(b) < 4 {
		return syntaxError("CP body truncated: %d bytes", len(b))
	}
	c.ConfigType, c.Attributes = b[0], nil
	for rest := b[4:]; len(rest) > 0; {
		if len(rest) < 4 {
			return syntaxError("configuration attribute truncated")
		}
		typ, n := binary.BigEndian.Uint16(rest)&0x7fff, int(binary.BigEndian.Uint16(rest[2:]))
		if 4+n > len(rest) {
			return syntaxError("configuration attribute %d: length %d, %d bytes left", typ, n, len(rest)-4)
		}
		c.Attributes = append(c.Attributes, ConfigAttribute{Type: typ, Value: clone(rest[4 : 4+n])})
		rest = rest[4+n:]
	}
	return nil
}

func (c *Config) Serialize() ([]byte, error) {
	b := []byte{c.ConfigType, 0, 0, 0}
	for _, a := range c.Attributes {
		if a.Type > 0x7fff {
			return nil, fmt.Errorf("ikev2 message: configuration attribute type %d exceeds 15 bits", a.Type)
		}
		if len(a.Value) > 0xffff {
			return nil, errTooLong("configuration attribute", len(a.Value))
		}
		b = binary.BigEndian.AppendUint16(b, a.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b, nil
}
