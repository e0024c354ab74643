package v1

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Our own rekeys (Config.RekeyMargin > 0), and those the operator forces
// (Rekey).
//
// IPsec SAs: at lifetime − (RekeyMargin + fuzz) (rekeyAfter) a Quick Mode
// of ours with the same selectors runs on the newest ISAKMP SA (a Main Mode
// first if there is none). Once it is done the new SA is announced
// (ChildUp); after rekeyGrace, so packets still in flight on the old SA
// are decrypted, we send a DELETE for the old one (our inbound SPI) and
// report it down (ChildDown "rekeyed").
//
// ISAKMP SAs: re-authentication, a new Main Mode while the old SA lives
// (IKEUp again when it is done; no INITIAL_CONTACT, so the peer keeps the
// IPsec SAs, which in IKEv1 do not belong to an ISAKMP SA), then a DELETE
// of the old ISAKMP SA. No child events: the IPsec SAs stay as they are.
//
// Collisions. IKEv1 has no rule for both sides rekeying the same IPsec SA
// at once (RFC 7296 §2.8.1 is IKEv2's): each Quick Mode completes, and two
// new SA pairs replace the old one. vpgw settles it the way RFC 7296 does,
// deterministically on both sides: of the two new pairs, the one whose
// Quick Mode carried the lowest of the four nonces is redundant, and vpgw
// deletes it after rekeyGrace (DELETE, ChildDown "rekey collision
// resolved"), whoever initiated it; the other one is kept. Both pairs stay
// installed until then, so no packet is lost. A vpgw peer applies the same
// rule, so both delete the same pair and exactly one survives. A peer that
// does not resolve collisions (strongSwan keeps both) receives our DELETE
// for the redundant pair and removes its half, keeping the survivor too; if
// it deletes a pair itself, we follow its DELETE.
//
// A Quick Mode of the peer is a rekey of the oldest live IPsec SA with the
// same selectors that the peer has not rekeyed yet (peerRekeyTarget): the
// SA we are rekeying ourselves, if we are, which makes the collision.

const (
	// rekeyGrace is how long a replaced (or redundant) IPsec SA stays
	// installed before we delete it.
	rekeyGrace = 2 * time.Second
	// rekeyRetryDelay is how long we wait to try a rekey again after it
	// failed.
	rekeyRetryDelay = 10 * time.Second
)

// rekeyAfter is when to rekey an SA of the given lifetime:
//
//	lifetime − (RekeyMargin + random(0 … RekeyMargin × RekeyFuzz / 100))
//
// with the randomness from the injected source; at least a tenth of the
// lifetime.
func (r *Responder) rekeyAfter(lifetime time.Duration) time.Duration {
	margin := r.cfg.RekeyMargin
	if fuzz := margin * time.Duration(max(r.cfg.RekeyFuzz, 0)) / 100; fuzz > 0 {
		var b [8]byte
		if _, err := io.ReadFull(r.rand, b[:]); err == nil {
			margin += time.Duration(binary.BigEndian.Uint64(b[:]) % uint64(fuzz+1))
		}
	}
	return max(lifetime-margin, lifetime/10)
}

// armChildRekey schedules our rekey of a new IPsec SA.
func (r *Responder) armChildRekey(c *childSA) {
	if r.cfg.RekeyMargin <= 0 || c.lifetime <= 0 {
		return
	}
	r.scheduleChildRekey(c, r.rekeyAfter(c.lifetime))
}

func (r *Responder) scheduleChildRekey(c *childSA, d time.Duration) {
	stopTimer(&c.rekeyTimer)
	c.rekeyTimer = r.afterFunc(d, func() {
		c.rekeyTimer = nil
		if err := r.rekeyChild(c); err != nil {
			r.log.Warn("IPsec SA rekey not started", "child", c.String(), "err", err)
		}
	})
}

// rekeyChild starts our rekey of c on the newest ISAKMP SA, or, without
// one, a Main Mode after which the rekey runs.
func (r *Responder) rekeyChild(c *childSA) error {
	if r.children[c.inSPI] != c || c.rekeyed || c.redundant {
		return errors.New("ikev1: IPsec SA " + c.String() + " is gone or already replaced")
	}
	if c.ourRekey != nil {
		return errors.New("ikev1: a rekey of IPsec SA " + c.String() + " is already in progress")
	}
	sa := r.newestEstablished()
	if sa == nil {
		c.rekeyWanted = true
		r.log.Info("IPsec SA rekey due without an ISAKMP SA: initiating Main Mode first", "child", c.String())
		if r.conn.mm != nil {
			return nil
		}
		return r.startMainMode(nil)
	}
	return r.startQuickMode(sa, c)
}

// runPendingRekeys starts the rekeys that waited for an ISAKMP SA.
func (r *Responder) runPendingRekeys() {
	for _, c := range r.children {
		if c.rekeyWanted {
			c.rekeyWanted = false
			if err := r.rekeyChild(c); err != nil {
				r.log.Warn("IPsec SA rekey not started", "child", c.String(), "err", err)
			}
		}
	}
}

// armReauth schedules our re-authentication of a new ISAKMP SA.
func (r *Responder) armReauth(sa *isakmpSA) {
	if r.cfg.RekeyMargin <= 0 || sa.suite.Lifetime <= 0 {
		return
	}
	r.scheduleReauth(sa, r.rekeyAfter(sa.suite.Lifetime))
}

func (r *Responder) scheduleReauth(sa *isakmpSA, d time.Duration) {
	stopTimer(&sa.rekeyTimer)
	sa.rekeyTimer = r.afterFunc(d, func() {
		sa.rekeyTimer = nil
		if r.sas[sa.cookies()] != sa || sa.state != p1Established {
			return
		}
		if r.newestEstablished() != sa {
			return // the peer re-authenticated already
		}
		if r.conn.mm != nil {
			r.scheduleReauth(sa, rekeyRetryDelay) // ours is busy
			return
		}
		if err := r.startMainMode(sa); err != nil {
			r.log.Warn("ISAKMP SA re-authentication not started", "sa", sa.String(), "err", err)
		}
	})
}

// finishReauth deletes the ISAKMP SA our re-authentication replaced.
func (r *Responder) finishReauth(old, nsa *isakmpSA) {
	if r.sas[old.cookies()] != old || old.state != p1Established {
		return
	}
	r.log.Info(fmt.Sprintf("ISAKMP SA re-authenticated by us: %s replaces %s, deleting the old one (%d IPsec SAs kept)",
		nsa, old, len(r.children)), "sa", old.String())
	r.sendDelete(old, deleteISAKMP(old))
	r.removeSA(old, "")
}

// Rekey rekeys now, as the operator asks: the newest IPsec SA with a new
// Quick Mode, or with ikeSA the newest ISAKMP SA with a new Main Mode
// (re-authentication). It fails when nothing is established to rekey or a
// rekey of it is already running; the outcome is reported through events
// and logs.
func (r *Responder) Rekey(ikeSA bool) error {
	r.mu.Lock()
	defer r.unlockAndFlush()
	if r.closed {
		return errors.New("ikev1: responder closed")
	}
	if ikeSA {
		sa := r.newestEstablished()
		if sa == nil {
			return errors.New("ikev1: no established ISAKMP SA to re-authenticate")
		}
		if r.conn.mm != nil {
			return errors.New("ikev1: a Main Mode of ours is already in progress")
		}
		r.log.Info("operator asked for re-authentication of the ISAKMP SA", "sa", sa.String())
		return r.startMainMode(sa)
	}
	var newest *childSA
	for _, c := range r.children {
		if c.rekeyed || c.redundant {
			continue
		}
		if newest == nil || c.created.After(newest.created) || (c.created.Equal(newest.created) && c.inSPI > newest.inSPI) {
			newest = c
		}
	}
	if newest == nil {
		return errors.New("ikev1: no established IPsec SA to rekey")
	}
	r.log.Info("operator asked for a rekey of the IPsec SA", "child", newest.String())
	return r.rekeyChild(newest)
}

// peerRekeyTarget is the IPsec SA a Quick Mode of the peer replaces: the
// oldest live one with the same selectors that the peer has not rekeyed
// already and that is not itself the new SA of our rekey of another live
// one (that one is the target: a collision), nil if there is none (a new
// SA, not a rekey).
func (r *Responder) peerRekeyTarget(c *childSA) *childSA {
	var target *childSA
	for _, o := range r.children {
		if o == c || o.redundant || o.localTS != c.localTS || o.remoteTS != c.remoteTS {
			continue
		}
		skip := false
		for _, s := range o.successors {
			skip = skip || !s.byUs
		}
		for _, p := range r.children {
			skip = skip || (p != o && slices.Contains(p.successors, o))
		}
		if skip {
			continue
		}
		if target == nil || o.created.Before(target.created) || (o.created.Equal(target.created) && o.inSPI < target.inSPI) {
			target = o
		}
	}
	return target
}

// settleCollision resolves a rekey collision on old once both new pairs
// exist (see the top of this file): the pair whose Quick Mode had the
// lowest nonce is redundant and deleted after the grace.
func (r *Responder) settleCollision(old *childSA) {
	var live []*childSA
	for _, s := range old.successors {
		if r.children[s.inSPI] == s && !s.redundant {
			live = append(live, s)
		}
	}
	if len(live) < 2 {
		return
	}
	keep := live[0]
	for _, s := range live[1:] {
		if bytes.Compare(lowNonce(s), lowNonce(keep)) > 0 {
			keep = s
		}
	}
	for _, s := range live {
		if s == keep {
			continue
		}
		s.redundant = true
		s.rekeyWanted = false
		stopTimer(&s.rekeyTimer)
		r.log.Info(fmt.Sprintf("rekey collision resolved: IPsec SA %s was rekeyed by both sides; keeping %s (initiated by %s), deleting %s (initiated by %s) in %v",
			old, keep, initiatorName(keep), s, initiatorName(s), rekeyGrace))
		r.deleteLater(s, "rekey collision resolved")
	}
}

// lowNonce is the lower of the two nonces of the Quick Mode that made c.
func lowNonce(c *childSA) []byte {
	if bytes.Compare(c.ni, c.nr) < 0 {
		return c.ni
	}
	return c.nr
}

func initiatorName(c *childSA) string {
	if c.byUs {
		return "us"
	}
	return "the peer"
}

// deleteLater deletes c after rekeyGrace: a DELETE for our inbound SPI on
// the newest ISAKMP SA, then ChildDown with reason.
func (r *Responder) deleteLater(c *childSA, reason string) {
	if c.deleteTimer != nil {
		return
	}
	stopTimer(&c.rekeyTimer)
	c.deleteTimer = r.afterFunc(rekeyGrace, func() {
		c.deleteTimer = nil
		if r.children[c.inSPI] != c {
			return // the peer deleted it first
		}
		if sa := r.newestEstablished(); sa != nil {
			r.sendDelete(sa, deleteESP(c.inSPI))
		}
		r.log.Info(fmt.Sprintf("IPsec SA %s deleted: %s", c, reason))
		r.removeChild(c, reason)
		r.maybeDown(reason)
	})
}
