package ike

import (
	"encoding/binary"

	"github.com/vpgw/vpgw/suite"
)

// IKEv1 authentication hashes (RFC 2409 §5, §5.5, §5.7). All take the
// payload bytes exactly as sent or received: bodies ("_b", after the 4-byte
// generic header) where the RFC says so, whole payloads with their generic
// headers for quick mode and informational messages. The prf must come from
// a selected suite; an unknown one panics.

// V1Hash computes the main mode hash over its arguments in the order given:
//
//	prf(SKEYID, gx1 | gx2 | CKY-1 | CKY-2 | SAi_b | ID_b)
//
// V1HashI and V1HashR put them in HASH_I's and HASH_R's order.
func V1Hash(s V1Suite, skeyid, gx1, gx2 []byte, cky1, cky2 uint64, saiBody, idBody []byte) []byte {
	return mustV1PRF(s.Hash).Sum(skeyid, concat(gx1, gx2, cookies(cky1, cky2), saiBody, idBody))
}

// V1HashI is HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b).
// saiBody is the initiator's SA payload body as it sent it (all its
// proposals, not our answer).
func V1HashI(s V1Suite, skeyid, gxi, gxr []byte, ckyI, ckyR uint64, saiBody, idiiBody []byte) []byte {
	return V1Hash(s, skeyid, gxi, gxr, ckyI, ckyR, saiBody, idiiBody)
}

// V1HashR is HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b).
func V1HashR(s V1Suite, skeyid, gxi, gxr []byte, ckyI, ckyR uint64, saiBody, idirBody []byte) []byte {
	return V1Hash(s, skeyid, gxr, gxi, ckyR, ckyI, saiBody, idirBody)
}

func msgIDBytes(id uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], id)
	return b[:]
}

// V1QuickHash is prf(SKEYID_a, M-ID | parts...), the common shape of quick
// mode's HASH(1) and HASH(2) and of the informational HASH(1).
func V1QuickHash(prfID suite.PRF, skeyidA []byte, msgID uint32, parts ...[]byte) []byte {
	return mustV1PRF(prfID).Sum(skeyidA, concat(append([][]byte{msgIDBytes(msgID)}, parts...)...))
}

// V1QuickHash1 is quick mode HASH(1) = prf(SKEYID_a, M-ID | SA | Ni [| KE]
// [| IDci | IDcr]): after is every payload that follows the HASH payload,
// generic headers included, padding excluded (isakmp.ChainAfter).
func V1QuickHash1(prfID suite.PRF, skeyidA []byte, msgID uint32, after []byte) []byte {
	return V1QuickHash(prfID, skeyidA, msgID, after)
}

// V1QuickHash2 is quick mode HASH(2) = prf(SKEYID_a, M-ID | Ni_b | SA | Nr
// [| KE] [| IDci | IDcr]): niBody is the initiator's nonce body, after the
// responder's payloads following its HASH payload.
func V1QuickHash2(prfID suite.PRF, skeyidA []byte, msgID uint32, niBody, after []byte) []byte {
	return V1QuickHash(prfID, skeyidA, msgID, niBody, after)
}

// V1QuickHash3 is quick mode HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b).
func V1QuickHash3(prfID suite.PRF, skeyidA []byte, msgID uint32, niBody, nrBody []byte) []byte {
	return mustV1PRF(prfID).Sum(skeyidA, concat([]byte{0}, msgIDBytes(msgID), niBody, nrBody))
}

// V1InfoHash is an informational exchange's HASH(1) = prf(SKEYID_a, M-ID |
// N/D): after is the Notification or Delete payload(s) following the HASH
// payload, generic headers included (RFC 2409 §5.7).
func V1InfoHash(prfID suite.PRF, skeyidA []byte, msgID uint32, after []byte) []byte {
	return V1QuickHash(prfID, skeyidA, msgID, after)
}
