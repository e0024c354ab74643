package isakmp

import (
	"encoding/binary"
	"fmt"
)

// Notification is the Notification payload (RFC 2408 §3.14). The field is
// named NotifyType because Type() is the payload type. For ISAKMP SA
// notifies (e.g. DPD) the SPI is the two cookies, 16 bytes.
type Notification struct {
	rawBody
	DOI        uint32
	ProtocolID uint8
	SPI        []byte
	NotifyType NotifyType
	Data       []byte
}

const notificationHeaderLen = 8

func (*Notification) Type() PayloadType { return PayloadNotification }

func (n *Notification) DecodeFromBytes(b []byte) error {
	if len(b) < notificationHeaderLen {
		return malformed("Notification body truncated: %d bytes", len(b))
	}
	spiSize := int(b[5])
	if notificationHeaderLen+spiSize > len(b) {
		return malformed("Notification SPI size %d exceeds the payload", spiSize)
	}
	n.DOI, n.ProtocolID = binary.BigEndian.Uint32(b), b[4]
	n.NotifyType = NotifyType(binary.BigEndian.Uint16(b[6:]))
	n.SPI = clone(b[notificationHeaderLen : notificationHeaderLen+spiSize])
	n.Data = clone(b[notificationHeaderLen+spiSize:])
	n.setRaw(b)
	return nil
}

func (n *Notification) Serialize() ([]byte, error) {
	if len(n.SPI) > 0xff {
		return nil, errTooLong("Notification SPI", len(n.SPI))
	}
	b := binary.BigEndian.AppendUint32(make([]byte, 0, notificationHeaderLen+len(n.SPI)+len(n.Data)), n.DOI)
	b = append(b, n.ProtocolID, byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(n.NotifyType))
	b = append(b, n.SPI...)
	return append(b, n.Data...), nil
}

// cookieSPI is the 16-byte ISAKMP SPI: CKY-I | CKY-R.
func cookieSPI(icky, rcky uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), icky), rcky)
}

// NewDPD builds an R-U-THERE or R-U-THERE-ACK notify (RFC 3706 §5.1): IPsec
// DOI, protocol ISAKMP, the cookies as SPI and a 32-bit sequence number.
func NewDPD(t NotifyType, icky, rcky uint64, seq uint32) *Notification {
	return &Notification{DOI: DOIIPsec, ProtocolID: ProtoISAKMP, SPI: cookieSPI(icky, rcky),
		NotifyType: t, Data: binary.BigEndian.AppendUint32(nil, seq)}
}

// DPDSequence returns the sequence number of an R-U-THERE(-ACK) notify.
func (n *Notification) DPDSequence() (uint32, bool) {
	if (n.NotifyType != R_U_THERE && n.NotifyType != R_U_THERE_ACK) || len(n.Data) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(n.Data), true
}

// Cookies returns the ISAKMP cookies carried as a 16-byte SPI.
func (n *Notification) Cookies() (icky, rcky uint64, ok bool) {
	if len(n.SPI) != 16 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(n.SPI), binary.BigEndian.Uint64(n.SPI[8:]), true
}

// Delete is the Delete payload (RFC 2408 §3.15): ISAKMP SAs are deleted by
// their cookies (SPI size 16), ESP SAs by 4-byte SPIs.
type Delete struct {
	rawBody
	DOI        uint32
	ProtocolID uint8
	SPISize    uint8
	SPIs       [][]byte
}

const deleteHeaderLen = 8

func (*Delete) Type() PayloadType { return PayloadDelete }

func (d *Delete) DecodeFromBytes(b []byte) error {
	if len(b) < deleteHeaderLen {
		return malformed("Delete body truncated: %d bytes", len(b))
	}
	size, count := int(b[5]), int(binary.BigEndian.Uint16(b[6:]))
	rest := b[deleteHeaderLen:]
	// With SPI size 0 a count would describe nothing; refuse rather than
	// allocate up to 65535 empty SPIs.
	if size == 0 && count != 0 {
		return malformed("Delete of %d SPIs of size 0", count)
	}
	if len(rest) != size*count {
		return malformed("Delete of %d SPIs of %d bytes in %d bytes", count, size, len(rest))
	}
	d.DOI, d.ProtocolID, d.SPISize, d.SPIs = binary.BigEndian.Uint32(b), b[4], b[5], nil
	if count > 0 {
		d.SPIs = make([][]byte, count)
		for i := range d.SPIs {
			d.SPIs[i] = clone(rest[i*size : (i+1)*size])
		}
	}
	d.setRaw(b)
	return nil
}

func (d *Delete) Serialize() ([]byte, error) {
	if len(d.SPIs) > 0xffff {
		return nil, fmt.Errorf("isakmp: Delete of %d SPIs", len(d.SPIs))
	}
	b := binary.BigEndian.AppendUint32(make([]byte, 0, deleteHeaderLen+len(d.SPIs)*int(d.SPISize)), d.DOI)
	b = append(b, d.ProtocolID, d.SPISize)
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.SPIs)))
	for i, spi := range d.SPIs {
		if len(spi) != int(d.SPISize) || len(spi) == 0 {
			return nil, fmt.Errorf("isakmp: Delete SPI %d has %d bytes, SPI size is %d", i, len(spi), d.SPISize)
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

// DeleteESP builds a Delete payload for ESP SPIs (IPsec DOI).
func DeleteESP(spis ...uint32) *Delete {
	d := &Delete{DOI: DOIIPsec, ProtocolID: ProtoIPsecESP, SPISize: 4}
	for _, spi := range spis {
		d.SPIs = append(d.SPIs, binary.BigEndian.AppendUint32(nil, spi))
	}
	return d
}

// DeleteISAKMP builds a Delete payload for an ISAKMP SA, named by its cookies.
func DeleteISAKMP(icky, rcky uint64) *Delete {
	return &Delete{DOI: DOIIPsec, ProtocolID: ProtoISAKMP, SPISize: 16, SPIs: [][]byte{cookieSPI(icky, rcky)}}
}
