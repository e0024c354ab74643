package v1

import (
	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/suite"
)

// espSuiteName renders e.g. "aes128-sha1" or "aes128-sha1-modp1024" (PFS),
// as strongSwan's proposal syntax does.
func espSuiteName(e suite.ESP, pfs suite.DHGroup) string {
	if pfs == 0 {
		return e.String()
	}
	return e.String() + "-" + ike.GroupName(pfs)
}

// pfsString is the Quick Mode log's description of PFS.
func pfsString(pfs suite.DHGroup) string {
	if pfs == 0 {
		return "no PFS"
	}
	return "PFS " + ike.GroupName(pfs)
}
