package ike

import (
	"slices"
	"time"

	"github.com/vpgw/vpgw/ike/isakmp"
	"github.com/vpgw/vpgw/suite"
)

// What vpgw offers when it initiates IKEv1 exchanges itself (Main Mode and
// Quick Mode as initiator). IKEv1 has no per-algorithm transforms: each
// transform is a complete suite, so the offer is the policy's cross product
// in the operator's order of preference. SelectV1IKE and SelectV1ESP accept
// every transform built here.

// v1MaxTransforms is the most transforms one proposal can number (the
// transform number is one octet).
const v1MaxTransforms = 255

// V1IKETransforms returns the phase-1 transforms for an ISAKMP proposal:
// one KEY_IKE transform per AES-CBC cipher × hash × DH group of p (AES-GCM
// is ESP-only in IKEv1), pre-shared key authentication, and a lifetime in
// seconds when life > 0.
func V1IKETransforms(p Policy, life time.Duration) []isakmp.Transform {
	var hashes []uint16
	for _, i := range p.Integs {
		if h, ok := v1HashAttr(suite.PRFForInteg[i]); ok && !slices.Contains(hashes, h) {
			hashes = append(hashes, h)
		}
	}
	var out []isakmp.Transform
	for _, c := range p.Ciphers {
		if c.Encr != suite.EncrAESCBC {
			continue
		}
		for _, h := range hashes {
			for _, g := range p.DHGroups {
				if !SupportedGroup(g) || len(out) == v1MaxTransforms {
					continue
				}
				attrs := []isakmp.Attribute{
					isakmp.BasicAttr(isakmp.AttrEncryption, isakmp.EncrAESCBC),
					isakmp.BasicAttr(isakmp.AttrKeyLength, uint16(c.KeyBits)),
					isakmp.BasicAttr(isakmp.AttrHash, h),
					isakmp.BasicAttr(isakmp.AttrGroup, uint16(g)),
					isakmp.BasicAttr(isakmp.AttrAuthMethod, isakmp.AuthPSK),
				}
				if secs := uint64(life / time.Second); secs > 0 {
					attrs = append(attrs, isakmp.BasicAttr(isakmp.AttrLifeType, isakmp.LifeSeconds),
						isakmp.VarAttr(isakmp.AttrLifeDuration, secs))
				}
				out = append(out, isakmp.Transform{Number: uint8(len(out) + 1), ID: isakmp.TransformKeyIKE, Attributes: attrs})
			}
		}
	}
	return out
}

// V1ESPTransforms returns the Quick Mode transforms for an ESP proposal:
// ESP_AES with each integrity of p, ESP_AES_GCM_16 without, all with the
// encapsulation mode encap, the PFS group pfs (0: none) and a lifetime in
// seconds when life > 0.
func V1ESPTransforms(p Policy, pfs suite.DHGroup, encap uint16, life time.Duration) []isakmp.Transform {
	var out []isakmp.Transform
	add := func(id uint8, c suite.Cipher, auth uint16) {
		if len(out) == v1MaxTransforms {
			return
		}
		var attrs []isakmp.Attribute
		if secs := uint64(life / time.Second); secs > 0 {
			attrs = append(attrs, isakmp.BasicAttr(isakmp.AttrSALifeType, isakmp.LifeSeconds),
				isakmp.VarAttr(isakmp.AttrSALifeDuration, secs))
		}
		attrs = append(attrs,
			isakmp.BasicAttr(isakmp.AttrEncapMode, encap),
			isakmp.BasicAttr(isakmp.AttrIPsecKeyLength, uint16(c.KeyBits)))
		if auth != 0 {
			attrs = append(attrs, isakmp.BasicAttr(isakmp.AttrAuthAlg, auth))
		}
		if pfs != 0 {
			attrs = append(attrs, isakmp.BasicAttr(isakmp.AttrGroupDesc, uint16(pfs)))
		}
		out = append(out, isakmp.Transform{Number: uint8(len(out) + 1), ID: id, Attributes: attrs})
	}
	for _, c := range p.Ciphers {
		switch c.Encr {
		case suite.EncrAESGCM16:
			add(isakmp.ESP_AES_GCM_16, c, 0)
		case suite.EncrAESCBC:
			for _, i := range p.Integs {
				if a, ok := v1AuthAlgAttr(i); ok {
					add(isakmp.ESP_AES, c, a)
				}
			}
		}
	}
	return out
}

func v1HashAttr(prf suite.PRF) (uint16, bool) {
	for _, h := range []uint64{isakmp.HashSHA1, isakmp.HashSHA256, isakmp.HashSHA384, isakmp.HashSHA512} {
		if v1HashPRFs[h] == prf {
			return uint16(h), true
		}
	}
	return 0, false
}

func v1AuthAlgAttr(i suite.Integ) (uint16, bool) {
	for _, a := range []uint64{isakmp.AuthAlgHMACSHA1, isakmp.AuthAlgHMACSHA2_256, isakmp.AuthAlgHMACSHA2_384, isakmp.AuthAlgHMACSHA2_512} {
		if v1AuthAlgs[a] == i {
			return uint16(a), true
		}
	}
	return 0, false
}
