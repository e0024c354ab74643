package ike

import "github.com/vpgw/vpgw/suite"

// keyPad is the fixed string of RFC 7296 §2.15, without a trailing NUL.
const keyPad = "Key Pad for IKEv2"

// PSKAuth computes the AUTH data of shared-key authentication (RFC 7296 §2.15):
//
//	AUTH = prf(prf(PSK, "Key Pad for IKEv2"), <RealMessage> | <Nonce> | prf(SK_px, IDx'))
//
// For the initiator's AUTH: signedOctets is its IKE_SA_INIT request as sent,
// nonce is Nr, skp is SK_pi and idBody is the IDi payload body; for the
// responder's: its IKE_SA_INIT response, Ni, SK_pr and IDr. Compare results
// with hmac.Equal. It returns nil for an unsupported PRF, which never
// matches, though SelectIKE only ever picks supported ones.
func PSKAuth(prfID suite.PRF, psk, signedOctets, nonce, skp, idBody []byte) []byte {
	prf, err := NewPRF(prfID)
	if err != nil {
		return nil
	}
	key := prf.Sum(psk, []byte(keyPad))
	defer clear(key)
	return prf.Sum(key, concat(signedOctets, nonce, prf.Sum(skp, idBody)))
}
