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
	detection bool // either of the above: use UDP encapsulation
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
func natdNotifies(spii, spir uint64, local, remote netip.AddrPort) []message.Payload {
	return []message.Payload{
		&message.Notify{NotifyType: message.NAT_DETECTION_SOURCE_IP, Data: natdHash(spii, spir, local)},
		&message.Notify{NotifyType: message.NAT_DETECTION_DESTINATION_IP, Data: natdHash(spii, spir, remote)},
	}
}
