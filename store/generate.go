package store

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"
)

// ID prefixes, as AWS's.
const (
	PrefixCustomerGateway = "cgw"
	PrefixVPNGateway      = "vgw"
	PrefixVPNConnection   = "vpn"
)

// idHexLen is the number of hex digits after the prefix, as AWS's long IDs
// (cgw-0a1b2c3d4e5f67890).
const idHexLen = 17

func newID(prefix string) string {
	var b [(idHexLen + 1) / 2]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return prefix + "-" + hex.EncodeToString(b[:])[:idHexLen]
}

// IsID reports whether s has the form of an ID with that prefix.
func IsID(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix+"-")
	if !ok || len(rest) != idHexLen {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func looksLikeID(s string) bool {
	return IsID(PrefixCustomerGateway, s) || IsID(PrefixVPNGateway, s) || IsID(PrefixVPNConnection, s)
}

// PSKAlphabet is AWS's PSK alphabet. It has exactly 64 symbols, so the low
// six bits of a random byte pick one without bias.
const PSKAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"

// GeneratedPSKLen is the length of a generated PSK (192 bits of entropy).
const GeneratedPSKLen = 32

// GeneratePSK returns a new random PSK as AWS generates one: 32
// characters of A-Z a-z 0-9 . _, not starting with 0.
func GeneratePSK() string {
	var b [GeneratedPSKLen]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = PSKAlphabet[b[i]&63]
	}
	for b[0] == '0' {
		var c [1]byte
		rand.Read(c[:])
		b[0] = PSKAlphabet[c[0]&63]
	}
	return string(b[:])
}

var (
	insideSpace = netip.MustParsePrefix("169.254.0.0/16")
	// ReservedInsideCIDRs are the /30s AWS does not allow as tunnel inside
	// CIDRs (169.254.169.252/30 holds the instance metadata and DNS
	// addresses).
	ReservedInsideCIDRs = []netip.Prefix{
		netip.MustParsePrefix("169.254.0.0/30"),
		netip.MustParsePrefix("169.254.1.0/30"),
		netip.MustParsePrefix("169.254.2.0/30"),
		netip.MustParsePrefix("169.254.3.0/30"),
		netip.MustParsePrefix("169.254.4.0/30"),
		netip.MustParsePrefix("169.254.5.0/30"),
		netip.MustParsePrefix("169.254.169.252/30"),
	}
)

const insideSlots = 1 << 14 // /30s in a /16

func insideSlot(n int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, byte(n >> 6), byte(n&63) << 2}), 30)
}

// generateInsideCIDR picks a random free /30 in 169.254.0.0/16 that is
// not reserved and for which used returns false; ok is false only when
// none is left.
func generateInsideCIDR(used func(netip.Prefix) bool) (p netip.Prefix, ok bool) {
	free := func(p netip.Prefix) bool { return !slices.Contains(ReservedInsideCIDRs, p) && !used(p) }
	var b [2]byte
	for range 64 {
		rand.Read(b[:])
		if p := insideSlot((int(b[0])<<8 | int(b[1])) & (insideSlots - 1)); free(p) {
			return p, true
		}
	}
	// Nearly full: walk every slot from a random start.
	rand.Read(b[:])
	start := (int(b[0])<<8 | int(b[1])) & (insideSlots - 1)
	for i := range insideSlots {
		if p := insideSlot((start + i) % insideSlots); free(p) {
			return p, true
		}
	}
	return netip.Prefix{}, false
}
