package isakmp

import (
	"fmt"
	"strconv"
)

// Names for logs, spelled like strongSwan's. Unknown values print as Type(n)
// so nothing is hidden.

var exchangeNames = map[ExchangeType]string{
	ExchangeBase:               "BASE",
	ExchangeIdentityProtection: "ID_PROT",
	ExchangeAuthOnly:           "AUTH_ONLY",
	ExchangeAggressive:         "AGGRESSIVE",
	ExchangeInformational:      "INFORMATIONAL_V1",
	ExchangeTransaction:        "TRANSACTION",
	ExchangeQuickMode:          "QUICK_MODE",
	ExchangeNewGroupMode:       "NEW_GROUP_MODE",
}

func (t ExchangeType) String() string { return name(exchangeNames, t, "ExchangeType") }

var payloadNames = map[PayloadType]string{
	PayloadNone:         "None",
	PayloadSA:           "SA",
	PayloadProposal:     "Proposal",
	PayloadTransform:    "Transform",
	PayloadKE:           "KE",
	PayloadID:           "ID",
	PayloadCERT:         "CERT",
	PayloadCR:           "CR",
	PayloadHash:         "HASH",
	PayloadSIG:          "SIG",
	PayloadNonce:        "Nonce",
	PayloadNotification: "N",
	PayloadDelete:       "D",
	PayloadVendorID:     "V",
	PayloadAttribute:    "ATTR",
	PayloadNATD:         "NAT-D",
	PayloadNATOA:        "NAT-OA",
	PayloadNATDDraft:    "NAT-D(draft)",
	PayloadNATOADraft:   "NAT-OA(draft)",
	PayloadFragment:     "FRAG",
}

func (t PayloadType) String() string { return name(payloadNames, t, "PayloadType") }

var notifyNames = map[NotifyType]string{
	INVALID_PAYLOAD_TYPE:      "INVALID_PAYLOAD_TYPE",
	DOI_NOT_SUPPORTED:         "DOI_NOT_SUPPORTED",
	SITUATION_NOT_SUPPORTED:   "SITUATION_NOT_SUPPORTED",
	INVALID_COOKIE:            "INVALID_COOKIE",
	INVALID_MAJOR_VERSION:     "INVALID_MAJOR_VERSION",
	INVALID_MINOR_VERSION:     "INVALID_MINOR_VERSION",
	INVALID_EXCHANGE_TYPE:     "INVALID_EXCHANGE_TYPE",
	INVALID_FLAGS:             "INVALID_FLAGS",
	INVALID_MESSAGE_ID:        "INVALID_MESSAGE_ID",
	INVALID_PROTOCOL_ID:       "INVALID_PROTOCOL_ID",
	INVALID_SPI:               "INVALID_SPI",
	INVALID_TRANSFORM_ID:      "INVALID_TRANSFORM_ID",
	ATTRIBUTES_NOT_SUPPORTED:  "ATTRIBUTES_NOT_SUPPORTED",
	NO_PROPOSAL_CHOSEN:        "NO_PROPOSAL_CHOSEN",
	BAD_PROPOSAL_SYNTAX:       "BAD_PROPOSAL_SYNTAX",
	PAYLOAD_MALFORMED:         "PAYLOAD_MALFORMED",
	INVALID_KEY_INFORMATION:   "INVALID_KEY_INFORMATION",
	INVALID_ID_INFORMATION:    "INVALID_ID_INFORMATION",
	INVALID_CERT_ENCODING:     "INVALID_CERT_ENCODING",
	INVALID_CERTIFICATE:       "INVALID_CERTIFICATE",
	CERT_TYPE_UNSUPPORTED:     "CERT_TYPE_UNSUPPORTED",
	INVALID_CERT_AUTHORITY:    "INVALID_CERT_AUTHORITY",
	INVALID_HASH_INFORMATION:  "INVALID_HASH_INFORMATION",
	AUTHENTICATION_FAILED:     "AUTHENTICATION_FAILED",
	INVALID_SIGNATURE:         "INVALID_SIGNATURE",
	ADDRESS_NOTIFICATION:      "ADDRESS_NOTIFICATION",
	NOTIFY_SA_LIFETIME:        "NOTIFY_SA_LIFETIME",
	CERTIFICATE_UNAVAILABLE:   "CERTIFICATE_UNAVAILABLE",
	UNSUPPORTED_EXCHANGE_TYPE: "UNSUPPORTED_EXCHANGE_TYPE",
	UNEQUAL_PAYLOAD_LENGTHS:   "UNEQUAL_PAYLOAD_LENGTHS",
	CONNECTED:                 "CONNECTED",
	RESPONDER_LIFETIME:        "RESPONDER_LIFETIME",
	REPLAY_STATUS:             "REPLAY_STATUS",
	INITIAL_CONTACT:           "INITIAL_CONTACT",
	R_U_THERE:                 "R_U_THERE",
	R_U_THERE_ACK:             "R_U_THERE_ACK",
}

func (t NotifyType) String() string { return name(notifyNames, t, "NotifyType") }

func name[K ~uint8 | ~uint16](m map[K]string, v K, typ string) string {
	if s, ok := m[v]; ok {
		return s
	}
	return typ + "(" + strconv.Itoa(int(v)) + ")"
}

var protocolNames = map[uint8]string{ProtoISAKMP: "ISAKMP", ProtoIPsecAH: "AH", ProtoIPsecESP: "ESP", ProtoIPCOMP: "IPCOMP"}

func protocolName(p uint8) string { return name(protocolNames, p, "Protocol") }

var espTransformNames = map[uint8]string{
	ESP_3DES: "ESP_3DES", ESP_NULL: "ESP_NULL", ESP_AES: "ESP_AES", ESP_AES_CTR: "ESP_AES_CTR",
	ESP_AES_GCM_8: "ESP_AES_GCM_8", ESP_AES_GCM_12: "ESP_AES_GCM_12", ESP_AES_GCM_16: "ESP_AES_GCM_16",
	ESP_NULL_AUTH_GMAC: "ESP_NULL_AUTH_AES_GMAC",
}

func transformIDName(protocolID, id uint8) string {
	switch protocolID {
	case ProtoISAKMP:
		if id == TransformKeyIKE {
			return "KEY_IKE"
		}
	case ProtoIPsecESP:
		return name(espTransformNames, id, "ESP")
	}
	return "TRANSFORM(" + strconv.Itoa(int(id)) + ")"
}

// Per-class attribute names and, where the value is an enumeration, value names.
var (
	phase1AttrNames = map[uint16]string{
		AttrEncryption: "ENCR", AttrHash: "HASH", AttrAuthMethod: "AUTH", AttrGroup: "GROUP",
		AttrGroupType: "GROUP_TYPE", AttrGroupPrime: "GROUP_PRIME", AttrGroupGenOne: "GROUP_GEN1",
		AttrGroupGenTwo: "GROUP_GEN2", AttrGroupCurveA: "GROUP_CURVE_A", AttrGroupCurveB: "GROUP_CURVE_B",
		AttrLifeType: "LIFE_TYPE", AttrLifeDuration: "LIFE", AttrPRF: "PRF", AttrKeyLength: "KEY_LEN",
		AttrFieldSize: "FIELD_SIZE", AttrGroupOrder: "GROUP_ORDER",
	}
	ipsecAttrNames = map[uint16]string{
		AttrSALifeType: "LIFE_TYPE", AttrSALifeDuration: "LIFE", AttrGroupDesc: "GROUP", AttrEncapMode: "ENCAP",
		AttrAuthAlg: "AUTH", AttrIPsecKeyLength: "KEY_LEN", AttrKeyRounds: "KEY_ROUNDS",
		AttrCompDictSize: "COMP_DICT_SIZE", AttrCompPrivAlg: "COMP_PRIV_ALG", AttrECNTunnel: "ECN_TUNNEL",
		AttrExtendedSeqNums: "ESN",
	}
	groupNames = map[uint64]string{1: "MODP_768", 2: "MODP_1024", 5: "MODP_1536", 14: "MODP_2048",
		15: "MODP_3072", 16: "MODP_4096", 17: "MODP_6144", 18: "MODP_8192", 19: "ECP_256", 20: "ECP_384",
		21: "ECP_521", 22: "MODP_1024_160", 23: "MODP_2048_224", 24: "MODP_2048_256", 31: "CURVE_25519"}
	lifeTypeNames = map[uint64]string{LifeSeconds: "SECONDS", LifeKB: "KILOBYTES"}
	valueNames    = map[attrClass]map[uint16]map[uint64]string{
		classPhase1: {
			AttrEncryption: {EncrDES: "DES_CBC", Encr3DES: "3DES_CBC", EncrAESCBC: "AES_CBC"},
			AttrHash:       {HashMD5: "MD5", HashSHA1: "SHA1", 3: "TIGER", HashSHA256: "SHA2_256", HashSHA384: "SHA2_384", HashSHA512: "SHA2_512"},
			AttrAuthMethod: {AuthPSK: "PSK", 2: "DSS", AuthRSASig: "RSA", 65001: "XAUTH_INIT_PSK", 65002: "XAUTH_RESP_PSK"},
			AttrGroup:      groupNames,
			AttrLifeType:   lifeTypeNames,
		},
		classIPsec: {
			AttrSALifeType: lifeTypeNames,
			AttrGroupDesc:  groupNames,
			AttrEncapMode: {EncapTunnel: "TUNNEL", EncapTransport: "TRANSPORT", EncapUDPTunnel: "UDP_TUNNEL",
				EncapUDPTransport: "UDP_TRANSPORT", EncapUDPTunnelDraft: "UDP_TUNNEL_DRAFT", EncapUDPTransportDraft: "UDP_TRANSPORT_DRAFT"},
			AttrAuthAlg: {AuthAlgHMACMD5: "HMAC_MD5", AuthAlgHMACSHA1: "HMAC_SHA1", AuthAlgHMACSHA2_256: "HMAC_SHA2_256",
				AuthAlgHMACSHA2_384: "HMAC_SHA2_384", AuthAlgHMACSHA2_512: "HMAC_SHA2_512"},
		},
	}
)

// AttributeString renders an attribute for logs as NAME=VALUE, naming it in
// the registry of its proposal's protocol (ProtoISAKMP: phase 1, otherwise
// the IPsec DOI).
func AttributeString(protocolID uint8, a Attribute) string { return classOf(protocolID).attrString(a) }

func (c attrClass) attrString(a Attribute) string {
	var n string
	switch c {
	case classPhase1:
		n = phase1AttrNames[a.Type]
	case classIPsec:
		n = ipsecAttrNames[a.Type]
	}
	if n == "" {
		n = "ATTR" + strconv.Itoa(int(a.Type))
	}
	switch {
	case len(a.Long) > 8:
		return fmt.Sprintf("%s=<%d bytes>", n, len(a.Long))
	case valueNames[c][a.Type][a.Value] != "":
		return n + "=" + valueNames[c][a.Type][a.Value]
	}
	return n + "=" + strconv.FormatUint(a.Value, 10)
}
