// Package pcaptest holds helpers shared by the IKE parser tests
// (ike/isakmp, ike/message): a minimal reader for the lab's pcap captures
// and a writer/checker for committed fuzz seed corpora. Only tests import it.
package pcaptest

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"testing"
)

// A minimal pcap reader for the lab captures: classic pcap, Ethernet link
// type, IPv4, UDP 500/4500. ESP-in-UDP packets (non-zero first 4 bytes on
// 4500) are skipped; the non-ESP marker is stripped from IKE on 4500.

// IKE is one IKE message found in a capture.
type IKE struct {
	Frame    int // 1-based frame number, as tshark counts
	Src, Dst netip.AddrPort
	Data     []byte // IKE message without non-ESP marker
}

// ReadIKE returns the IKE messages in the pcap file at path, in order.
func ReadIKE(path string) ([]IKE, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) < 24 {
		return nil, fmt.Errorf("pcap: global header truncated")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(raw) {
	case 0xa1b2c3d4, 0xa1b23c4d: // µs and ns timestamps
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("pcap: bad magic %x", raw[:4])
	}
	if lt := bo.Uint32(raw[20:]); lt != 1 {
		return nil, fmt.Errorf("pcap: link type %d, want 1 (Ethernet)", lt)
	}
	var out []IKE
	frame := 0
	for rest := raw[24:]; len(rest) > 0; {
		if len(rest) < 16 {
			return nil, fmt.Errorf("pcap: record header truncated")
		}
		n := int(bo.Uint32(rest[8:]))
		if 16+n > len(rest) {
			return nil, fmt.Errorf("pcap: record truncated")
		}
		pkt := rest[16 : 16+n]
		rest = rest[16+n:]
		frame++
		if c, ok := ikeFromEthernet(pkt); ok {
			c.Frame = frame
			out = append(out, c)
		}
	}
	return out, nil
}

// LoadIKE is ReadIKE for tests: it fails t if path cannot be read.
func LoadIKE(t testing.TB, path string) []IKE {
	t.Helper()
	c, err := ReadIKE(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return c
}

func ikeFromEthernet(p []byte) (IKE, bool) {
	if len(p) < 14 || binary.BigEndian.Uint16(p[12:]) != 0x0800 {
		return IKE{}, false
	}
	ip := p[14:]
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 17 {
		return IKE{}, false
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || total < ihl+8 || total > len(ip) {
		return IKE{}, false
	}
	src, _ := netip.AddrFromSlice(ip[12:16])
	dst, _ := netip.AddrFromSlice(ip[16:20])
	udp := ip[ihl:total]
	sport, dport := binary.BigEndian.Uint16(udp), binary.BigEndian.Uint16(udp[2:])
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < 8 || ulen > len(udp) {
		return IKE{}, false
	}
	data := udp[8:ulen]
	switch {
	case sport == 4500 || dport == 4500:
		if len(data) < 4 || binary.BigEndian.Uint32(data) != 0 {
			return IKE{}, false // ESP in UDP (or keepalive)
		}
		data = data[4:]
	case sport == 500 || dport == 500:
	default:
		return IKE{}, false
	}
	return IKE{
		Src:  netip.AddrPortFrom(src, sport),
		Dst:  netip.AddrPortFrom(dst, dport),
		Data: data,
	}, true
}
