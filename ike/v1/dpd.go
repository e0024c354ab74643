package v1

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
)

// Dead peer detection (RFC 3706). R-U-THERE and R-U-THERE-ACK are notifies
// in informational exchanges, SPI = CKY-I | CKY-R, data = a 32-bit sequence
// number. We answer the peer's R-U-THEREs always; we send our own only if
// the peer announced DPD and cfg.DPDDelay is set, and only when the tunnel
// has been idle (no authenticated IKE message and no inbound ESP) for
// DPDDelay. Unanswered, we repeat every DPDDelay; DPDTimeout after the last
// sign of life (AWS counts the idle time before the first R-U-THERE as part
// of the timeout) the peer is dead and Config.DPDAction applies: "clear"
// (the default) clears every SA of the tunnel (ChildDown each, IKEDown);
// "restart" does the same and initiates a new Main Mode at once (and keeps
// initiating until the tunnel is up again); "none" keeps the SAs, emits
// ike.PeerDead once and keeps probing every DPDDelay, so a peer that comes
// back is noticed. When we initiate Main Mode we announce DPD ourselves.

// dpdState is the tunnel's own DPD.
type dpdState struct {
	timer       ike.Timer
	seq         uint32    // last sequence number sent
	outstanding int       // R-U-THEREs sent since the last sign of life
	firstSeq    uint32    // the first of those
	since       time.Time // when the first of those went out
	dead        bool      // declared dead with dpd_timeout_action none
}

// answerDPD answers a peer's R-U-THERE with an ACK carrying its sequence.
func (r *Responder) answerDPD(sa *isakmpSA, n *isakmp.Notification) {
	seq, ok := n.DPDSequence()
	if !ok {
		r.log.Debug("R-U-THERE without a sequence number: ignored", "sa", sa.String())
		return
	}
	r.log.Debug("R-U-THERE answered", "seq", seq, "sa", sa.String())
	r.sendInfo(sa, isakmp.NewDPD(isakmp.R_U_THERE_ACK, sa.ckyI, sa.ckyR, seq))
}

// dpdAck accepts an ACK that matches one of our outstanding R-U-THEREs
// (RFC 3706 §5.5: the sequence number protects against replays).
func (r *Responder) dpdAck(sa *isakmpSA, n *isakmp.Notification) bool {
	seq, ok := n.DPDSequence()
	d := &r.dpd
	if !ok || d.outstanding == 0 || seq-d.firstSeq > d.seq-d.firstSeq {
		r.log.Debug("R-U-THERE-ACK does not match an outstanding R-U-THERE: ignored", "seq", seq, "sa", sa.String())
		return false
	}
	r.log.Debug("R-U-THERE-ACK received", "seq", seq, "sa", sa.String())
	d.outstanding = 0
	r.peerAlive()
	return true
}

// peerAlive notes a sign of life from a peer declared dead (action none).
func (r *Responder) peerAlive() {
	if r.dpd.dead {
		r.dpd.dead = false
		r.log.Info(fmt.Sprintf("DPD: peer %v alive again", r.cfg.Peer))
	}
}

// startDPD arms the idle check once the tunnel has an ISAKMP SA.
func (r *Responder) startDPD() {
	if r.cfg.DPDDelay <= 0 || r.dpd.timer != nil {
		return
	}
	if r.dpd.seq == 0 {
		// RFC 3706 §5.5: start at a random value (kept clear of wrapping soon).
		if b, err := r.randBytes(4); err == nil {
			r.dpd.seq = binary.BigEndian.Uint32(b) >> 1
		}
	}
	r.scheduleDPD(r.cfg.DPDDelay)
}

func (r *Responder) stopDPD() {
	if r.dpd.timer != nil {
		r.dpd.timer.Stop()
		r.dpd.timer = nil
	}
	r.dpd.outstanding = 0
	r.dpd.dead = false
}

func (r *Responder) scheduleDPD(d time.Duration) {
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
	sa := r.newestEstablished()
	if sa == nil || !r.up {
		r.stopDPD() // re-armed by the next Main Mode
		return
	}
	now := r.clock.Now()
	last := r.lastActivity()
	d := &r.dpd
	if d.outstanding > 0 && last.After(d.since) {
		d.outstanding = 0 // the peer spoke since we asked
		r.peerAlive()
	}
	if d.outstanding > 0 {
		silent, timeout := now.Sub(last), r.cfg.DPDTimeout
		if silent >= timeout {
			r.peerDead(sa, d.outstanding, silent)
			return
		}
		r.sendRUThere(sa)
		r.scheduleDPD(min(r.cfg.DPDDelay, timeout-silent))
		return
	}
	idle := now.Sub(last)
	if idle < r.cfg.DPDDelay {
		r.scheduleDPD(r.cfg.DPDDelay - idle)
		return
	}
	if !sa.peerDPD {
		r.scheduleDPD(r.cfg.DPDDelay) // the peer cannot answer; check again later
		return
	}
	d.firstSeq, d.since = d.seq+1, now
	r.sendRUThere(sa)
	r.scheduleDPD(min(r.cfg.DPDDelay, max(r.cfg.DPDTimeout-idle, time.Millisecond)))
}

func (r *Responder) sendRUThere(sa *isakmpSA) {
	r.dpd.seq++
	r.dpd.outstanding++
	r.log.Debug("R-U-THERE sent", "seq", r.dpd.seq, "outstanding", r.dpd.outstanding, "sa", sa.String())
	r.sendInfo(sa, isakmp.NewDPD(isakmp.R_U_THERE, sa.ckyI, sa.ckyR, r.dpd.seq))
}

// peerDead applies dpd_timeout_action.
func (r *Responder) peerDead(sa *isakmpSA, sent int, waited time.Duration) {
	reason := fmt.Sprintf("DPD timeout after %d retransmits", sent)
	head := fmt.Sprintf("peer %v dead: no answer to %d R-U-THERE in %v", r.cfg.Peer, sent, waited.Round(time.Second))
	switch r.cfg.DPDAction {
	case DPDActionNone:
		if !r.dpd.dead {
			r.dpd.dead = true
			r.log.Warn(fmt.Sprintf("%s; keeping %d IPsec SAs and probing on (dpd_timeout_action none)", head, len(r.children)))
			r.out.Emit(ike.PeerDead{Tunnel: r.cfg.Tunnel, Reason: reason})
		}
		r.sendRUThere(sa)
		r.scheduleDPD(r.cfg.DPDDelay)
	case DPDActionRestart:
		r.log.Warn(fmt.Sprintf("%s; clearing %d IPsec SAs and initiating again (dpd_timeout_action restart)", head, len(r.children)))
		r.clearAll(reason)
		r.conn.restartPending = true
		if err := r.startInitiation(); err != nil {
			r.log.Error("cannot initiate Main Mode", "err", err)
		}
	default:
		r.log.Warn(fmt.Sprintf("%s; clearing %d IPsec SAs", head, len(r.children)))
		r.clearAll(reason)
	}
}
