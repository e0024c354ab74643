// Package message is a pure IKEv2 wire codec (RFC 7296 §3). It knows nothing
// about sockets, time or keys: Parse turns bytes into a Message of typed
// payloads, Serialize turns one back into bytes, and the SK payload's body is
// handed over still encrypted. Decode errors are *ParseError values carrying
// the notify type a responder should answer with.
//
// Decoding checks syntax only (lengths, counts, fixed-size fields); which
// payloads an exchange must carry is for the caller to validate.
package message

// ExchangeType is the IKE header's Exchange Type (RFC 7296 §3.1).
type ExchangeType uint8

// Exchange types, spelled as in the RFC so logs and code read alike.
const (
	IKE_SA_INIT     ExchangeType = 34
	IKE_AUTH        ExchangeType = 35
	CREATE_CHILD_SA ExchangeType = 36
	INFORMATIONAL   ExchangeType = 37
)

// PayloadType is a Next Payload value (RFC 7296 §3.2).
type PayloadType uint8

const (
	PayloadNone     PayloadType = 0
	PayloadSA       PayloadType = 33
	PayloadKE       PayloadType = 34
	PayloadIDi      PayloadType = 35
	PayloadIDr      PayloadType = 36
	PayloadCERT     PayloadType = 37
	PayloadCERTREQ  PayloadType = 38
	PayloadAUTH     PayloadType = 39
	PayloadNonce    PayloadType = 40
	PayloadNotify   PayloadType = 41
	PayloadDelete   PayloadType = 42
	PayloadVendorID PayloadType = 43
	PayloadTSi      PayloadType = 44
	PayloadTSr      PayloadType = 45
	PayloadSK       PayloadType = 46
	PayloadCP       PayloadType = 47
	PayloadEAP      PayloadType = 48
	PayloadSKF      PayloadType = 53 // RFC 7383 encrypted fragment
)

// HeaderLen is the size of the fixed IKE header.
const HeaderLen = 28

// genericHeaderLen is the size of the generic payload header (RFC 7296 §3.2).
const genericHeaderLen = 4

// Header flags (RFC 7296 §3.1).
const (
	FlagInitiator = 0x08
	FlagVersion   = 0x10
	FlagResponse  = 0x20
)

// flagCritical is the critical bit in the generic payload header.
const flagCritical = 0x80

// TransformType is a transform substructure's type (RFC 7296 §3.3.2).
type TransformType uint8

const (
	TransformENCR  TransformType = 1
	TransformPRF   TransformType = 2
	TransformINTEG TransformType = 3
	TransformDH    TransformType = 4
	TransformESN   TransformType = 5
)

// ESN transform IDs (RFC 7296 §3.3.2).
const (
	ESNNone    = 0
	ESNEnabled = 1
)

// AttrKeyLength is the only transform attribute IKEv2 defines (RFC 7296
// §3.3.5); it is always sent in TV form.
const AttrKeyLength = 14

// ProtocolID names the protocol a proposal, notify or delete is about. The
// constants are untyped so they also fit the uint8 Protocol fields of Notify
// and Delete.
type ProtocolID uint8

const (
	ProtocolIKE = 1
	ProtocolAH  = 2
	ProtocolESP = 3
)

// Identification types (RFC 7296 §3.5).
const (
	IDIPv4Addr   = 1
	IDFQDN       = 2
	IDRFC822Addr = 3
	IDIPv6Addr   = 5
	IDDERASN1DN  = 9
	IDDERASN1GN  = 10
	IDKeyID      = 11
)

// Authentication methods (RFC 7296 §3.8, RFC 7427).
const (
	AuthRSASignature     = 1
	AuthSharedKeyMIC     = 2
	AuthDSSSignature     = 3
	AuthDigitalSignature = 14
)

// Traffic selector types (RFC 7296 §3.13.1).
const (
	TSIPv4AddrRange = 7
	TSIPv6AddrRange = 8
)

// Configuration payload types (RFC 7296 §3.15).
const (
	CFGRequest = 1
	CFGReply   = 2
	CFGSet     = 3
	CFGAck     = 4
)

// Configuration attribute types (RFC 7296 §3.15.1), the common ones.
const (
	InternalIP4Address = 1
	InternalIP4Netmask = 2
	InternalIP4DNS     = 3
	InternalIP4NBNS    = 4
	InternalIP4DHCP    = 6
	ApplicationVersion = 7
	InternalIP6Address = 8
	InternalIP6DNS     = 10
	InternalIP6DHCP    = 12
	InternalIP4Subnet  = 13
	SupportedAttrs     = 14
	InternalIP6Subnet  = 15
)

// NotifyType is a Notify Message Type (RFC 7296 §3.10.1); below 16384 are
// errors, from 16384 up status types.
type NotifyType uint16

// Error notify types.
const (
	UNSUPPORTED_CRITICAL_PAYLOAD NotifyType = 1
	INVALID_IKE_SPI              NotifyType = 4
	INVALID_MAJOR_VERSION        NotifyType = 5
	INVALID_SYNTAX               NotifyType = 7
	INVALID_MESSAGE_ID           NotifyType = 9
	INVALID_SPI                  NotifyType = 11
	NO_PROPOSAL_CHOSEN           NotifyType = 14
	INVALID_KE_PAYLOAD           NotifyType = 17
	AUTHENTICATION_FAILED        NotifyType = 24
	SINGLE_PAIR_REQUIRED         NotifyType = 34
	NO_ADDITIONAL_SAS            NotifyType = 35
	INTERNAL_ADDRESS_FAILURE     NotifyType = 36
	FAILED_CP_REQUIRED           NotifyType = 37
	TS_UNACCEPTABLE              NotifyType = 38
	INVALID_SELECTORS            NotifyType = 39
	UNACCEPTABLE_ADDRESSES       NotifyType = 40
	UNEXPECTED_NAT_DETECTED      NotifyType = 41
	TEMPORARY_FAILURE            NotifyType = 43
	CHILD_SA_NOT_FOUND           NotifyType = 44
)

// Status notify types.
const (
	INITIAL_CONTACT                 NotifyType = 16384
	SET_WINDOW_SIZE                 NotifyType = 16385
	ADDITIONAL_TS_POSSIBLE          NotifyType = 16386
	IPCOMP_SUPPORTED                NotifyType = 16387
	NAT_DETECTION_SOURCE_IP         NotifyType = 16388
	NAT_DETECTION_DESTINATION_IP    NotifyType = 16389
	COOKIE                          NotifyType = 16390
	USE_TRANSPORT_MODE              NotifyType = 16391
	HTTP_CERT_LOOKUP_SUPPORTED      NotifyType = 16392
	REKEY_SA                        NotifyType = 16393
	ESP_TFC_PADDING_NOT_SUPPORTED   NotifyType = 16394
	NON_FIRST_FRAGMENTS_ALSO        NotifyType = 16395
	MOBIKE_SUPPORTED                NotifyType = 16396
	ADDITIONAL_IP4_ADDRESS          NotifyType = 16397
	ADDITIONAL_IP6_ADDRESS          NotifyType = 16398
	NO_ADDITIONAL_ADDRESSES         NotifyType = 16399
	UPDATE_SA_ADDRESSES             NotifyType = 16400
	COOKIE2                         NotifyType = 16401
	NO_NATS_ALLOWED                 NotifyType = 16402
	AUTH_LIFETIME                   NotifyType = 16403
	MULTIPLE_AUTH_SUPPORTED         NotifyType = 16404
	ANOTHER_AUTH_FOLLOWS            NotifyType = 16405
	REDIRECT_SUPPORTED              NotifyType = 16406
	REDIRECT                        NotifyType = 16407
	REDIRECTED_FROM                 NotifyType = 16408
	EAP_ONLY_AUTHENTICATION         NotifyType = 16417
	CHILDLESS_IKEV2_SUPPORTED       NotifyType = 16418
	IKEV2_MESSAGE_ID_SYNC_SUPPORTED NotifyType = 16420
	IKEV2_FRAGMENTATION_SUPPORTED   NotifyType = 16430
	SIGNATURE_HASH_ALGORITHMS       NotifyType = 16431
	INTERMEDIATE_EXCHANGE_SUPPORTED NotifyType = 16438
)

// IsError reports whether the notify type is an error (RFC 7296 §3.10.1).
func (t NotifyType) IsError() bool { return t < 16384 }
