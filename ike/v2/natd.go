package v2

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"net/netip"

	"github.com/vpgw/vpgw/ike/message"
)

// NAT detection, RFC 7296 §2.23. Each side hashes the addresses it thinks
// the packet carries; the other side recomputes the hash from the addresses
// it actually saw. A mismatch means a NAT sits between the two.

// natdHash is SHA1(SPIi | SPIr | IP | port). In the IKE_SA_INIT request
// SPIr is zero.
func natdHash(spii, spir uint64, ap netip.AddrPort) []byte {
	var b [8 + 8 + 16 + 2]byte
	binary.BigEndian.PutUint64(b[0:], spii)
	binary.BigEndian.PutUint64(b[8:], spir)
	n := 16
	a := ap.Addr().Unmap()
	if a.Is4() {
		ip := a.As4()
		copy(b[n:], ip[:])
		n += 4
	} else {
		ip := a.As16()
		copy(b[n:], ip[:])
		n += 16
	}
	binary.BigEndian.PutUint16(b[n:], ap.Port())
	n += 2
	h := sha1.Sum(b[:n])
	return h[:]
}

// natdResult is what the peer's NAT_DETECTION_* notifies tell us.
type natdResult struct {
	present   bool // the peer sent NAT-D notifies at all
	peerNAT   bool // the peer's source address was translated
	localNAT  bool // our address was translated (we are behind a NAT)
	forced    bool // no NAT maybe, but we force UDP encapsulation
	detection bool // any of the above: use UDP encapsulation
}

// force makes the result ask for UDP encapsulation (Config.ForceUDPEncap):
// we also fake our NAT_DETECTION_SOURCE_IP (natdSource), so the peer sees
// us behind a NAT and encapsulates too, as strongSwan's encap=yes does.
func (n *natdResult) force(on bool) {
	if on && !n.detection {
		n.forced, n.detection = true, true
	}
}

// describe is the log's words for the result; move is appended when the
// SA goes to port 4500.
func (n natdResult) describe(move string) string {
	switch {
	case n.peerNAT && n.localNAT:
		return "NAT detected (both sides)" + move
	case n.peerNAT:
		return "NAT detected (peer behind NAT)" + move
	case n.localNAT:
		return "NAT detected (we are behind NAT)" + move
	case n.forced:
		return "no NAT, UDP encapsulation forced" + move
	case !n.present:
		return "no NAT-D from peer"
	}
	return "no NAT"
}

// natdSource is the hash of our NAT_DETECTION_SOURCE_IP: of local, or
// when forcing UDP encapsulation of an address no packet can come from
// (0.0.0.0:0), so that the peer's check fails.
func natdSource(spii, spir uint64, local netip.AddrPort, force bool) []byte {
	if force {
		local = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	return natdHash(spii, spir, local)
}

// checkNATD compares the peer's NAT-D notifies in an IKE_SA_INIT request
// with the addresses the request arrived with. local and remote are the
// packet's actual destination and source.
func checkNATD(notifies []*message.Notify, spii uint64, local, remote netip.AddrPort) natdResult {
	return checkNATDSPIs(notifies, spii, 0, local, remote)
}

// checkNATDSPIs is checkNATD for any message: in an IKE_SA_INIT response
// the hashes include SPIr.
func checkNATDSPIs(notifies []*message.Notify, spii, spir uint64, local, remote netip.AddrPort) natdResult {
	var res natdResult
	var srcSeen, srcMatch, dstSeen, dstMatch bool
	wantSrc := natdHash(spii, spir, remote)
	wantDst := natdHash(spii, spir, local)
	for _, n := range notifies {
		switch n.NotifyType {
		case message.NAT_DETECTION_SOURCE_IP:
			srcSeen = true
			// Several source notifies are allowed (multihomed peers): any match will do.
			if subtle.ConstantTimeCompare(n.Data, wantSrc) == 1 {
				srcMatch = true
			}
		case message.NAT_DETECTION_DESTINATION_IP:
			dstSeen = true
			if subtle.ConstantTimeCompare(n.Data, wantDst) == 1 {
				dstMatch = true
			}
		}
	}
	if !srcSeen || !dstSeen {
		return res
	}
	res.present = true
	res.peerNAT = !srcMatch
	res.localNAT = !dstMatch
	res.detection = res.peerNAT || res.localNAT
	return res
}

// natdNotifies builds our NAT_DETECTION_SOURCE_IP/DESTINATION_IP for the
// IKE_SA_INIT response, from the addresses the request arrived with.
func natdNotifies(spii, spir uint64, local, remote netip.AddrPort, force bool) []message.Payload {
	return []message.Payload{
		&message.Notify{NotifyType: message.NAT_DETECTION_SOURCE_IP, Data: natdSource(spii, spir, local, force)},
		&message.Notify{NotifyType: message.NAT_DETECTION_DESTINATION_IP, Data: natdHash(spii, spir, remote)},
	}
}
