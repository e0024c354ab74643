package ike

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/vpgw/vpgw/ike/isakmp"
	"github.com/vpgw/vpgw/suite"
)

// IKEv1 proposal choice (RFC 2409 §5, RFC 2407 §4.5). In phase 1 the
// initiator sends one ISAKMP proposal whose transforms are alternatives,
// each a complete suite spelled in attributes; in quick mode each ESP
// proposal again lists alternative transforms. We take the first acceptable
// one in the peer's order, as SelectIKE does for IKEv2. An attribute we do
// not know makes a transform unacceptable (RFC 2409 §5: attributes are not
// optional). AES needs its Key Length attribute: an absent one matches
// nothing, as in IKEv2.
//
// Lifetimes are not negotiated: we accept the peer's when it is not longer
// than ours and otherwise keep ours, reporting what we chose. The returned
// transform echoes the peer's attributes unchanged, since initiators refuse
// answers that differ from what they offered; the caller enforces the
// lifetime (and may send RESPONDER-LIFETIME in quick mode, RFC 2407 §4.6.3.1).

// v1DefaultLifetime applies when the peer proposes no lifetime in seconds
// and we set no maximum (RFC 2407 §4.5: 28800 seconds).
const v1DefaultLifetime = 8 * time.Hour

// Phase 1 authentication method names, for logs (RFC 2409 Appendix A,
// draft-ietf-ipsec-isakmp-xauth). XAuth methods are refused: AWS does not
// use them.
var v1AuthNames = map[uint64]string{
	1: "psk", 2: "dss", 3: "rsasig", 4: "rsaenc", 5: "rsaenc-rev",
	65001: "xauth-init-psk", 65002: "xauth-resp-psk", 65005: "xauth-init-rsa", 65006: "xauth-resp-rsa",
}

// v1HashPRFs maps the phase-1 Hash attribute to the IKEv1 prf (its HMAC).
var v1HashPRFs = map[uint64]suite.PRF{
	isakmp.HashSHA1:   suite.PRFHMACSHA1,
	isakmp.HashSHA256: suite.PRFHMACSHA256,
	isakmp.HashSHA384: suite.PRFHMACSHA384,
	isakmp.HashSHA512: suite.PRFHMACSHA512,
}

// v1AuthAlgs maps the IPsec Authentication Algorithm attribute to ESP integrity.
var v1AuthAlgs = map[uint64]suite.Integ{
	isakmp.AuthAlgHMACSHA1:     suite.IntegHMACSHA1_96,
	isakmp.AuthAlgHMACSHA2_256: suite.IntegHMACSHA256128,
	isakmp.AuthAlgHMACSHA2_384: suite.IntegHMACSHA384192,
	isakmp.AuthAlgHMACSHA2_512: suite.IntegHMACSHA512256,
}

// attrNum is an attribute's value as a number, saturating at MaxUint64 for
// variable values longer than 8 significant bytes.
func attrNum(a isakmp.Attribute) uint64 {
	if a.Long == nil {
		return a.Value
	}
	b := bytes.TrimLeft(a.Long, "\x00")
	if len(b) > 8 {
		return math.MaxUint64
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// lifetime turns a seconds value into a Duration, capped to max (max <= 0:
// no cap). secs 0 means the peer proposed none.
func lifetime(secs uint64, max time.Duration) time.Duration {
	if secs == 0 {
		if max > 0 {
			return max
		}
		return v1DefaultLifetime
	}
	if secs > uint64(math.MaxInt64/int64(time.Second)) {
		secs = uint64(math.MaxInt64 / int64(time.Second))
	}
	d := time.Duration(secs) * time.Second
	if max > 0 && d > max {
		return max
	}
	return d
}

// v1Attrs is a transform's attributes with the life type/duration pairs
// resolved. ok is false when an attribute is unknown, repeated or out of
// order.
type v1Attrs struct {
	vals    map[uint16]uint64
	seconds uint64 // 0: none proposed
	ok      bool
}

// parseV1Attrs reads a transform's attributes; known lists the attribute
// types allowed besides the life pair (lifeType, lifeDur).
func parseV1Attrs(attrs []isakmp.Attribute, lifeType, lifeDur uint16, known ...uint16) v1Attrs {
	out := v1Attrs{vals: map[uint16]uint64{}, ok: true}
	var curType uint64 // the life type the next duration belongs to
	for _, a := range attrs {
		v := attrNum(a)
		switch {
		case a.Type == lifeType:
			if v != isakmp.LifeSeconds && v != isakmp.LifeKB {
				out.ok = false
			}
			curType = v
		case a.Type == lifeDur:
			// Volume lifetimes are accepted and not enforced.
			switch {
			case curType == 0 || v == 0:
				out.ok = false
			case curType == isakmp.LifeSeconds:
				out.seconds = v
			}
			curType = 0
		case slices.Contains(known, a.Type):
			if _, dup := out.vals[a.Type]; dup {
				out.ok = false
			}
			out.vals[a.Type] = v
		default:
			out.ok = false
		}
	}
	return out
}

// cloneTransform deep-copies a transform for the reply.
func cloneTransform(t isakmp.Transform) isakmp.Transform {
	t.Attributes = slices.Clone(t.Attributes)
	for i := range t.Attributes {
		if t.Attributes[i].Long != nil {
			t.Attributes[i].Long = bytes.Clone(t.Attributes[i].Long)
		}
	}
	return t
}

// SelectV1IKE chooses a phase-1 transform from the peer's ISAKMP proposal:
// KEY_IKE with AES-CBC (key length 128 or 256 as the policy lists), a hash
// whose HMAC pairs with an integrity name of the policy (sha1 → HMAC-SHA1
// ...), pre-shared key authentication and a DH group of the policy. AES-GCM
// entries of the policy do not apply: IKEv1 phase 1 has no AEAD. The
// lifetime is the peer's, capped to maxLifetime (<= 0: no cap); without one
// it is maxLifetime. The returned transform is a copy of the peer's.
func SelectV1IKE(offered []isakmp.Transform, p Policy, maxLifetime time.Duration) (isakmp.Transform, V1Suite, error) {
	for _, t := range offered {
		if s, ok := v1IKESuite(t, p, maxLifetime); ok {
			return cloneTransform(t), s, nil
		}
	}
	return isakmp.Transform{}, V1Suite{}, fmt.Errorf("%w: peer offered %s; we accept %s",
		ErrNoProposal, V1TransformsString(offered), v1Phase1Policy(p))
}

func v1IKESuite(t isakmp.Transform, p Policy, maxLifetime time.Duration) (V1Suite, bool) {
	if t.ID != isakmp.TransformKeyIKE {
		return V1Suite{}, false
	}
	a := parseV1Attrs(t.Attributes, isakmp.AttrLifeType, isakmp.AttrLifeDuration,
		isakmp.AttrEncryption, isakmp.AttrHash, isakmp.AttrAuthMethod, isakmp.AttrGroup, isakmp.AttrKeyLength)
	if !a.ok || a.vals[isakmp.AttrEncryption] != isakmp.EncrAESCBC || a.vals[isakmp.AttrAuthMethod] != isakmp.AuthPSK {
		return V1Suite{}, false
	}
	c := suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: int(min(a.vals[isakmp.AttrKeyLength], 1<<16))}
	if !slices.Contains(p.Ciphers, c) {
		return V1Suite{}, false
	}
	prf, ok := v1HashPRFs[a.vals[isakmp.AttrHash]]
	if !ok || !slices.ContainsFunc(p.Integs, func(i suite.Integ) bool { return suite.PRFForInteg[i] == prf }) {
		return V1Suite{}, false
	}
	g := a.vals[isakmp.AttrGroup]
	if g > math.MaxUint16 || g == 0 || !slices.Contains(p.DHGroups, suite.DHGroup(g)) || !SupportedGroup(suite.DHGroup(g)) {
		return V1Suite{}, false
	}
	return V1Suite{Cipher: c, Hash: prf, DH: suite.DHGroup(g), Lifetime: lifetime(a.seconds, maxLifetime)}, true
}

// v1Phase1Policy is the policy as phase 1 can use it: without AES-GCM.
func v1Phase1Policy(p Policy) string {
	q := p
	q.Ciphers = slices.DeleteFunc(slices.Clone(p.Ciphers), suite.Cipher.IsAEAD)
	s := q.String()
	if len(q.Ciphers) == 0 {
		s = "encryption none" + strings.TrimPrefix(s, "encryption ")
	}
	if len(q.Ciphers) < len(p.Ciphers) {
		s += " (AES-GCM is ESP-only in IKEv1)"
	}
	return s
}

// SelectV1ESP chooses a quick mode ESP transform. keGroup is the DH group
// the peer's KE payload is taken to be, 0 without a KE payload. IKEv1's KE
// payload names no group, so a caller with a KE tries the groups the peer
// offers whose public value has the KE data's length. A transform's Group
// Description (PFS) must equal keGroup and be in the policy's DH groups; a
// transform without one is acceptable only when there is no KE payload.
// Accepted: ESP proposals with a 4-byte SPI, alone under their proposal
// number (no AH/ESP bundles); ESP_AES with a key length and an
// authentication algorithm, or ESP_AES_GCM_16 with a key length and none;
// tunnel mode, plain or UDP encapsulated (RFC 3947 or the draft value;
// transport refused, absent means tunnel); no extended sequence numbers. The
// lifetime is the peer's capped to maxLifetime, or maxLifetime when it sets
// none.
//
// The returned proposal is a copy of the peer's with only the chosen
// transform; its SPI is the peer's inbound SPI (our outbound SPI), which the
// caller replaces with ours in the reply.
func SelectV1ESP(offered []isakmp.Proposal, p Policy, keGroup suite.DHGroup, maxLifetime time.Duration) (prop isakmp.Proposal, esp suite.ESP, pfsGroup suite.DHGroup, encapMode uint16, life time.Duration, err error) {
	for i, pr := range offered {
		bundled := (i > 0 && offered[i-1].Number == pr.Number) || (i+1 < len(offered) && offered[i+1].Number == pr.Number)
		if bundled || pr.ProtocolID != isakmp.ProtoIPsecESP || len(pr.SPI) != 4 {
			continue
		}
		for _, t := range pr.Transforms {
			c, ok := v1ESPTransform(t, p, keGroup, maxLifetime)
			if !ok {
				continue
			}
			out := isakmp.Proposal{Number: pr.Number, ProtocolID: pr.ProtocolID, SPI: bytes.Clone(pr.SPI),
				Transforms: []isakmp.Transform{cloneTransform(t)}}
			return out, c.esp, c.group, c.encap, c.life, nil
		}
	}
	pfsNote := "no KE payload"
	if keGroup != 0 {
		pfsNote = "KE payload " + GroupName(keGroup)
	}
	return isakmp.Proposal{}, suite.ESP{}, 0, 0, 0, fmt.Errorf("%w: peer offered %s (%s); we accept %s, tunnel mode",
		ErrNoProposal, V1ProposalsString(offered), pfsNote, p)
}

type v1ESPChoice struct {
	esp   suite.ESP
	group suite.DHGroup
	encap uint16
	life  time.Duration
}

func v1ESPTransform(t isakmp.Transform, p Policy, keGroup suite.DHGroup, maxLifetime time.Duration) (v1ESPChoice, bool) {
	a := parseV1Attrs(t.Attributes, isakmp.AttrSALifeType, isakmp.AttrSALifeDuration,
		isakmp.AttrGroupDesc, isakmp.AttrEncapMode, isakmp.AttrAuthAlg, isakmp.AttrIPsecKeyLength, isakmp.AttrExtendedSeqNums)
	if !a.ok || a.vals[isakmp.AttrExtendedSeqNums] != 0 {
		return v1ESPChoice{}, false
	}
	bits := int(min(a.vals[isakmp.AttrIPsecKeyLength], 1<<16))
	var ch v1ESPChoice
	auth, hasAuth := a.vals[isakmp.AttrAuthAlg]
	switch t.ID {
	case isakmp.ESP_AES:
		ch.esp.Cipher = suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: bits}
		i, ok := v1AuthAlgs[auth]
		if !ok || !slices.Contains(p.Integs, i) {
			return v1ESPChoice{}, false
		}
		ch.esp.Integ = i
	case isakmp.ESP_AES_GCM_16:
		ch.esp.Cipher = suite.Cipher{Encr: suite.EncrAESGCM16, KeyBits: bits}
		if hasAuth {
			return v1ESPChoice{}, false // RFC 4106 §5: no separate integrity
		}
	default:
		return v1ESPChoice{}, false
	}
	if !slices.Contains(p.Ciphers, ch.esp.Cipher) {
		return v1ESPChoice{}, false
	}
	g, hasGroup := a.vals[isakmp.AttrGroupDesc]
	if hasGroup != (keGroup != 0) {
		return v1ESPChoice{}, false
	}
	if hasGroup {
		if g != uint64(keGroup) || !slices.Contains(p.DHGroups, keGroup) || !SupportedGroup(keGroup) {
			return v1ESPChoice{}, false
		}
		ch.group = keGroup
	}
	mode, ok := a.vals[isakmp.AttrEncapMode]
	if !ok {
		mode = isakmp.EncapTunnel
	}
	switch mode {
	case isakmp.EncapTunnel, isakmp.EncapUDPTunnel, isakmp.EncapUDPTunnelDraft:
		ch.encap = uint16(mode)
	default:
		return v1ESPChoice{}, false
	}
	ch.life = lifetime(a.seconds, maxLifetime)
	return ch, true
}

// V1TransformsString names phase-1 transforms for logs in strongSwan's
// style, e.g. "aes256-sha2-256-modp2048-psk(28800s), aes128-sha1-modp1024-xauth-init-psk".
func V1TransformsString(ts []isakmp.Transform) string {
	if len(ts) == 0 {
		return "nothing"
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = v1TransformName(t, true)
	}
	return strings.Join(out, ", ")
}

// V1ProposalsString names quick mode proposals for logs, e.g.
// "ESP:aes128-sha1-modp2048-udp-tunnel(3600s)|aes128-gcm-16-tunnel".
func V1ProposalsString(ps []isakmp.Proposal) string {
	if len(ps) == 0 {
		return "nothing"
	}
	out := make([]string, len(ps))
	for i, pr := range ps {
		proto := map[uint8]string{isakmp.ProtoISAKMP: "ISAKMP", isakmp.ProtoIPsecAH: "AH", isakmp.ProtoIPsecESP: "ESP", isakmp.ProtoIPCOMP: "IPCOMP"}[pr.ProtocolID]
		if proto == "" {
			proto = fmt.Sprintf("proto%d", pr.ProtocolID)
		}
		names := make([]string, len(pr.Transforms))
		for j, t := range pr.Transforms {
			names[j] = v1TransformName(t, pr.ProtocolID == isakmp.ProtoISAKMP)
		}
		out[i] = proto + ":" + strings.Join(names, "|")
		if len(names) == 0 {
			out[i] += "no transforms"
		}
	}
	return strings.Join(out, ", ")
}

func v1TransformName(t isakmp.Transform, phase1 bool) string {
	vals := map[uint16]uint64{}
	var parts, other []string
	var secs, lifeType uint64
	lt, ld := uint16(isakmp.AttrSALifeType), uint16(isakmp.AttrSALifeDuration)
	if phase1 {
		lt, ld = isakmp.AttrLifeType, isakmp.AttrLifeDuration
	}
	for _, a := range t.Attributes {
		switch a.Type {
		case lt:
			lifeType = attrNum(a)
		case ld:
			if lifeType == isakmp.LifeSeconds {
				secs = attrNum(a)
			}
		default:
			if _, dup := vals[a.Type]; dup {
				other = append(other, fmt.Sprintf("attr%d=%d", a.Type, attrNum(a)))
			}
			vals[a.Type] = attrNum(a)
		}
	}
	if phase1 {
		parts = v1Phase1Names(t, vals)
	} else {
		parts = v1ESPNames(t, vals)
	}
	s := strings.Join(append(parts, other...), "-")
	if secs != 0 {
		s += fmt.Sprintf("(%ds)", secs)
	}
	return s
}

func keyLenName(base string, bits uint64, ok bool) string {
	if !ok {
		return base + "(no key length)"
	}
	return fmt.Sprintf("%s%d", base, bits)
}

func v1Phase1Names(t isakmp.Transform, vals map[uint16]uint64) []string {
	var parts []string
	if t.ID != isakmp.TransformKeyIKE {
		parts = append(parts, fmt.Sprintf("transform%d", t.ID))
	}
	bits, hasBits := vals[isakmp.AttrKeyLength]
	switch e := vals[isakmp.AttrEncryption]; e {
	case isakmp.EncrAESCBC:
		parts = append(parts, keyLenName("aes", bits, hasBits))
	case isakmp.Encr3DES:
		parts = append(parts, "3des")
	case isakmp.EncrDES:
		parts = append(parts, "des")
	default:
		parts = append(parts, fmt.Sprintf("encr%d", e))
	}
	switch h := vals[isakmp.AttrHash]; h {
	case isakmp.HashMD5:
		parts = append(parts, "md5")
	default:
		if prf, ok := v1HashPRFs[h]; ok {
			parts = append(parts, v1HashName(prf))
		} else {
			parts = append(parts, fmt.Sprintf("hash%d", h))
		}
	}
	parts = append(parts, GroupName(suite.DHGroup(vals[isakmp.AttrGroup])))
	m := vals[isakmp.AttrAuthMethod]
	if n, ok := v1AuthNames[m]; ok {
		parts = append(parts, n)
	} else {
		parts = append(parts, fmt.Sprintf("auth%d", m))
	}
	for _, typ := range slices.Sorted(maps.Keys(vals)) {
		switch typ {
		case isakmp.AttrEncryption, isakmp.AttrHash, isakmp.AttrAuthMethod, isakmp.AttrGroup, isakmp.AttrKeyLength:
		default:
			parts = append(parts, fmt.Sprintf("attr%d=%d", typ, vals[typ]))
		}
	}
	return parts
}

var v1EncapNames = map[uint64]string{
	isakmp.EncapTunnel: "tunnel", isakmp.EncapTransport: "transport",
	isakmp.EncapUDPTunnel: "udp-tunnel", isakmp.EncapUDPTransport: "udp-transport",
	isakmp.EncapUDPTunnelDraft: "udp-tunnel-draft", isakmp.EncapUDPTransportDraft: "udp-transport-draft",
}

func v1ESPNames(t isakmp.Transform, vals map[uint16]uint64) []string {
	var parts []string
	bits, hasBits := vals[isakmp.AttrIPsecKeyLength]
	switch t.ID {
	case isakmp.ESP_AES:
		parts = append(parts, keyLenName("aes", bits, hasBits))
	case isakmp.ESP_AES_GCM_8, isakmp.ESP_AES_GCM_12, isakmp.ESP_AES_GCM_16:
		icv := map[uint8]int{isakmp.ESP_AES_GCM_8: 8, isakmp.ESP_AES_GCM_12: 12, isakmp.ESP_AES_GCM_16: 16}[t.ID]
		parts = append(parts, keyLenName("aes", bits, hasBits)+fmt.Sprintf("-gcm-%d", icv))
	case isakmp.ESP_3DES:
		parts = append(parts, "3des")
	case isakmp.ESP_NULL:
		parts = append(parts, "null")
	default:
		parts = append(parts, fmt.Sprintf("esp%d", t.ID))
	}
	if a, ok := vals[isakmp.AttrAuthAlg]; ok {
		switch {
		case a == isakmp.AuthAlgHMACMD5:
			parts = append(parts, "md5")
		case v1AuthAlgs[a] != 0:
			parts = append(parts, v1AuthAlgs[a].String())
		default:
			parts = append(parts, fmt.Sprintf("auth%d", a))
		}
	}
	if g, ok := vals[isakmp.AttrGroupDesc]; ok {
		parts = append(parts, GroupName(suite.DHGroup(g)))
	}
	if m, ok := vals[isakmp.AttrEncapMode]; ok {
		if n, ok := v1EncapNames[m]; ok {
			parts = append(parts, n)
		} else {
			parts = append(parts, fmt.Sprintf("mode%d", m))
		}
	}
	if vals[isakmp.AttrExtendedSeqNums] != 0 {
		parts = append(parts, "esn")
	}
	for _, typ := range slices.Sorted(maps.Keys(vals)) {
		switch typ {
		case isakmp.AttrIPsecKeyLength, isakmp.AttrAuthAlg, isakmp.AttrGroupDesc, isakmp.AttrEncapMode, isakmp.AttrExtendedSeqNums:
		default:
			parts = append(parts, fmt.Sprintf("attr%d=%d", typ, vals[typ]))
		}
	}
	return parts
}
