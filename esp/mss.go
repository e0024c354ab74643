package esp

// TCP MSS clamping. A TCP connection across the tunnel picks its segment
// size from the MSS options of its SYN and SYN-ACK; hosts on a 1500-byte
// network announce 1460, which does not fit once ESP, the outer IPv4 header
// and perhaps UDP are added. The datapath lowers the option in both
// directions (TUN → seal in send.go, open → TUN in receive.go) to
// Tunnel.MSS, so full-sized segments never need fragmentation or PMTUD.

import "encoding/binary"

const (
	// OutsideMTU is the MTU of the outside path the ESP packets must fit.
	OutsideMTU   = 1500
	outerIPv4Len = 20 // outer IPv4 header, no options
	udpHeaderLen = 8  // UDP encapsulation, RFC 3948

	ipv4TCPHeaders = 40 // IPv4 + TCP without options: inner MTU − MSS
	protoTCP       = 6
	tcpSYN         = 0x02
	tcpOptEOL      = 0
	tcpOptNOP      = 1
	tcpOptMSS      = 2
)

// MaxInner is the largest inner packet that Seal turns into an ESP packet
// (SPI to ICV) of at most room bytes, or 0 if none fits: the largest n with
// n + Overhead(n) ≤ room. The ciphertext (payload, padding, pad length and
// next header) must be a multiple of the cipher's block (4 for GCM, 16 for
// CBC), so room left after header, IV and ICV is rounded down to it and the
// two trailer bytes subtracted.
func (sa *SA) MaxInner(room int) int {
	ct := room - sa.HeaderLen() - sa.icvLen
	ct -= ct % sa.align
	return max(ct-2, 0)
}

// innerMTU is the largest inner packet that, sealed by sa, fits one
// OutsideMTU datagram with the outer IPv4 header (and UDP header).
func innerMTU(sa *SA, udpEncap bool) int {
	room := OutsideMTU - outerIPv4Len
	if udpEncap {
		room -= udpHeaderLen
	}
	return sa.MaxInner(room)
}

// clampMSS lowers the MSS option of an IPv4 TCP SYN or SYN-ACK in pkt to
// mss and updates the TCP checksum incrementally (RFC 1624). It reports
// whether it changed pkt. Anything else (other protocols, non-SYN segments,
// fragments, an MSS already ≤ mss, and malformed headers or options) is
// left untouched. It never allocates and never reads outside pkt.
//
// clampMSS is small enough to be inlined: the datapath pays a length and a
// protocol check per packet, and calls clampTCP only for TCP.
func clampMSS(pkt []byte, mss uint16) bool {
	if len(pkt) < 40 || pkt[9] != protoTCP {
		return false
	}
	return clampTCP(pkt, mss)
}

func clampTCP(pkt []byte, mss uint16) bool {
	if pkt[0]>>4 != 4 { // byte 9 of IPv6 is in the source address
		return false
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < 20 || ihl+20 > len(pkt) || pkt[ihl+13]&tcpSYN == 0 || mss == 0 {
		return false
	}
	// Later fragments carry no TCP header, and in a first fragment the
	// checksum covers bytes we do not have: leave both alone.
	if binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 { // MF | fragment offset
		return false
	}
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if total < ihl+20 || total > len(pkt) {
		return false
	}
	tcp := pkt[ihl:total]
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || doff > len(tcp) {
		return false
	}
	// Find the MSS option; a malformed option list is left alone, even
	// when a well-formed MSS option came before the damage.
	opts := tcp[20:doff]
	at := -1
	for i := 0; i < len(opts); {
		kind := opts[i]
		if kind == tcpOptEOL {
			break
		}
		if kind == tcpOptNOP {
			i++
			continue
		}
		if i+1 >= len(opts) {
			return false
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			return false
		}
		if kind == tcpOptMSS {
			if l != 4 || at >= 0 {
				return false // wrong length, or two MSS options
			}
			at = i + 2
		}
		i += l
	}
	if at < 0 {
		return false
	}
	old := binary.BigEndian.Uint16(opts[at:])
	if old <= mss {
		return false
	}
	binary.BigEndian.PutUint16(opts[at:], mss)
	// The checksum sums 16-bit words from the start of the TCP header
	// (ihl is a multiple of 4). A value at an odd offset straddles two
	// words: its bytes count swapped.
	oldW, newW := old, mss
	if (20+at)%2 == 1 {
		oldW, newW = oldW>>8|oldW<<8, newW>>8|newW<<8
	}
	sum := binary.BigEndian.Uint16(tcp[16:])
	binary.BigEndian.PutUint16(tcp[16:], checksumReplace(sum, oldW, newW))
	return true
}

// checksumReplace returns the Internet checksum hc after one 16-bit word
// changed from old to new: RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m').
func checksumReplace(hc, old, new uint16) uint16 {
	s := uint32(^hc) + uint32(^old) + uint32(new)
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return ^uint16(s)
}
