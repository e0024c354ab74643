package isakmp

import (
	"bytes"
	"crypto/md5"
	"testing"
)

// Known-answer checks: the vendor IDs that are MD5 digests of a string.
func TestVendorIDDerivation(t *testing.T) {
	sum := func(s string) []byte { h := md5.Sum([]byte(s)); return h[:] }
	tests := []struct {
		vid, want []byte
	}{
		{VIDRFC3947, sum("RFC 3947")},
		{VIDDraft02N, sum("draft-ietf-ipsec-nat-t-ike-02\n")},
		{VIDDraft02, sum("draft-ietf-ipsec-nat-t-ike-02")},
		{VIDDraft03, sum("draft-ietf-ipsec-nat-t-ike-03")},
		{VIDStrongSwan, sum("strongSwan")},
		{VIDXAuth, sum("draft-ietf-ipsra-isakmp-xauth-06.txt")[:8]},
		{VIDFragmentation, append(sum("FRAGMENTATION"), 0x80, 0, 0, 0)},
		{VIDCiscoUnity, append(sum("CISCO-UNITY")[:14], 1, 0)},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.vid, tt.want) {
			t.Errorf("vendor ID %x, want %x", tt.vid, tt.want)
		}
	}
}

func TestDescribeVendorID(t *testing.T) {
	tests := map[string]string{
		"afcad71368a1f1c96b8696fc77570100":         "DPD",
		"afcad71368a1f1c96b8696fc77570101":         "DPD 0101",
		"4048b7d56ebce88525e7de7f00d6c2d380000000": "FRAGMENTATION",
		"4048b7d56ebce88525e7de7f00d6c2d3c0000000": "FRAGMENTATION c0000000",
		"882fe56d6fd20dbc2251613b2ebe5beb":         "strongSwan",
		"882fe56d6fd20dbc2251613b2ebe5beb0205":     "strongSwan 0205",
		"09002689dfd6b712":                         "XAuth",
		"4a131c81070358455c5728f20e95452f":         "NAT-T (RFC 3947)",
		"12f5f28c457168a9702d9fe274cc0100":         "Cisco Unity",
		"1e2b516905991c7d7c96fcbfb587e46100000009": "MS NT5 ISAKMPOAKLEY 00000009",
		"0102": "0102",
		"":     "",
	}
	for in, want := range tests {
		if got := DescribeVendorID(mustHex(in)); got != want {
			t.Errorf("DescribeVendorID(%s) = %q, want %q", in, got, want)
		}
	}
	if got := DescribeVendorID(make([]byte, 40)); len(got) != 64+len("…") {
		t.Errorf("long vendor ID not cut: %q", got)
	}
}
