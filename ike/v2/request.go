package v2

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
)

// Our own requests (RFC 7296 §2.1–§2.3). Each IKE SA has a window of one:
// a single request in flight, later ones queued behind it. A request is
// retransmitted, byte for byte, with exponential backoff until the peer
// answers; past its limit the exchange has failed and onGiveUp (by default
// the dead-peer handling of dpd.go) decides what happens to the SA.
//
// IKE_SA_INIT, which has no SA yet, uses the same retransmit schedule
// through the same outReq type (initiator.go), sent to fixed addresses.

// Retransmit schedules.
const (
	// Exchanges: 4 s, then ×1.8 each time; 5 retransmits, then give up
	// (after about 165 s, as strongSwan's defaults).
	retransmitBase   = 4 * time.Second
	retransmitFactor = 1.8
	retransmitTries  = 5
	// Liveness checks: 2 s, then ×1.8, until Config.DPDTimeout.
	dpdRetransmitBase = 2 * time.Second
)

// outReq is one request of ours.
type outReq struct {
	exchange message.ExchangeType
	payloads []message.Payload
	what     string // for logs and reasons, e.g. "CREATE_CHILD_SA (CHILD_SA rekey)"

	// Retransmits: the first wait, then ×retransmitFactor each time, up to
	// maxRetransmits, or until deadline after the first send if set. In
	// steady mode (peer declared dead, dpd_timeout_action none) it is
	// resent every steady interval without end.
	base           time.Duration
	maxRetransmits int
	deadline       time.Duration
	steady         time.Duration

	// movable requests (CHILD_SA operations) follow the children to a
	// rekeyed IKE SA if they were not sent yet.
	movable bool

	// onResponse gets the decrypted response and the SA it came on (which
	// may already be rekeyed); onGiveUp runs when retransmits ran out.
	onResponse func(sa *ikeSA, h message.Header, ps []message.Payload)
	onGiveUp   func(sa *ikeSA, q *outReq)

	// Set when sent.
	pkt           []byte
	id            uint32
	sent          time.Time
	retransmits   int
	wait          time.Duration
	timer         ike.Timer
	local, remote netip.AddrPort // IKE_SA_INIT only: fixed addresses
}

// request queues q on sa and sends it if the window is free.
func (r *Responder) request(sa *ikeSA, q *outReq) *outReq {
	if q.base == 0 {
		q.base, q.maxRetransmits = retransmitBase, retransmitTries
	}
	sa.reqQ = append(sa.reqQ, q)
	r.sendNext(sa)
	return q
}

// unqueue drops q if it is still waiting in sa's queue (not yet sent).
func (r *Responder) unqueue(sa *ikeSA, q *outReq) bool {
	i := slices.Index(sa.reqQ, q)
	if i < 0 {
		return false
	}
	sa.reqQ = slices.Delete(sa.reqQ, i, i+1)
	return true
}

// moveQueued hands old's unsent CHILD_SA requests to nsa after an IKE rekey.
func (r *Responder) moveQueued(old, nsa *ikeSA) {
	var keep []*outReq
	for _, q := range old.reqQ {
		if q.movable {
			nsa.reqQ = append(nsa.reqQ, q)
		} else {
			keep = append(keep, q)
		}
	}
	old.reqQ = keep
	r.sendNext(nsa)
}

// sendNext sends the next queued request when none is in flight.
func (r *Responder) sendNext(sa *ikeSA) {
	for sa.inflight == nil && len(sa.reqQ) > 0 && r.sas[sa.ourSPI()] == sa && sa.out != nil {
		q := sa.reqQ[0]
		sa.reqQ = sa.reqQ[1:]
		h := message.Header{
			SPIi: sa.spii, SPIr: sa.spir, MajorVersion: 2,
			Exchange: q.exchange, Flags: sa.flags(), MessageID: sa.nextSendID,
		}
		pkt, err := sa.seal(h, q.payloads, r.rand)
		if err != nil {
			r.log.Error("cannot build request", "hdr", h.String(), "err", err)
			continue
		}
		sa.nextSendID++
		q.pkt, q.id, q.sent, q.wait = pkt, h.MessageID, r.clock.Now(), q.base
		sa.inflight = q
		r.log.Debug("request sent", "what", q.what, "hdr", h.String())
		r.out.Queue(pkt, sa.local, sa.remote)
		r.armRetransmit(sa, q)
	}
}

func (r *Responder) armRetransmit(sa *ikeSA, q *outReq) {
	wait := q.wait
	if q.steady > 0 {
		wait = q.steady
	} else if q.deadline > 0 {
		// Give up exactly at the deadline.
		wait = min(wait, max(q.deadline-r.clock.Now().Sub(q.sent), 0))
	}
	q.timer = r.afterFunc(wait, func() {
		q.timer = nil
		r.retransmitDue(sa, q)
	})
}

// retransmitDue resends q or gives up on it.
func (r *Responder) retransmitDue(sa *ikeSA, q *outReq) {
	if sa != nil && sa.inflight != q {
		return // answered, or the SA is gone
	}
	if sa == nil && r.conn.init != q {
		return
	}
	elapsed := r.clock.Now().Sub(q.sent)
	if q.steady == 0 {
		var over bool
		if q.deadline > 0 {
			over = elapsed >= q.deadline
		} else {
			over = q.retransmits >= q.maxRetransmits
		}
		if over {
			r.log.Debug("request unanswered, giving up", "what", q.what, "retransmits", q.retransmits, "after", elapsed)
			if q.onGiveUp != nil {
				q.onGiveUp(sa, q)
			} else {
				r.requestGaveUp(sa, q)
			}
			return
		}
	}
	q.retransmits++
	r.log.Debug("request retransmitted", "what", q.what, "retransmit", q.retransmits, "after", elapsed.Round(time.Millisecond))
	if sa != nil {
		r.out.Queue(q.pkt, sa.local, sa.remote)
	} else {
		r.out.Queue(q.pkt, q.local, q.remote)
	}
	if q.steady == 0 {
		q.wait = time.Duration(float64(q.wait) * retransmitFactor)
	}
	r.armRetransmit(sa, q)
}

// handleResponse matches the peer's answer with our request in flight.
func (r *Responder) handleResponse(sa *ikeSA, m *message.Message) {
	q := sa.inflight
	if q == nil || m.Header.MessageID != q.id {
		r.counters.BadMessageID++
		r.log.Debug("dropped response to no request of ours", "hdr", m.Header.String())
		return
	}
	if m.Header.IsInitiator() == sa.initiator {
		r.counters.Malformed++
		return
	}
	ps, err := sa.open(m)
	if err != nil {
		r.counters.DecryptFailed++
		return
	}
	r.lastIKE = r.clock.Now()
	r.peerAlive()
	stopTimer(&q.timer)
	sa.inflight = nil
	r.log.Debug("peer answered our request", "what", q.what, "hdr", m.Header.String())
	if q.onResponse != nil {
		q.onResponse(sa, m.Header, ps)
	}
	r.sendNext(sa)
}

// requestGaveUp is the default for an unanswered request: on an
// established SA the peer is considered dead (dpd_timeout_action applies);
// anything else just goes.
func (r *Responder) requestGaveUp(sa *ikeSA, q *outReq) {
	if sa.state != saEstablished {
		r.log.Debug("SA dropped: request unanswered", "what", q.what, "spi", sa.String())
		r.removeSA(sa, "")
		return
	}
	reason := fmt.Sprintf("no response to %s after %d retransmits", q.what, q.retransmits)
	r.peerDead(sa, q, reason)
}
