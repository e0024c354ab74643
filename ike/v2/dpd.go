package v2

import (
	"fmt"
	"slices"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
)

// Dead peer detection (RFC 7296 §2.4). The peer's liveness checks are
// plain empty INFORMATIONAL requests, answered in informational.go. Ours:
// when the tunnel has been idle for Config.DPDDelay (no valid IKE message
// from the peer and no inbound ESP, Config.LastInbound) we send an empty
// INFORMATIONAL request on the newest IKE SA and retransmit it (2 s, ×1.8)
// until Config.DPDTimeout has passed since the peer's last sign of life
// (AWS counts the timeout from the last packet received, so the idle time
// before the first check is part of it). Any valid message
// from the peer counts as a sign of life. No answer: the peer is dead and
// Config.DPDAction applies (peerDead). A request of ours that is already in
// flight (a rekey, say) checks liveness by itself, so no probe is sent then;
// if it goes unanswered, peerDead applies too.

// defaultDPDTimeout applies when DPDDelay is set without DPDTimeout (AWS's
// default and minimum).
const defaultDPDTimeout = 30 * time.Second

// minDPDWait is the least time a liveness check gets before the peer is
// declared dead, however long the tunnel was idle before it was sent.
const minDPDWait = 5 * time.Second

type dpdState struct {
	timer   ike.Timer
	probe   *outReq // our liveness check, queued or in flight
	probeSA *ikeSA
	dead    bool // declared dead with dpd_timeout_action none; cleared by any answer
}

// startDPD arms the idle check once an IKE SA is established.
func (r *Responder) startDPD() {
	if r.cfg.DPDDelay <= 0 || r.dpd.timer != nil || r.dpd.probe != nil {
		return
	}
	r.scheduleDPD(r.cfg.DPDDelay)
}

func (r *Responder) stopDPD() {
	stopTimer(&r.dpd.timer)
	r.dpd.probe, r.dpd.probeSA, r.dpd.dead = nil, nil, false
}

func (r *Responder) scheduleDPD(d time.Duration) {
	stopTimer(&r.dpd.timer)
	r.dpd.timer = r.afterFunc(d, func() {
		r.dpd.timer = nil
		r.checkDPD()
	})
}

// lastActivity is the last sign of life from the peer.
func (r *Responder) lastActivity() time.Time {
	last := r.lastIKE
	if r.cfg.LastInbound != nil {
		if t := r.cfg.LastInbound(); t.After(last) {
			last = t
		}
	}
	return last
}

// checkDPD runs on the DPD timer.
func (r *Responder) checkDPD() {
	if p := r.dpd.probe; p != nil {
		sa := r.dpd.probeSA
		if r.sas[sa.ourSPI()] == sa && (sa.inflight == p || slices.Contains(sa.reqQ, p)) {
			r.scheduleDPD(r.cfg.DPDDelay) // still waiting for the answer
			return
		}
		r.dpd.probe, r.dpd.probeSA = nil, nil
	}
	sa := r.newestEstablished()
	if sa == nil {
		return // re-armed by the next IKEUp
	}
	idle := r.clock.Now().Sub(r.lastActivity())
	if idle < r.cfg.DPDDelay {
		r.scheduleDPD(r.cfg.DPDDelay - idle)
		return
	}
	if sa.inflight != nil {
		r.scheduleDPD(r.cfg.DPDDelay) // that request checks liveness already
		return
	}
	r.log.Info(fmt.Sprintf("DPD: no traffic from %v for %v, sending liveness check", r.cfg.Peer, idle.Round(time.Second)), "spi", sa.String())
	q := &outReq{
		exchange: message.INFORMATIONAL, what: "liveness check",
		base: dpdRetransmitBase, deadline: max(r.cfg.DPDTimeout-idle, minDPDWait),
		onResponse: func(*ikeSA, message.Header, []message.Payload) {
			r.dpd.probe, r.dpd.probeSA = nil, nil
			r.scheduleDPD(r.cfg.DPDDelay)
		},
		onGiveUp: func(sa *ikeSA, q *outReq) {
			// ESP still arriving: the peer lives, only its IKE is slow.
			if r.cfg.LastInbound != nil && r.cfg.LastInbound().After(q.sent) {
				r.log.Info("DPD: no answer to liveness check, but ESP still arrives; waiting on", "spi", sa.String())
				q.sent = r.clock.Now()
				r.armRetransmit(sa, q)
				return
			}
			r.peerDead(sa, q, fmt.Sprintf("DPD timeout after %d retransmits", q.retransmits))
		},
	}
	r.dpd.probe, r.dpd.probeSA = q, sa
	r.request(sa, q)
}

// peerDead applies dpd_timeout_action after request q on sa went
// unanswered.
func (r *Responder) peerDead(sa *ikeSA, q *outReq, reason string) {
	waited := r.clock.Now().Sub(q.sent).Round(time.Second)
	prefix := "DPD: peer dead"
	if q != r.dpd.probe {
		prefix = fmt.Sprintf("peer dead: no response to %s", q.what)
	}
	head := fmt.Sprintf("%s after %d retransmits (%v)", prefix, q.retransmits, waited)
	switch r.cfg.DPDAction {
	case DPDActionNone:
		if !r.dpd.dead {
			r.dpd.dead = true
			r.log.Warn(head+", keeping SAs (dpd_timeout_action none)", "peer", r.cfg.Peer, "spi", sa.String())
			r.out.Emit(ike.PeerDead{Tunnel: r.cfg.Tunnel, Reason: reason})
		}
		// Keep asking, same message ID, so a returning peer is noticed.
		q.steady = max(r.cfg.DPDDelay, dpdRetransmitBase)
		q.retransmits++
		r.out.Queue(q.pkt, sa.local, sa.remote)
		r.armRetransmit(sa, q)
	case DPDActionRestart:
		r.log.Warn(head+", restarting", "peer", r.cfg.Peer, "spi", sa.String())
		r.clearAll(reason)
		r.conn.restartPending = true
		if err := r.startInitiation(); err != nil {
			r.log.Error("cannot initiate a new IKE_SA", "err", err)
		}
	default:
		r.log.Warn(head+", clearing", "peer", r.cfg.Peer, "spi", sa.String())
		r.clearAll(reason)
	}
}

// peerAlive notes an answer from a peer declared dead (action none).
func (r *Responder) peerAlive() {
	if r.dpd.dead {
		r.dpd.dead = false
		r.log.Info(fmt.Sprintf("DPD: peer %v alive again", r.cfg.Peer))
	}
}

// clearAll deletes every SA of the tunnel locally (the peer is gone, so
// nothing is sent): ChildDown for each child, then one IKEDown.
func (r *Responder) clearAll(reason string) {
	var up, rest []*ikeSA
	for _, sa := range r.sas {
		if sa.state == saEstablished {
			up = append(up, sa)
		} else {
			rest = append(rest, sa)
		}
	}
	for _, sa := range rest {
		// Rekeyed or redundant SAs hold no announced children, but be sure.
		for _, c := range sa.children {
			r.childDown(c, reason)
		}
		sa.children = nil
		r.removeSA(sa, "")
	}
	for _, sa := range up {
		r.removeSA(sa, reason)
	}
	r.stopDPD()
}
