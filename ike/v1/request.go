package v1

import (
	"net/netip"
	"time"

	"github.com/vpgw/vpgw/ike"
)

// Our own requests (MM1, MM3, MM5 and QM1 when we initiate). IKEv1 has no
// message-ID window: each exchange retransmits its last message, byte for
// byte, with exponential backoff until the peer's next message arrives;
// past the limit the exchange has failed and onGiveUp decides what happens.
// The messages that end an exchange with no answer (QM3; and MM6, which we
// receive) stay cached on the exchange so a retransmitted QM2 (or MM4) from
// the peer gets our answer again.

// Retransmit schedule: 4 s, then ×1.8 each time; 5 retransmits, then give
// up (after about 165 s, as strongSwan's defaults).
const (
	retransmitBase   = 4 * time.Second
	retransmitFactor = 1.8
	retransmitTries  = 5
)

// outReq is one message of ours waiting for the peer's next one.
type outReq struct {
	what          string // for logs, e.g. "MM3"
	pkt           []byte
	local, remote netip.AddrPort
	sent          time.Time
	wait          time.Duration
	retransmits   int
	timer         ike.Timer
	done          bool
	onGiveUp      func(q *outReq)
}

// sendRequest sends q now and arms its retransmits.
func (r *Responder) sendRequest(q *outReq) {
	q.sent, q.wait = r.clock.Now(), retransmitBase
	r.out.Queue(q.pkt, q.local, q.remote)
	r.armRetransmit(q)
}

func (r *Responder) armRetransmit(q *outReq) {
	q.timer = r.afterFunc(q.wait, func() {
		q.timer = nil
		r.retransmitDue(q)
	})
}

// retransmitDue resends q or gives up on it.
func (r *Responder) retransmitDue(q *outReq) {
	if q.done {
		return
	}
	if q.retransmits >= retransmitTries {
		q.done = true
		r.log.Debug("request unanswered, giving up", "what", q.what, "retransmits", q.retransmits,
			"after", r.clock.Now().Sub(q.sent))
		if q.onGiveUp != nil {
			q.onGiveUp(q)
		}
		return
	}
	q.retransmits++
	r.log.Debug("request retransmitted", "what", q.what, "retransmit", q.retransmits,
		"after", r.clock.Now().Sub(q.sent).Round(time.Millisecond))
	r.out.Queue(q.pkt, q.local, q.remote)
	q.wait = time.Duration(float64(q.wait) * retransmitFactor)
	r.armRetransmit(q)
}

// answered stops q's retransmits (nil-safe).
func (q *outReq) answered() {
	if q == nil {
		return
	}
	q.done = true
	stopTimer(&q.timer)
}
