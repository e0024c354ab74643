package ike

import (
	"encoding/binary"
	"slices"

	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

// What we offer when we initiate an exchange: every transform the tunnel's
// policy accepts, so the peer's choice is never narrower than as responder.

// V2IKEProposals offers everything p accepts (RFC 7296 §3.3): one proposal
// with the AEAD ciphers (no integrity) and one with the others, in the order
// of p's first cipher; first is put first among the DH groups (our KE).
func V2IKEProposals(p Policy, first suite.DHGroup) []message.Proposal {
	var prfs []message.Transform
	for _, i := range p.Integs {
		if prf, ok := suite.PRFForInteg[i]; ok {
			t := message.Transform{Type: message.TransformPRF, ID: uint16(prf)}
			if !slices.Contains(prfs, t) {
				prfs = append(prfs, t)
			}
		}
	}
	groups := []message.Transform{{Type: message.TransformDH, ID: uint16(first)}}
	for _, g := range p.DHGroups {
		if g != first && SupportedGroup(g) {
			groups = append(groups, message.Transform{Type: message.TransformDH, ID: uint16(g)})
		}
	}
	var out []message.Proposal
	for _, aead := range cipherKinds(p) {
		ts := cipherTransforms(p, aead)
		ts = append(ts, prfs...)
		if !aead {
			ts = append(ts, integTransforms(p)...)
		}
		ts = append(ts, groups...)
		out = append(out, message.Proposal{Number: uint8(len(out) + 1), Protocol: message.ProtocolIKE, Transforms: ts})
	}
	return out
}

// V2ESPProposals offers everything p accepts for a CHILD_SA with our inbound
// SPI; pfs, if not 0, adds DH transforms with pfs first.
func V2ESPProposals(p Policy, spi uint32, pfs suite.DHGroup) []message.Proposal {
	var groups []message.Transform
	if pfs != 0 {
		groups = append(groups, message.Transform{Type: message.TransformDH, ID: uint16(pfs)})
		for _, g := range p.DHGroups {
			if g != pfs && SupportedGroup(g) {
				groups = append(groups, message.Transform{Type: message.TransformDH, ID: uint16(g)})
			}
		}
	}
	var out []message.Proposal
	for _, aead := range cipherKinds(p) {
		ts := cipherTransforms(p, aead)
		if !aead {
			ts = append(ts, integTransforms(p)...)
		}
		ts = append(ts, groups...)
		ts = append(ts, message.Transform{Type: message.TransformESN, ID: message.ESNNone})
		out = append(out, message.Proposal{Number: uint8(len(out) + 1), Protocol: message.ProtocolESP,
			SPI: binary.BigEndian.AppendUint32(nil, spi), Transforms: ts})
	}
	return out
}

// cipherKinds lists AEAD (true) and non-AEAD (false) as p's ciphers have
// them, in the order of their first appearance.
func cipherKinds(p Policy) []bool {
	var kinds []bool
	for _, c := range p.Ciphers {
		if !slices.Contains(kinds, c.IsAEAD()) {
			kinds = append(kinds, c.IsAEAD())
		}
	}
	// Without any integrity algorithm a non-AEAD proposal is useless.
	if len(p.Integs) == 0 {
		kinds = slices.DeleteFunc(kinds, func(aead bool) bool { return !aead })
	}
	return kinds
}

func cipherTransforms(p Policy, aead bool) []message.Transform {
	var ts []message.Transform
	for _, c := range p.Ciphers {
		if c.IsAEAD() == aead {
			ts = append(ts, message.Transform{Type: message.TransformENCR, ID: uint16(c.Encr), KeyLength: uint16(c.KeyBits)})
		}
	}
	return ts
}

func integTransforms(p Policy) []message.Transform {
	var ts []message.Transform
	for _, i := range p.Integs {
		ts = append(ts, message.Transform{Type: message.TransformINTEG, ID: uint16(i)})
	}
	return ts
}
