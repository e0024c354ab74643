// Package isakmp is a pure ISAKMP/IKEv1 wire codec (RFC 2408 §3, RFC 2409,
// the IPsec DOI of RFC 2407 §4.5/§4.6, NAT-T of RFC 3947 and its drafts, and
// the DPD notifies of RFC 3706). It knows nothing about sockets, time or
// keys: Parse turns bytes into a Message of typed payloads, Serialize turns
// one back into bytes, and an encrypted body is handed over as ciphertext
// (IKEv1 encrypts everything after the header, so the caller decrypts and
// calls ParsePayloads). Decode errors are *ParseError values carrying the
// notify a responder would answer with.
//
// IKEv1 hashes cover payload bodies exactly as received (SAi_b, IDii_b, and
// "all payloads after HASH" in Quick Mode and informational exchanges), so
// every decoded payload remembers its body (Payload.Raw) and ChainAfter
// returns the received bytes of a chain's tail. Decoding checks syntax only;
// which payloads an exchange must carry is for the caller to validate.
package isakmp

// ExchangeType is the ISAKMP header's Exchange Type (RFC 2408 §3.1, RFC 2409).
type ExchangeType uint8

const (
	ExchangeBase               ExchangeType = 1
	ExchangeIdentityProtection ExchangeType = 2 // Main Mode
	ExchangeAuthOnly           ExchangeType = 3
	ExchangeAggressive         ExchangeType = 4
	ExchangeInformational      ExchangeType = 5
	ExchangeTransaction        ExchangeType = 6 // Mode Config / XAuth (draft-dukes-ike-mode-cfg)
	ExchangeQuickMode          ExchangeType = 32
	ExchangeNewGroupMode       ExchangeType = 33

	ExchangeMainMode = ExchangeIdentityProtection
)

// PayloadType is a Next Payload value (RFC 2408 §3.1, RFC 3947 §4, §5).
type PayloadType uint8

const (
	PayloadNone         PayloadType = 0
	PayloadSA           PayloadType = 1
	PayloadProposal     PayloadType = 2 // only inside SA
	PayloadTransform    PayloadType = 3 // only inside a proposal
	PayloadKE           PayloadType = 4
	PayloadID           PayloadType = 5
	PayloadCERT         PayloadType = 6
	PayloadCR           PayloadType = 7
	PayloadHash         PayloadType = 8
	PayloadSIG          PayloadType = 9
	PayloadNonce        PayloadType = 10
	PayloadNotification PayloadType = 11
	PayloadDelete       PayloadType = 12
	PayloadVendorID     PayloadType = 13
	PayloadAttribute    PayloadType = 14 // Mode Config attributes, kept as *Unknown
	PayloadNATD         PayloadType = 20
	PayloadNATOA        PayloadType = 21
	PayloadNATDDraft    PayloadType = 130 // draft-ietf-ipsec-nat-t-ike-02/03
	PayloadNATOADraft   PayloadType = 131
	PayloadFragment     PayloadType = 132 // Cisco/strongSwan IKEv1 fragment, kept as *Unknown
)

// HeaderLen is the size of the ISAKMP header.
const HeaderLen = 28

// Header flags (RFC 2408 §3.1).
const (
	FlagEncryption = 1
	FlagCommit     = 2
	FlagAuthOnly   = 4
)

// Version is the header's version byte this codec speaks: major 1, minor 0.
const Version = 0x10

const genericHeaderLen = 4

// Domain of interpretation and situation (RFC 2407 §4.2, §4.6.1).
const (
	DOIISAKMP       = 0
	DOIIPsec        = 1
	SitIdentityOnly = 1
	sitSecrecy      = 2
	sitIntegrity    = 4
)

// Protocol IDs (RFC 2407 §4.4.1).
const (
	ProtoISAKMP   = 1
	ProtoIPsecAH  = 2
	ProtoIPsecESP = 3
	ProtoIPCOMP   = 4
)

// Transform IDs: KEY_IKE for ISAKMP proposals (RFC 2407 §4.4.2) and IPsec
// ESP transform IDs (RFC 2407 §4.4.4, RFC 4106 §8.2).
const (
	TransformKeyIKE    = 1
	ESP_3DES           = 3
	ESP_NULL           = 11
	ESP_AES            = 12 // CBC
	ESP_AES_GCM_8      = 18
	ESP_AES_GCM_12     = 19
	ESP_AES_GCM_16     = 20
	ESP_AES_CTR        = 13
	ESP_NULL_AUTH_GMAC = 23
)

// Phase 1 attribute types (RFC 2409 Appendix A). B = basic (TV), V = variable.
const (
	AttrEncryption   = 1  // B
	AttrHash         = 2  // B
	AttrAuthMethod   = 3  // B
	AttrGroup        = 4  // B, group description
	AttrGroupType    = 5  // B
	AttrGroupPrime   = 6  // V
	AttrGroupGenOne  = 7  // V
	AttrGroupGenTwo  = 8  // V
	AttrGroupCurveA  = 9  // V
	AttrGroupCurveB  = 10 // V
	AttrLifeType     = 11 // B
	AttrLifeDuration = 12 // V
	AttrPRF          = 13 // B
	AttrKeyLength    = 14 // B
	AttrFieldSize    = 15 // B
	AttrGroupOrder   = 16 // V
)

// Phase 1 attribute values (RFC 2409 Appendix A, RFC 3602, RFC 4868).
const (
	EncrDES     = 1
	Encr3DES    = 5
	EncrAESCBC  = 7
	HashMD5     = 1
	HashSHA1    = 2
	HashSHA256  = 4
	HashSHA384  = 5
	HashSHA512  = 6
	AuthPSK     = 1
	AuthRSASig  = 3
	LifeSeconds = 1
	LifeKB      = 2
)

// IPsec DOI SA attribute types (RFC 2407 §4.5, RFC 4304). All basic but
// SA Life Duration and Compress Private Algorithm.
const (
	AttrSALifeType      = 1  // B
	AttrSALifeDuration  = 2  // V
	AttrGroupDesc       = 3  // B, PFS group
	AttrEncapMode       = 4  // B
	AttrAuthAlg         = 5  // B
	AttrIPsecKeyLength  = 6  // B
	AttrKeyRounds       = 7  // B
	AttrCompDictSize    = 8  // B
	AttrCompPrivAlg     = 9  // V
	AttrECNTunnel       = 10 // B
	AttrExtendedSeqNums = 11 // B
)

// IPsec attribute values: encapsulation modes (RFC 2407 §4.5, RFC 3947 §5.1
// and the draft values strongSwan still accepts) and authentication
// algorithms (RFC 2407 §4.5, RFC 4868).
const (
	EncapTunnel            = 1
	EncapTransport         = 2
	EncapUDPTunnel         = 3
	EncapUDPTransport      = 4
	EncapUDPTunnelDraft    = 61443
	EncapUDPTransportDraft = 61444

	AuthAlgHMACMD5      = 1
	AuthAlgHMACSHA1     = 2
	AuthAlgHMACSHA2_256 = 5
	AuthAlgHMACSHA2_384 = 6
	AuthAlgHMACSHA2_512 = 7
)

// ID types (RFC 2407 §4.6.2.1).
const (
	IDIPv4Addr       = 1
	IDFQDN           = 2
	IDUserFQDN       = 3
	IDIPv4AddrSubnet = 4
	IDIPv6Addr       = 5
	IDIPv6AddrSubnet = 6
	IDIPv4AddrRange  = 7
	IDIPv6AddrRange  = 8
	IDDERASN1DN      = 9
	IDDERASN1GN      = 10
	IDKeyID          = 11
)

// NotifyType is a Notify Message Type (RFC 2408 §3.14.1, RFC 2407 §4.6.3,
// RFC 3706 §5.1).
type NotifyType uint16

// Notify types, spelled as in the RFCs (dashes become underscores).
const (
	INVALID_PAYLOAD_TYPE      NotifyType = 1
	DOI_NOT_SUPPORTED         NotifyType = 2
	SITUATION_NOT_SUPPORTED   NotifyType = 3
	INVALID_COOKIE            NotifyType = 4
	INVALID_MAJOR_VERSION     NotifyType = 5
	INVALID_MINOR_VERSION     NotifyType = 6
	INVALID_EXCHANGE_TYPE     NotifyType = 7
	INVALID_FLAGS             NotifyType = 8
	INVALID_MESSAGE_ID        NotifyType = 9
	INVALID_PROTOCOL_ID       NotifyType = 10
	INVALID_SPI               NotifyType = 11
	INVALID_TRANSFORM_ID      NotifyType = 12
	ATTRIBUTES_NOT_SUPPORTED  NotifyType = 13
	NO_PROPOSAL_CHOSEN        NotifyType = 14
	BAD_PROPOSAL_SYNTAX       NotifyType = 15
	PAYLOAD_MALFORMED         NotifyType = 16
	INVALID_KEY_INFORMATION   NotifyType = 17
	INVALID_ID_INFORMATION    NotifyType = 18
	INVALID_CERT_ENCODING     NotifyType = 19
	INVALID_CERTIFICATE       NotifyType = 20
	CERT_TYPE_UNSUPPORTED     NotifyType = 21
	INVALID_CERT_AUTHORITY    NotifyType = 22
	INVALID_HASH_INFORMATION  NotifyType = 23
	AUTHENTICATION_FAILED     NotifyType = 24
	INVALID_SIGNATURE         NotifyType = 25
	ADDRESS_NOTIFICATION      NotifyType = 26
	NOTIFY_SA_LIFETIME        NotifyType = 27
	CERTIFICATE_UNAVAILABLE   NotifyType = 28
	UNSUPPORTED_EXCHANGE_TYPE NotifyType = 29
	UNEQUAL_PAYLOAD_LENGTHS   NotifyType = 30

	CONNECTED          NotifyType = 16384
	RESPONDER_LIFETIME NotifyType = 24576
	REPLAY_STATUS      NotifyType = 24577
	INITIAL_CONTACT    NotifyType = 24578
	R_U_THERE          NotifyType = 36136
	R_U_THERE_ACK      NotifyType = 36137
)
