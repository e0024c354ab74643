package message

import "encoding/binary"

// Notify is the Notify payload (RFC 7296 §3.10). Protocol and SPI name the SA
// a notify is about (both zero/empty for IKE SA notifies); Data is the
// type-specific notification data (e.g. the NAT detection hash).
type Notify struct {
	Protocol   uint8
	SPI        []byte
	NotifyType NotifyType
	Data       []byte
}

func (*Notify) Type() PayloadType { return PayloadNotify }

func (n *Notify) DecodeFromBytes(b []byte) error {
	if len(b) < 4 {
		return syntaxError("Notify body truncated: %d bytes", len(b))
	}
	spiSize := int(b[1])
	if 4+spiSize > len(b) {
		return syntaxError("Notify SPI size %d exceeds the payload", spiSize)
	}
	n.Protocol = b[0]
	n.NotifyType = NotifyType(binary.BigEndian.Uint16(b[2:]))
	n.SPI = clone(b[4 : 4+spiSize])
	n.Data = clone(b[4+spiSize:])
	return nil
}

func (n *Notify) Serialize() ([]byte, error) {
	if len(n.SPI) > 0xff {
		return nil, errTooLong("Notify SPI", len(n.SPI))
	}
	b := make([]byte, 0, 4+len(n.SPI)+len(n.Data))
	b = append(b, n.Protocol, byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(n.NotifyType))
	b = append(b, n.SPI...)
	return append(b, n.Data...), nil
}
