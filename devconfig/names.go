package devconfig

// Algorithm name tables: vpgw's tunnel option names (AWS's, as in
// suite.CipherNames and suite.IntegNames) and DH group numbers mapped to
// each device's own syntax. A name missing from a table is not offered to
// that device (an AWS option the device cannot express, e.g. AES-GCM for
// IKEv1 phase 1 or for Yamaha); if nothing of a list is left, Render fails.

// strongSwan (swanctl.conf and ipsec.conf share the proposal syntax).
var (
	swanEncr = map[string]string{
		"aes128":        "aes128",
		"aes256":        "aes256",
		"aes128-gcm-16": "aes128gcm16",
		"aes256-gcm-16": "aes256gcm16",
	}
	swanInteg = map[string]string{
		"sha1":     "sha1",
		"sha2-256": "sha256",
		"sha2-384": "sha384",
		"sha2-512": "sha512",
	}
	// swanPRF is the PRF keyword for an IKE AEAD proposal (which names no
	// integrity algorithm); non-AEAD IKE proposals derive the PRF from the
	// integrity algorithm, as AWS's phase 1 integrity option means both.
	swanPRF = map[string]string{
		"sha1":     "prfsha1",
		"sha2-256": "prfsha256",
		"sha2-384": "prfsha384",
		"sha2-512": "prfsha512",
	}
	swanDH = map[int]string{
		1:  "modp768",
		2:  "modp1024",
		5:  "modp1536",
		14: "modp2048",
		15: "modp3072",
		16: "modp4096",
		17: "modp6144",
		18: "modp8192",
		19: "ecp256",
		20: "ecp384",
		21: "ecp521",
		22: "modp1024s160",
		23: "modp2048s224",
		24: "modp2048s256",
		25: "ecp192",
		26: "ecp224",
		27: "ecp224bp",
		28: "ecp256bp",
		29: "ecp384bp",
		30: "ecp512bp",
		31: "curve25519",
		32: "curve448",
	}
)

// Cisco ASA (9.7+ route-based VTI).
var (
	// crypto ikev1 policy: encryption / hash (ASA's IKEv1 policy has no SHA-2).
	asaIKEv1Encr = map[string]string{"aes128": "aes", "aes256": "aes-256"}
	asaIKEv1Hash = map[string]string{"sha1": "sha"}
	// crypto ipsec ikev1 transform-set (no AES-GCM with IKEv1).
	asaIKEv1ESPEncr  = map[string]string{"aes128": "esp-aes", "aes256": "esp-aes-256"}
	asaIKEv1ESPInteg = map[string]string{
		"sha1":     "esp-sha-hmac",
		"sha2-256": "esp-sha256-hmac",
		"sha2-384": "esp-sha384-hmac",
		"sha2-512": "esp-sha512-hmac",
	}
	// crypto ikev2 policy: encryption / integrity and prf.
	asaIKEv2Encr = map[string]string{
		"aes128":        "aes",
		"aes256":        "aes-256",
		"aes128-gcm-16": "aes-gcm",
		"aes256-gcm-16": "aes-gcm-256",
	}
	asaIKEv2Integ = map[string]string{
		"sha1":     "sha",
		"sha2-256": "sha256",
		"sha2-384": "sha384",
		"sha2-512": "sha512",
	}
	// crypto ipsec ikev2 ipsec-proposal: protocol esp encryption / integrity.
	asaESPv2Encr = map[string]string{
		"aes128":        "aes",
		"aes256":        "aes-256",
		"aes128-gcm-16": "aes-gcm",
		"aes256-gcm-16": "aes-gcm-256",
	}
	asaESPv2Integ = map[string]string{
		"sha1":     "sha-1",
		"sha2-256": "sha-256",
		"sha2-384": "sha-384",
		"sha2-512": "sha-512",
	}
	// group N (IKE policy) and set pfs groupN.
	asaDH = map[int]string{1: "1", 2: "2", 5: "5", 14: "14", 15: "15", 16: "16", 19: "19", 20: "20", 21: "21", 24: "24", 31: "31"}
)

// Juniper SRX (Junos set commands).
var (
	srxIKEEncr = map[string]string{
		"aes128":        "aes-128-cbc",
		"aes256":        "aes-256-cbc",
		"aes128-gcm-16": "aes-128-gcm", // IKEv2 only
		"aes256-gcm-16": "aes-256-gcm", // IKEv2 only
	}
	srxIKEAuth = map[string]string{
		"sha1":     "sha1",
		"sha2-256": "sha-256",
		"sha2-384": "sha-384",
		"sha2-512": "sha-512",
	}
	srxESPEncr = map[string]string{
		"aes128":        "aes-128-cbc",
		"aes256":        "aes-256-cbc",
		"aes128-gcm-16": "aes-128-gcm",
		"aes256-gcm-16": "aes-256-gcm",
	}
	srxESPAuth = map[string]string{
		"sha1":     "hmac-sha1-96",
		"sha2-256": "hmac-sha-256-128",
		"sha2-384": "hmac-sha-384",
		"sha2-512": "hmac-sha-512",
	}
	srxDH = map[int]string{1: "group1", 2: "group2", 5: "group5", 14: "group14", 15: "group15", 16: "group16", 19: "group19", 20: "group20", 21: "group21", 24: "group24"}
)

// Yamaha RTX (RTX1210 command syntax). AES-GCM and SHA-384/512 are left
// out: not every RTX firmware has them.
var (
	rtxIKEEncr = map[string]string{"aes128": "aes-cbc", "aes256": "aes256-cbc"}
	rtxIKEHash = map[string]string{"sha1": "sha", "sha2-256": "sha256"}
	rtxESPEncr = map[string]string{"aes128": "aes-cbc", "aes256": "aes256-cbc"}
	rtxESPAuth = map[string]string{"sha1": "sha-hmac", "sha2-256": "sha256-hmac"}
	rtxDH      = map[int]string{1: "modp768", 2: "modp1024", 5: "modp1536", 14: "modp2048"}
)

// Generic (AWS's wording in its generic configuration).
var (
	genericEncr = map[string]string{
		"aes128":        "aes-128-cbc",
		"aes256":        "aes-256-cbc",
		"aes128-gcm-16": "aes-128-gcm-16",
		"aes256-gcm-16": "aes-256-gcm-16",
	}
	genericInteg = map[string]string{
		"sha1":     "sha1",
		"sha2-256": "sha2-256",
		"sha2-384": "sha2-384",
		"sha2-512": "sha2-512",
	}
)
