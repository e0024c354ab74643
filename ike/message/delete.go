package message

import (
	"encoding/binary"
	"fmt"
)

// Delete is the Delete payload (RFC 7296 §3.11). Deleting the IKE SA uses
// Protocol 1 with SPISize 0 and no SPIs; Child SAs use 4-byte ESP/AH SPIs.
type Delete struct {
	Protocol uint8
	SPISize  uint8
	SPIs     [][]byte
}

func (*Delete) Type() PayloadType { return PayloadDelete }

func (d *Delete) DecodeFromBytes(b []byte) error {
	if len(b) < 4 {
		return syntaxError("Delete body truncated: %d bytes", len(b))
	}
	size, count := int(b[1]), int(binary.BigEndian.Uint16(b[2:]))
	rest := b[4:]
	// With SPI size 0 a count would describe nothing; refuse rather than
	// allocate up to 65535 empty SPIs.
	if size == 0 && count != 0 {
		return syntaxError("Delete of %d SPIs of size 0", count)
	}
	if len(rest) != size*count {
		return syntaxError("Delete of %d SPIs of %d bytes in %d bytes", count, size, len(rest))
	}
	d.Protocol, d.SPISize, d.SPIs = b[0], b[1], nil
	if count > 0 {
		d.SPIs = make([][]byte, count)
		for i := range d.SPIs {
			d.SPIs[i] = clone(rest[i*size : (i+1)*size])
		}
	}
	return nil
}

func (d *Delete) Serialize() ([]byte, error) {
	if len(d.SPIs) > 0xffff {
		return nil, fmt.Errorf("ikev2 message: Delete of %d SPIs", len(d.SPIs))
	}
	b := make([]byte, 0, 4+len(d.SPIs)*int(d.SPISize))
	b = append(b, d.Protocol, d.SPISize)
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.SPIs)))
	for i, spi := range d.SPIs {
		if len(spi) != int(d.SPISize) || len(spi) == 0 {
			return nil, fmt.Errorf("ikev2 message: Delete SPI %d has %d bytes, SPI size is %d", i, len(spi), d.SPISize)
		}
		b = append(b, spi...)
	}
	return b, nil
}

// SPIs32 returns the 4-byte SPIs (ESP/AH) as numbers; others are skipped.
func (d *Delete) SPIs32() []uint32 {
	var out []uint32
	for _, spi := range d.SPIs {
		if len(spi) == 4 {
			out = append(out, binary.BigEndian.Uint32(spi))
		}
	}
	return out
}

// DeleteESP builds a Delete payload for ESP SPIs.
func DeleteESP(spis ...uint32) *Delete {
	d := &Delete{Protocol: ProtocolESP, SPISize: 4}
	for _, spi := range spis {
		d.SPIs = append(d.SPIs, binary.BigEndian.AppendUint32(nil, spi))
	}
	return d
}
