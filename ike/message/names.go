package message

import "strconv"

// Names for logs. Unknown values print as Type(n) so nothing is hidden.

var exchangeNames = map[ExchangeType]string{
	IKE_SA_INIT:     "IKE_SA_INIT",
	IKE_AUTH:        "IKE_AUTH",
	CREATE_CHILD_SA: "CREATE_CHILD_SA",
	INFORMATIONAL:   "INFORMATIONAL",
	38:              "IKE_SESSION_RESUME",
	43:              "IKE_INTERMEDIATE",
	44:              "IKE_FOLLOWUP_KE",
}

func (t ExchangeType) String() string { return name(exchangeNames, t, "ExchangeType") }

var payloadNames = map[PayloadType]string{
	PayloadNone:     "None",
	PayloadSA:       "SA",
	PayloadKE:       "KE",
	PayloadIDi:      "IDi",
	PayloadIDr:      "IDr",
	PayloadCERT:     "CERT",
	PayloadCERTREQ:  "CERTREQ",
	PayloadAUTH:     "AUTH",
	PayloadNonce:    "Nonce",
	PayloadNotify:   "Notify",
	PayloadDelete:   "Delete",
	PayloadVendorID: "VendorID",
	PayloadTSi:      "TSi",
	PayloadTSr:      "TSr",
	PayloadSK:       "SK",
	PayloadCP:       "CP",
	PayloadEAP:      "EAP",
	49:              "GSPM",
	PayloadSKF:      "SKF",
}

func (t PayloadType) String() string { return name(payloadNames, t, "PayloadType") }

var transformTypeNames = map[TransformType]string{
	TransformENCR:  "ENCR",
	TransformPRF:   "PRF",
	TransformINTEG: "INTEG",
	TransformDH:    "DH",
	TransformESN:   "ESN",
}

func (t TransformType) String() string { return name(transformTypeNames, t, "TransformType") }

var protocolNames = map[ProtocolID]string{ProtocolIKE: "IKE", ProtocolAH: "AH", ProtocolESP: "ESP"}

func (p ProtocolID) String() string { return name(protocolNames, p, "ProtocolID") }

var notifyNames = map[NotifyType]string{
	UNSUPPORTED_CRITICAL_PAYLOAD:    "UNSUPPORTED_CRITICAL_PAYLOAD",
	INVALID_IKE_SPI:                 "INVALID_IKE_SPI",
	INVALID_MAJOR_VERSION:           "INVALID_MAJOR_VERSION",
	INVALID_SYNTAX:                  "INVALID_SYNTAX",
	INVALID_MESSAGE_ID:              "INVALID_MESSAGE_ID",
	INVALID_SPI:                     "INVALID_SPI",
	NO_PROPOSAL_CHOSEN:              "NO_PROPOSAL_CHOSEN",
	INVALID_KE_PAYLOAD:              "INVALID_KE_PAYLOAD",
	AUTHENTICATION_FAILED:           "AUTHENTICATION_FAILED",
	SINGLE_PAIR_REQUIRED:            "SINGLE_PAIR_REQUIRED",
	NO_ADDITIONAL_SAS:               "NO_ADDITIONAL_SAS",
	INTERNAL_ADDRESS_FAILURE:        "INTERNAL_ADDRESS_FAILURE",
	FAILED_CP_REQUIRED:              "FAILED_CP_REQUIRED",
	TS_UNACCEPTABLE:                 "TS_UNACCEPTABLE",
	INVALID_SELECTORS:               "INVALID_SELECTORS",
	UNACCEPTABLE_ADDRESSES:          "UNACCEPTABLE_ADDRESSES",
	UNEXPECTED_NAT_DETECTED:         "UNEXPECTED_NAT_DETECTED",
	42:                              "USE_ASSIGNED_HoA",
	TEMPORARY_FAILURE:               "TEMPORARY_FAILURE",
	CHILD_SA_NOT_FOUND:              "CHILD_SA_NOT_FOUND",
	45:                              "INVALID_GROUP_ID",
	46:                              "AUTHORIZATION_FAILED",
	47:                              "STATE_NOT_FOUND",
	INITIAL_CONTACT:                 "INITIAL_CONTACT",
	SET_WINDOW_SIZE:                 "SET_WINDOW_SIZE",
	ADDITIONAL_TS_POSSIBLE:          "ADDITIONAL_TS_POSSIBLE",
	IPCOMP_SUPPORTED:                "IPCOMP_SUPPORTED",
	NAT_DETECTION_SOURCE_IP:         "NAT_DETECTION_SOURCE_IP",
	NAT_DETECTION_DESTINATION_IP:    "NAT_DETECTION_DESTINATION_IP",
	COOKIE:                          "COOKIE",
	USE_TRANSPORT_MODE:              "USE_TRANSPORT_MODE",
	HTTP_CERT_LOOKUP_SUPPORTED:      "HTTP_CERT_LOOKUP_SUPPORTED",
	REKEY_SA:                        "REKEY_SA",
	ESP_TFC_PADDING_NOT_SUPPORTED:   "ESP_TFC_PADDING_NOT_SUPPORTED",
	NON_FIRST_FRAGMENTS_ALSO:        "NON_FIRST_FRAGMENTS_ALSO",
	MOBIKE_SUPPORTED:                "MOBIKE_SUPPORTED",
	ADDITIONAL_IP4_ADDRESS:          "ADDITIONAL_IP4_ADDRESS",
	ADDITIONAL_IP6_ADDRESS:          "ADDITIONAL_IP6_ADDRESS",
	NO_ADDITIONAL_ADDRESSES:         "NO_ADDITIONAL_ADDRESSES",
	UPDATE_SA_ADDRESSES:             "UPDATE_SA_ADDRESSES",
	COOKIE2:                         "COOKIE2",
	NO_NATS_ALLOWED:                 "NO_NATS_ALLOWED",
	AUTH_LIFETIME:                   "AUTH_LIFETIME",
	MULTIPLE_AUTH_SUPPORTED:         "MULTIPLE_AUTH_SUPPORTED",
	ANOTHER_AUTH_FOLLOWS:            "ANOTHER_AUTH_FOLLOWS",
	REDIRECT_SUPPORTED:              "REDIRECT_SUPPORTED",
	REDIRECT:                        "REDIRECT",
	REDIRECTED_FROM:                 "REDIRECTED_FROM",
	EAP_ONLY_AUTHENTICATION:         "EAP_ONLY_AUTHENTICATION",
	CHILDLESS_IKEV2_SUPPORTED:       "CHILDLESS_IKEV2_SUPPORTED",
	IKEV2_MESSAGE_ID_SYNC_SUPPORTED: "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
	IKEV2_FRAGMENTATION_SUPPORTED:   "IKEV2_FRAGMENTATION_SUPPORTED",
	SIGNATURE_HASH_ALGORITHMS:       "SIGNATURE_HASH_ALGORITHMS",
	INTERMEDIATE_EXCHANGE_SUPPORTED: "INTERMEDIATE_EXCHANGE_SUPPORTED",
}

func (t NotifyType) String() string { return name(notifyNames, t, "NotifyType") }

// Transform ID names in strongSwan's spelling (IANA IKEv2 registries).
var transformIDNames = map[TransformType]map[uint16]string{
	TransformENCR: {3: "3DES", 11: "NULL", 12: "AES_CBC", 13: "AES_CTR", 18: "AES_GCM_8",
		19: "AES_GCM_12", 20: "AES_GCM_16", 23: "CAMELLIA_CBC", 28: "CHACHA20_POLY1305"},
	TransformPRF: {1: "PRF_HMAC_MD5", 2: "PRF_HMAC_SHA1", 4: "PRF_AES128_XCBC", 5: "PRF_HMAC_SHA2_256",
		6: "PRF_HMAC_SHA2_384", 7: "PRF_HMAC_SHA2_512", 8: "PRF_AES128_CMAC"},
	TransformINTEG: {0: "NONE", 1: "HMAC_MD5_96", 2: "HMAC_SHA1_96", 5: "AES_XCBC_96", 8: "AES_CMAC_96",
		12: "HMAC_SHA2_256_128", 13: "HMAC_SHA2_384_192", 14: "HMAC_SHA2_512_256"},
	TransformDH: {0: "NONE", 1: "MODP_768", 2: "MODP_1024", 5: "MODP_1536", 14: "MODP_2048",
		15: "MODP_3072", 16: "MODP_4096", 17: "MODP_6144", 18: "MODP_8192", 19: "ECP_256",
		20: "ECP_384", 21: "ECP_521", 22: "MODP_1024_160", 23: "MODP_2048_224", 24: "MODP_2048_256",
		31: "CURVE_25519", 32: "CURVE_448"},
	TransformESN: {ESNNone: "NO_EXT_SEQ", ESNEnabled: "EXT_SEQ"},
}

func name[K ~uint8 | ~uint16](names map[K]string, k K, typ string) string {
	if s, ok := names[k]; ok {
		return s
	}
	return typ + "(" + strconv.FormatUint(uint64(k), 10) + ")"
}
