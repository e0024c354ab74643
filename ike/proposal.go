package ike

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

// ErrNoProposal means none of the peer's proposals is acceptable; answer
// with NO_PROPOSAL_CHOSEN. The wrapping error lists what was offered and
// what we accept, for the tunnel's status message.
var ErrNoProposal = errors.New("no proposal chosen")

// Proposal choice follows RFC 7296 §2.7 and §3.3.6: proposals are walked in
// the peer's order and the first acceptable one wins; within it, each
// transform type takes the first transform (again in the peer's order) that
// our policy accepts. A proposal carrying a transform type we do not know is
// unacceptable.

// SelectIKE chooses an IKE SA proposal. The returned proposal holds one
// transform of each type, the peer's proposal number and a copy of its SPI
// (empty in IKE_SA_INIT, the new SPIi when rekeying). For IKE_SA_INIT the
// caller compares the chosen suite's DH with the KE payload's group and
// answers INVALID_KE_PAYLOAD when they differ; SelectIKEForKE avoids that
// round trip when the KE group is acceptable too.
func SelectIKE(offered []message.Proposal, p Policy) (message.Proposal, IKESuite, error) {
	return SelectIKEForKE(offered, p, 0)
}

// SelectIKEForKE is SelectIKE, except that within the winning proposal it
// picks keGroup (the KE payload's group) if that group is offered there and
// acceptable, so the KE payload the peer sent can be used.
func SelectIKEForKE(offered []message.Proposal, p Policy, keGroup suite.DHGroup) (message.Proposal, IKESuite, error) {
	for _, prop := range offered {
		if prop.Protocol != message.ProtocolIKE || !knownTypes(prop, false) {
			continue
		}
		c, ok := pickCipher(prop, p)
		if !ok {
			continue
		}
		s := IKESuite{Cipher: c}
		if !c.IsAEAD() {
			if s.Integ, ok = pickInteg(prop, p); !ok {
				continue
			}
		}
		if s.PRF, ok = pickPRF(prop, p); !ok {
			continue
		}
		if s.DH, ok = pickDH(prop, p, keGroup); !ok {
			continue
		}
		out := chosen(prop, c)
		out.Transforms = append(out.Transforms, message.Transform{Type: message.TransformPRF, ID: uint16(s.PRF)})
		if !c.IsAEAD() {
			out.Transforms = append(out.Transforms, message.Transform{Type: message.TransformINTEG, ID: uint16(s.Integ)})
		}
		out.Transforms = append(out.Transforms, message.Transform{Type: message.TransformDH, ID: uint16(s.DH)})
		return out, s, nil
	}
	return message.Proposal{}, IKESuite{}, noProposal(offered, p)
}

// PreferredGroup is the DH group SelectIKE would choose, and whether any
// proposal is acceptable at all.
func PreferredGroup(offered []message.Proposal, p Policy) (suite.DHGroup, bool) {
	_, s, err := SelectIKE(offered, p)
	return s.DH, err == nil
}

// SelectESP chooses a CHILD_SA (ESP) proposal. With pfs (the peer sent a KE
// payload) a proposal's DH transforms must include a group of p.DHGroups; a
// proposal without DH transforms means no PFS and gives group 0. Without pfs
// DH transforms are ignored (IKE_AUTH, RFC 7296 §1.2). Extended sequence
// numbers are not supported: a proposal must offer ESN "no" or omit ESN.
// The returned proposal keeps the peer's number and a copy of its SPI (our
// outbound SPI); the caller puts its own inbound SPI there for the reply.
func SelectESP(offered []message.Proposal, p Policy, pfs bool) (message.Proposal, suite.ESP, suite.DHGroup, error) {
	for _, prop := range offered {
		if prop.Protocol != message.ProtocolESP || !knownTypes(prop, true) {
			continue
		}
		c, ok := pickCipher(prop, p)
		if !ok {
			continue
		}
		esp := suite.ESP{Cipher: c}
		if !c.IsAEAD() {
			if esp.Integ, ok = pickInteg(prop, p); !ok {
				continue
			}
		}
		if !offersNoESN(prop) {
			continue
		}
		var group suite.DHGroup
		if pfs && hasType(prop, message.TransformDH) {
			if group, ok = pickDH(prop, p, 0); !ok {
				continue
			}
		}
		out := chosen(prop, c)
		if !c.IsAEAD() {
			out.Transforms = append(out.Transforms, message.Transform{Type: message.TransformINTEG, ID: uint16(esp.Integ)})
		}
		if group != 0 {
			out.Transforms = append(out.Transforms, message.Transform{Type: message.TransformDH, ID: uint16(group)})
		}
		out.Transforms = append(out.Transforms, message.Transform{Type: message.TransformESN, ID: message.ESNNone})
		return out, esp, group, nil
	}
	return message.Proposal{}, suite.ESP{}, 0, noProposal(offered, p)
}

// chosen starts the reply proposal: the peer's number, protocol and SPI,
// and the chosen cipher with its key length.
func chosen(prop message.Proposal, c suite.Cipher) message.Proposal {
	return message.Proposal{
		Number:   prop.Number,
		Protocol: prop.Protocol,
		SPI:      bytes.Clone(prop.SPI),
		Transforms: []message.Transform{{
			Type: message.TransformENCR, ID: uint16(c.Encr), KeyLength: uint16(c.KeyBits),
		}},
	}
}

// knownTypes reports whether every transform type is one we understand for
// the protocol (RFC 7296 §3.3.6). ESN belongs to ESP only.
func knownTypes(prop message.Proposal, esp bool) bool {
	for _, t := range prop.Transforms {
		switch t.Type {
		case message.TransformENCR, message.TransformPRF, message.TransformINTEG, message.TransformDH:
		case message.TransformESN:
			if !esp {
				return false
			}
		default:
			return false
		}
	}
	if esp {
		return !hasType(prop, message.TransformPRF)
	}
	return true
}

func hasType(prop message.Proposal, typ message.TransformType) bool {
	return slices.ContainsFunc(prop.Transforms, func(t message.Transform) bool { return t.Type == typ })
}

func pickCipher(prop message.Proposal, p Policy) (suite.Cipher, bool) {
	for _, t := range prop.Transforms {
		if t.Type != message.TransformENCR {
			continue
		}
		// AES needs the Key Length attribute (RFC 3602, RFC 5282); an
		// absent one (0) matches nothing.
		c := suite.Cipher{Encr: suite.Encr(t.ID), KeyBits: int(t.KeyLength)}
		if slices.Contains(p.Ciphers, c) {
			return c, true
		}
	}
	return suite.Cipher{}, false
}

func pickInteg(prop message.Proposal, p Policy) (suite.Integ, bool) {
	for _, t := range prop.Transforms {
		if t.Type == message.TransformINTEG && t.ID != 0 && slices.Contains(p.Integs, suite.Integ(t.ID)) {
			return suite.Integ(t.ID), true
		}
	}
	return 0, false
}

// pickPRF accepts a PRF whose hash matches an accepted integrity algorithm,
// as AWS's "integrity" option selects both.
func pickPRF(prop message.Proposal, p Policy) (suite.PRF, bool) {
	for _, t := range prop.Transforms {
		if t.Type != message.TransformPRF {
			continue
		}
		for _, i := range p.Integs {
			if prf, ok := suite.PRFForInteg[i]; ok && uint16(prf) == t.ID {
				return prf, true
			}
		}
	}
	return 0, false
}

func pickDH(prop message.Proposal, p Policy, prefer suite.DHGroup) (suite.DHGroup, bool) {
	acceptable := func(g suite.DHGroup) bool {
		return g != 0 && slices.Contains(p.DHGroups, g) && SupportedGroup(g)
	}
	if prefer != 0 && acceptable(prefer) && slices.Contains(prop.Transforms, message.Transform{Type: message.TransformDH, ID: uint16(prefer)}) {
		return prefer, true
	}
	for _, t := range prop.Transforms {
		if t.Type == message.TransformDH && acceptable(suite.DHGroup(t.ID)) {
			return suite.DHGroup(t.ID), true
		}
	}
	return 0, false
}

func offersNoESN(prop message.Proposal) bool {
	if !hasType(prop, message.TransformESN) {
		return true // lenient: a missing ESN transform means no ESN
	}
	return slices.Contains(prop.Transforms, message.Transform{Type: message.TransformESN, ID: message.ESNNone})
}

func noProposal(offered []message.Proposal, p Policy) error {
	return fmt.Errorf("%w: peer offered %s; we accept %s", ErrNoProposal, ProposalsString(offered), p)
}

// ProposalsString names proposals for logs the way strongSwan's config does,
// e.g. "ESP:aes128-sha1-modp1024-noesn, IKE:aes256-gcm-16-prf-sha2-256-ecp256".
func ProposalsString(ps []message.Proposal) string {
	if len(ps) == 0 {
		return "nothing"
	}
	out := make([]string, len(ps))
	for i, prop := range ps {
		names := make([]string, 0, len(prop.Transforms))
		for _, t := range prop.Transforms {
			names = append(names, transformName(t))
		}
		proto := map[message.ProtocolID]string{message.ProtocolIKE: "IKE", message.ProtocolAH: "AH", message.ProtocolESP: "ESP"}[prop.Protocol]
		if proto == "" {
			proto = fmt.Sprintf("proto%d", prop.Protocol)
		}
		out[i] = proto + ":" + strings.Join(names, "-")
	}
	return strings.Join(out, ", ")
}

func transformName(t message.Transform) string {
	switch t.Type {
	case message.TransformENCR:
		c := suite.Cipher{Encr: suite.Encr(t.ID), KeyBits: int(t.KeyLength)}
		switch {
		case c.Encr == suite.EncrAESCBC && t.KeyLength == 0:
			return "aes(no key length)"
		case c.Encr == suite.EncrAESGCM16 && t.KeyLength == 0:
			return "aes-gcm-16(no key length)"
		case c.Encr == suite.EncrAESCBC || c.Encr == suite.EncrAESGCM16:
			return c.String()
		}
		if t.KeyLength != 0 {
			return fmt.Sprintf("encr%d/%d", t.ID, t.KeyLength)
		}
		return fmt.Sprintf("encr%d", t.ID)
	case message.TransformINTEG:
		return suite.Integ(t.ID).String()
	case message.TransformPRF:
		return suite.PRF(t.ID).String()
	case message.TransformDH:
		if t.ID == 0 {
			return "nodh"
		}
		return GroupName(suite.DHGroup(t.ID))
	case message.TransformESN:
		if t.ID == message.ESNNone {
			return "noesn"
		}
		return "esn"
	}
	return fmt.Sprintf("type%d:%d", t.Type, t.ID)
}
