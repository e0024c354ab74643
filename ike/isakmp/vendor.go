package isakmp

import (
	"bytes"
	"encoding/hex"
)

// Vendor IDs vpgw recognises. Most are MD5 digests of a string (given in the
// comment; vendor_test.go checks them).
var (
	VIDRFC3947  = mustHex("4a131c81070358455c5728f20e95452f") // MD5("RFC 3947")
	VIDDraft02N = mustHex("90cb80913ebb696e086381b5ec427b1f") // MD5("draft-ietf-ipsec-nat-t-ike-02\n"), the newline is a historical accident everyone copies
	VIDDraft02  = mustHex("cd60464335df21f87cfdb2fc68b6a448") // MD5("draft-ietf-ipsec-nat-t-ike-02")
	VIDDraft03  = mustHex("7d9419a65310ca6f2c179d9215529d56") // MD5("draft-ietf-ipsec-nat-t-ike-03")
	// VIDDPD is RFC 3706 §5.2's value: 16 bytes whose last two are major 1, minor 0.
	VIDDPD = mustHex("afcad71368a1f1c96b8696fc77570100")
	// VIDXAuth is the first 8 bytes of MD5("draft-ietf-ipsra-isakmp-xauth-06.txt").
	VIDXAuth = mustHex("09002689dfd6b712")
	// VIDFragmentation is Cisco's IKE fragmentation ID as strongSwan sends it:
	// MD5("FRAGMENTATION") followed by the capability flags 0x80000000.
	VIDFragmentation = mustHex("4048b7d56ebce88525e7de7f00d6c2d380000000")
	// VIDStrongSwan is MD5("strongSwan"), sent when charon.send_vendor_id is set;
	// old releases appended version bytes, so it is matched as a prefix.
	VIDStrongSwan = mustHex("882fe56d6fd20dbc2251613b2ebe5beb")
	// VIDCiscoUnity is MD5("CISCO-UNITY") with the last two bytes replaced by the version (1.0).
	VIDCiscoUnity = mustHex("12f5f28c457168a9702d9fe274cc0100")
)

// knownVIDs are matched exactly, prefixVIDs by their first bytes (versions,
// capability flags and strongSwan version strings vary after them).
var (
	knownVIDs = []struct {
		b    []byte
		name string
	}{
		{VIDRFC3947, "NAT-T (RFC 3947)"},
		{VIDDraft02N, "NAT-T draft-02\\n"},
		{VIDDraft02, "NAT-T draft-02"},
		{VIDDraft03, "NAT-T draft-03"},
		{mustHex("4485152d18b6bbcd0be8a8469579ddcc"), "NAT-T draft-00"},
		{mustHex("16f6ca16e4a4066d83821a0f0aeaa862"), "NAT-T draft-01"},
		{VIDDPD, "DPD"},
		{VIDXAuth, "XAuth"},
		{VIDFragmentation, "FRAGMENTATION"},
		{VIDStrongSwan, "strongSwan"},
		{VIDCiscoUnity, "Cisco Unity"},
	}
	prefixVIDs = []struct {
		b    []byte
		name string
	}{
		{VIDDPD[:14], "DPD"},
		{VIDFragmentation[:16], "FRAGMENTATION"},
		{VIDStrongSwan, "strongSwan"},
		{VIDCiscoUnity[:14], "Cisco Unity"},
		{mustHex("1e2b516905991c7d7c96fcbfb587e461"), "MS NT5 ISAKMPOAKLEY"},
	}
)

// DescribeVendorID names a vendor ID for logs; unknown ones print as hex
// (vendor IDs are public constants, not secrets), cut at 32 bytes.
func DescribeVendorID(b []byte) string {
	for _, v := range knownVIDs {
		if bytes.Equal(b, v.b) {
			return v.name
		}
	}
	for _, v := range prefixVIDs {
		if len(b) > len(v.b) && bytes.HasPrefix(b, v.b) {
			return v.name + " " + hex.EncodeToString(b[len(v.b):])
		}
	}
	if len(b) > 32 {
		return hex.EncodeToString(b[:32]) + "…"
	}
	return hex.EncodeToString(b)
}

// HasVendorID reports whether the vendor ID payloads of ps include vid exactly.
func HasVendorID(ps []Payload, vid []byte) bool {
	for _, v := range VendorIDs(ps) {
		if bytes.Equal(v, vid) {
			return true
		}
	}
	return false
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
