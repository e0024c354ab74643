package isakmp

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

// captureIKEv1 is a copy of /work/shared/captures/strongswan-ikev1.pcap, kept
// in testdata so the tests run anywhere.
const captureIKEv1 = "testdata/strongswan-ikev1.pcap"

type capturedIKE struct {
	Frame    int // 1-based frame number, as tshark counts
	Src, Dst netip.AddrPort
	Data     []byte // IKE message without non-ESP marker
}

func readPcapIKE(path string) ([]capturedIKE, error) {
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
	var out []capturedIKE
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

func ikeFromEthernet(p []byte) (capturedIKE, bool) {
	if len(p) < 14 || binary.BigEndian.Uint16(p[12:]) != 0x0800 {
		return capturedIKE{}, false
	}
	ip := p[14:]
	if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 17 {
		return capturedIKE{}, false
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || total < ihl+8 || total > len(ip) {
		return capturedIKE{}, false
	}
	src, _ := netip.AddrFromSlice(ip[12:16])
	dst, _ := netip.AddrFromSlice(ip[16:20])
	udp := ip[ihl:total]
	sport, dport := binary.BigEndian.Uint16(udp), binary.BigEndian.Uint16(udp[2:])
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < 8 || ulen > len(udp) {
		return capturedIKE{}, false
	}
	data := udp[8:ulen]
	switch {
	case sport == 4500 || dport == 4500:
		if len(data) < 4 || binary.BigEndian.Uint32(data) != 0 {
			return capturedIKE{}, false // ESP in UDP (or keepalive)
		}
		data = data[4:]
	case sport == 500 || dport == 500:
	default:
		return capturedIKE{}, false
	}
	return capturedIKE{
		Src:  netip.AddrPortFrom(src, sport),
		Dst:  netip.AddrPortFrom(dst, dport),
		Data: data,
	}, true
}

func loadCapture(t testing.TB) []capturedIKE {
	t.Helper()
	c, err := readPcapIKE(captureIKEv1)
	if err != nil {
		t.Fatalf("reading %s: %v", captureIKEv1, err)
	}
	return c
}
