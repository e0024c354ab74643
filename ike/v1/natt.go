package v1

import (
	"bytes"
	"crypto/subtle"
	"net/netip"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
	"github.com/vpgw/vpgw/suite"
)

// NAT traversal for IKEv1 (RFC 3947, and the drafts before it that older
// peers still announce). Support is agreed with vendor IDs in MM1/MM2; the
// NAT-D payloads of MM3/MM4 then tell each side whether a NAT sits between
// them; if one does, IKE floats to port 4500 for MM5 and ESP goes into UDP
// (RFC 3948) with the UDP-encapsulated encapsulation modes.

// natFlavor is the NAT-T dialect agreed in Main Mode.
type natFlavor int

const (
	natNone natFlavor = iota
	natDraft02
	natDraft02N
	natDraft03
	natRFC3947
)

// The vendor IDs that announce each flavor, and DPD (isakmp keeps them).
var (
	vidRFC3947  = isakmp.VIDRFC3947
	vidDraft02  = isakmp.VIDDraft02
	vidDraft02N = isakmp.VIDDraft02N
	vidDraft03  = isakmp.VIDDraft03
	vidDPD      = isakmp.VIDDPD
)

func (f natFlavor) String() string {
	switch f {
	case natRFC3947:
		return "RFC 3947"
	case natDraft03:
		return "draft-03"
	case natDraft02N:
		return "draft-02n"
	case natDraft02:
		return "draft-02"
	}
	return "none"
}

func (f natFlavor) vid() []byte {
	switch f {
	case natRFC3947:
		return vidRFC3947
	case natDraft03:
		return vidDraft03
	case natDraft02N:
		return vidDraft02N
	case natDraft02:
		return vidDraft02
	}
	return nil
}

// draft reports whether NAT-D/NAT-OA use the draft payload numbers (130/131).
func (f natFlavor) draft() bool { return f != natRFC3947 }

// peerVendorIDs is what the peer's MM1 vendor IDs tell us.
type peerVendorIDs struct {
	nat natFlavor // best NAT-T flavor offered (RFC preferred)
	dpd bool
}

// readVendorIDs picks the NAT-T flavor to answer with: the RFC if offered,
// else the newest draft offered.
func readVendorIDs(vids []*isakmp.VendorID) peerVendorIDs {
	var p peerVendorIDs
	for _, v := range vids {
		var f natFlavor
		switch {
		case bytes.Equal(v.Data, vidRFC3947):
			f = natRFC3947
		case bytes.Equal(v.Data, vidDraft03):
			f = natDraft03
		case bytes.Equal(v.Data, vidDraft02N):
			f = natDraft02N
		case bytes.Equal(v.Data, vidDraft02):
			f = natDraft02
		case bytes.Equal(v.Data, vidDPD):
			p.dpd = true
		}
		if f > p.nat {
			p.nat = f
		}
	}
	return p
}

// natdResult is what the peer's NAT-D payloads tell us.
type natdResult struct {
	present  bool // the peer sent NAT-D payloads
	peerNAT  bool // the peer's source address was translated
	localNAT bool // our address was translated (we are behind a NAT)
}

func (n natdResult) detected() bool { return n.peerNAT || n.localNAT }

// checkNATD compares the peer's NAT-D payloads of MM3 with the addresses
// MM3 actually arrived with. RFC 3947 §3.2: the first payload hashes the
// destination (us, as the peer addressed us), the others the peer's own
// address(es); one match among those is enough.
func checkNATD(ds []*isakmp.NATD, h suite.PRF, ckyI, ckyR uint64, local, remote netip.AddrPort) natdResult {
	if len(ds) < 2 {
		return natdResult{}
	}
	res := natdResult{present: true}
	wantDst := ike.V1NATDHash(h, ckyI, ckyR, local)
	res.localNAT = subtle.ConstantTimeCompare(ds[0].Hash, wantDst) != 1
	wantSrc := ike.V1NATDHash(h, ckyI, ckyR, remote)
	res.peerNAT = true
	for _, d := range ds[1:] {
		if subtle.ConstantTimeCompare(d.Hash, wantSrc) == 1 {
			res.peerNAT = false
		}
	}
	return res
}

// natdPayloads builds our MM4 NAT-D pair: the destination (the peer as we
// see it) first, then our own address.
func natdPayloads(f natFlavor, h suite.PRF, ckyI, ckyR uint64, local, remote netip.AddrPort) []isakmp.Payload {
	return []isakmp.Payload{
		&isakmp.NATD{Draft: f.draft(), Hash: ike.V1NATDHash(h, ckyI, ckyR, remote)},
		&isakmp.NATD{Draft: f.draft(), Hash: ike.V1NATDHash(h, ckyI, ckyR, local)},
	}
}

// isUDPEncap recognises the UDP-encapsulated tunnel mode of either dialect
// (RFC 3947 §5.1 and the drafts' private value); we echo the peer's.
func isUDPEncap(mode uint16) bool {
	return mode == isakmp.EncapUDPTunnel || mode == isakmp.EncapUDPTunnelDraft
}
