package v2

import (
	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/suite"
)

// Operator-facing names of negotiated suites, in strongSwan's proposal
// syntax so logs read like the customer's own configuration.

func groupName(g suite.DHGroup) string {
	if g == 0 {
		return "none"
	}
	return ike.GroupName(g)
}

// ikeSuiteName renders e.g. "aes128-sha2-256-prf-sha2-256-modp2048".
func ikeSuiteName(s ike.IKESuite) string { return s.String() }

// espSuiteName renders e.g. "aes128-sha1" or "aes128-gcm-16-modp2048" (PFS).
func espSuiteName(e suite.ESP, pfs suite.DHGroup) string {
	if pfs == 0 {
		return e.String()
	}
	return e.String() + "-" + groupName(pfs)
}
