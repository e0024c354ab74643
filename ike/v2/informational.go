package v2

import (
	"fmt"

	"github.com/vpgw/vpgw/ike/message"
)

// INFORMATIONAL requests from the peer (RFC 7296 §1.4): an empty one is a
// liveness check (answered empty); DELETE payloads remove CHILD_SAs (we
// answer with the matching DELETE of our inbound SPIs) or the IKE SA itself
// (answered empty, RFC 7296 §1.4.1).

func (r *Responder) handleInformational(sa *ikeSA, req *request) ([]message.Payload, bool) {
	if sa.state != saEstablished && sa.state != saRekeyed {
		return nil, false
	}
	var deleteIKE bool
	var ours []uint32
	for _, p := range req.payloads {
		switch p := p.(type) {
		case *message.Delete:
			switch p.Protocol {
			case message.ProtocolIKE:
				deleteIKE = true
			case message.ProtocolESP, message.ProtocolAH:
				ours = append(ours, r.deleteChildren(sa, p.SPIs32())...)
			}
		case *message.Notify:
			if p.NotifyType.IsError() {
				r.log.Warn("peer reported an error", "notify", p.NotifyType.String(), "spi", sa.String())
			}
		}
	}
	if deleteIKE {
		switch {
		case sa.state == saRekeyed:
			r.log.Debug("old IKE_SA deleted by peer after rekey", "spi", sa.String())
			r.removeSA(sa, "")
		case sa.peerRekey != nil:
			// A rekey collision the peer resolved in favour of its new SA
			// before our exchange finished: the children go there.
			r.log.Info("rekey collision resolved: peer deleted the old IKE_SA, keeping the peer's new one",
				"old", sa.String(), "new", sa.peerRekey.nsa.String())
			nsa := sa.peerRekey.nsa
			sa.ourRekey, sa.peerRekey = nil, nil
			r.finishIKERekey(sa, nsa, false)
			r.removeSA(sa, "")
		default:
			r.log.Info(fmt.Sprintf("IKE_SA deleted by peer %v (%d CHILD_SAs)", req.remote.Addr(), len(sa.children)), "spi", sa.String())
			r.removeSA(sa, "deleted by peer")
		}
		return nil, true
	}
	if len(ours) == 0 {
		return nil, true
	}
	return []message.Payload{message.DeleteESP(ours...)}, true
}

// deleteChildren removes the children whose outbound SPI (the peer's
// inbound) is listed and returns our inbound SPIs for the reply. Unknown
// SPIs are ignored (RFC 7296 §1.4.1: already gone).
func (r *Responder) deleteChildren(sa *ikeSA, peerSPIs []uint32) []uint32 {
	var ours []uint32
	for _, out := range peerSPIs {
		for in, c := range sa.children {
			if c.outSPI != out {
				continue
			}
			delete(sa.children, in)
			ours = append(ours, c.inSPI)
			what := "deleted by peer"
			if c.rekeyed {
				what = "deleted by peer after rekey"
			}
			r.log.Info("CHILD_SA "+what, "child", c.String(), "spi", sa.String())
			r.childDown(c, "deleted by peer")
		}
	}
	return ours
}
