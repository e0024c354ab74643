package ike

import (
	"encoding/binary"
	"net/netip"

	"github.com/vpgw/vpgw/ike/isakmp"
	"github.com/vpgw/vpgw/suite"
)

// IKEv1 framing shared by ike/v1 and cmd/ikeload's initiator.

// V1HashedChain serialises HASH | ps, the hash covering the serialised
// payloads after it (Quick Mode and informational, RFC 2409 §5.5, §5.7).
// The HASH payload is framed here so the bytes hashed are the bytes sent.
// It returns the chain's first payload type (PayloadHash) and the chain.
func V1HashedChain(ps []isakmp.Payload, hashOf func(after []byte) []byte) (isakmp.PayloadType, []byte, error) {
	next, after, err := isakmp.SerializePayloads(ps)
	if err != nil {
		return 0, nil, err
	}
	h := hashOf(after)
	out := make([]byte, 0, 4+len(h)+len(after))
	out = append(out, byte(next), 0, byte((4+len(h))>>8), byte(4+len(h)))
	out = append(out, h...)
	return isakmp.PayloadHash, append(out, after...), nil
}

// V1HashedPayloads checks that a decrypted chain (first is its first
// payload's type, ps its parse) starts with a HASH payload and returns the
// hash and the received bytes of the payloads after it.
func V1HashedPayloads(first isakmp.PayloadType, plain []byte, ps []isakmp.Payload) (hash, after []byte, ok bool) {
	if len(ps) == 0 {
		return nil, nil, false
	}
	hp, isHash := ps[0].(*isakmp.Hash)
	if !isHash {
		return nil, nil, false
	}
	after, err := isakmp.ChainAfter(first, plain, 1)
	if err != nil {
		return nil, nil, false
	}
	return hp.Data, after, true
}

// V1NATDHash is a NAT-D payload's HASH(CKY-I | CKY-R | IP | Port) with the
// plain hash behind the negotiated IKEv1 hash algorithm (RFC 3947 §3.2).
func V1NATDHash(h suite.PRF, ckyI, ckyR uint64, ap netip.AddrPort) []byte {
	newHash, err := v1Hash(h)
	if err != nil {
		return nil
	}
	w := newHash()
	w.Write(cookies(ckyI, ckyR))
	w.Write(ap.Addr().Unmap().AsSlice())
	w.Write(binary.BigEndian.AppendUint16(nil, ap.Port()))
	return w.Sum(nil)
}
