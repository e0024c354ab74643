package v2

import (
	"net/netip"

	"github.com/vpgw/vpgw/ike/message"
)

// selectors turns prefixes into traffic selectors (any protocol and port).
func selectors(ps []netip.Prefix) []message.TrafficSelector {
	out := make([]message.TrafficSelector, 0, len(ps))
	for _, p := range ps {
		out = append(out, message.SelectorFromPrefix(p.Masked()))
	}
	return out
}
