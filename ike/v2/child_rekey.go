package v2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

// CHILD_SA rekeying by us (RFC 7296 §1.3.3, §2.8): CREATE_CHILD_SA with
// REKEY_SA naming the old child, a fresh SPI, nonce and, when the phase 2
// policy has DH groups, a PFS KE of its first group.
//
// What the gateway sees (it installs on ChildUp, making the new outbound SA
// current, and removes on ChildDown):
//
//	our rekey:      ChildUp(new) … rekeyDeleteDelay … DELETE(old) sent;
//	                ChildDown(old, "rekeyed") when the peer confirms
//	peer's rekey:   ChildUp(new) when we answer; ChildDown(old) on its DELETE
//
// so the old inbound SA keeps accepting while the peer switches over.
//
// Collisions (§2.8.1): both sides rekey the same child at once and each
// answers the other, making two new children. Once both exchanges are done
// the one with the lowest of the four nonces is redundant; its initiator
// deletes it, and the survivor's initiator deletes the old child. Events
// keep the survivor as the last ChildUp and never announce a redundant
// child that is known to be redundant when it is created:
//
//	peer's request first:  ChildUp(peer's) … our answer arrives:
//	    we win:  ChildUp(ours); the peer deletes its (ChildDown on its DELETE)
//	    we lose: ours never announced; DELETE(ours) after rekeyDeleteDelay
//	our answer first:      ChildUp(ours) … the peer's request arrives:
//	    we win:  the peer's never announced
//	    we lose: ChildUp(peer's); DELETE(ours) after rekeyDeleteDelay,
//	             ChildDown(ours) when the peer confirms
//
// (a redundant child is deleted after the same grace as an old one: the
// peer learns that its own child won only from our answer, and must not
// lose its current outbound SA before that.)

// rekeyDeleteDelay is how long the old CHILD_SA stays after we installed
// its replacement, so packets the peer sends on it meanwhile still arrive.
const rekeyDeleteDelay = 2 * time.Second

// childRekey is one rekey exchange of a CHILD_SA, ours or the peer's.
type childRekey struct {
	ni, nr  []byte
	child   *childSA // the new child, once the exchange is done
	done    bool
	req     *outReq // ours
	retries int
}

// rekeyGroup is the PFS group our CHILD_SA rekey guesses for its KE
// payload: the one old was made with, else the IKE SA's (peers configure
// both phases alike, as AWS's own configurations do), if phase 2 allows
// it; else the first of phase 2's groups. A wrong guess costs a round trip
// and a DH computation (INVALID_KE_PAYLOAD).
func (r *Responder) rekeyGroup(sa *ikeSA, old *childSA) suite.DHGroup {
	allowed := func(g suite.DHGroup) bool {
		return g != 0 && ike.SupportedGroup(g) && slices.Contains(r.cfg.ESP.DHGroups, g)
	}
	for _, g := range []suite.DHGroup{old.pfs, sa.suite.DH} {
		if allowed(g) {
			return g
		}
	}
	for _, g := range r.cfg.ESP.DHGroups {
		if ike.SupportedGroup(g) {
			return g
		}
	}
	return 0
}

// childRekeyDue runs on a child's rekey timer.
func (r *Responder) childRekeyDue(c *childSA) {
	owner := r.ownerOf(c)
	if owner == nil || c.rekeyed || c.redundant || c.deleting || c.ourRekey != nil {
		return
	}
	if owner.state != saEstablished {
		// Its IKE SA is in the middle of a rekey: try again shortly.
		c.rekeyTimer = r.afterFunc(rekeyRetryDelay, func() { c.rekeyTimer = nil; r.childRekeyDue(c) })
		return
	}
	if err := r.startChildRekey(owner, c); err != nil {
		r.log.Warn("CHILD_SA rekey not started", "err", err, "child", c.String())
	}
}

func (r *Responder) startChildRekey(sa *ikeSA, old *childSA) error {
	if old.ourRekey != nil {
		return fmt.Errorf("ikev2: CHILD_SA %s: rekey already in progress", old)
	}
	if old.rekeyed || old.redundant || old.deleting {
		return fmt.Errorf("ikev2: CHILD_SA %s is already replaced", old)
	}
	group := r.rekeyGroup(sa, old)
	if err := r.sendChildRekey(sa, old, &childRekey{}, group); err != nil {
		return err
	}
	stopTimer(&old.rekeyTimer)
	r.log.Info("CHILD_SA rekey started", "child", old.String(), "pfs", groupName(group), "spi", sa.String())
	return nil
}

func (r *Responder) sendChildRekey(sa *ikeSA, old *childSA, rk *childRekey, group suite.DHGroup) error {
	inSPI, err := r.newInboundSPI()
	if err != nil {
		return err
	}
	off := &ourOffer{inSPI: inSPI, group: group, ni: make([]byte, nonceLen), tsi: old.localTS, tsr: old.remoteTS}
	if _, err := io.ReadFull(r.rand, off.ni); err != nil {
		return err
	}
	ps := []message.Payload{
		&message.Notify{Protocol: message.ProtocolESP, SPI: binary.BigEndian.AppendUint32(nil, old.inSPI), NotifyType: message.REKEY_SA},
		&message.SA{Proposals: ike.V2ESPProposals(r.cfg.ESP, inSPI, group)},
		&message.Nonce{Data: off.ni},
	}
	if group != 0 {
		if off.dh, err = ike.NewDH(group, r.rand); err != nil {
			return err
		}
		ps = append(ps, &message.KE{Group: uint16(group), Data: off.dh.Public()})
	}
	ps = append(ps,
		&message.TrafficSelectors{Initiator: true, Selectors: off.tsi},
		&message.TrafficSelectors{Initiator: false, Selectors: off.tsr})
	rk.ni = off.ni
	old.ourRekey = rk
	rk.req = r.request(sa, &outReq{
		exchange: message.CREATE_CHILD_SA, what: "CREATE_CHILD_SA (CHILD_SA rekey)", payloads: ps, movable: true,
		onResponse: func(sa *ikeSA, _ message.Header, ps []message.Payload) { r.childRekeyResponse(sa, old, rk, off, ps) },
	})
	return nil
}

// childRekeyResponse completes our rekey of old with the peer's answer on sa.
func (r *Responder) childRekeyResponse(sa *ikeSA, old *childSA, rk *childRekey, off *ourOffer, ps []message.Payload) {
	if old.ourRekey != rk {
		return
	}
	owner := r.ownerOf(old)
	if owner == nil {
		owner = r.newestEstablished()
	}
	if n := firstNotifyError(ps); n != nil || owner == nil {
		old.ourRekey = nil
		if n == nil {
			return // the old child and its IKE SA are gone
		}
		r.childRekeyRefused(owner, old, rk, n)
		return
	}
	nr, _ := find[*message.Nonce](ps)
	if nr == nil || len(nr.Data) < 16 || len(nr.Data) > 256 {
		old.ourRekey = nil
		r.log.Warn("CHILD_SA rekey: answer without nonce", "child", old.String(), "spi", sa.String())
		return
	}
	nc, reason := r.takeChild(sa, owner, off, ps, nil, off.ni, nr.Data, "CREATE_CHILD_SA")
	if nc == nil {
		old.ourRekey = nil
		r.childRefused(owner, off, "CHILD_SA rekey: "+reason)
		return
	}
	rk.nr, rk.child, rk.done = bytes.Clone(nr.Data), nc, true
	if old.peerRekey != nil {
		r.resolveChildCollision(old)
		return
	}
	old.rekeyed = true
	r.log.Info(fmt.Sprintf("CHILD_SA rekey: %s replaced by %s %s", old, nc, espSuiteName(nc.esp, nc.pfs)), "spi", owner.String())
	r.announce(nc)
	r.scheduleChildDelete(old, "rekeyed")
}

// childRekeyRefused handles an error answer to our CHILD_SA rekey.
func (r *Responder) childRekeyRefused(owner *ikeSA, old *childSA, rk *childRekey, n *message.Notify) {
	if n.NotifyType == message.INVALID_KE_PAYLOAD && len(n.Data) == 2 && rk.retries < maxInitRetries && old.peerRekey == nil && owner != nil {
		g := suite.DHGroup(binary.BigEndian.Uint16(n.Data))
		if slices.Contains(r.cfg.ESP.DHGroups, g) && ike.SupportedGroup(g) {
			r.log.Info("CHILD_SA rekey: peer wants another PFS group, retrying", "want", groupName(g), "child", old.String())
			if err := r.sendChildRekey(owner, old, &childRekey{retries: rk.retries + 1}, g); err == nil {
				return
			}
		}
	}
	if old.peerRekey != nil {
		// Collision where the peer refused ours: its rekey stands, and it
		// deletes the old child.
		r.log.Info(fmt.Sprintf("rekey collision resolved: peer answered %s, keeping the peer's %s", n.NotifyType, old.peerRekey.child), "old", old.String())
		r.announce(old.peerRekey.child)
		return
	}
	r.log.Warn(fmt.Sprintf("CHILD_SA rekey refused by peer: %s; retrying in %v", n.NotifyType, rekeyRetryDelay), "child", old.String())
	switch n.NotifyType {
	case message.NO_PROPOSAL_CHOSEN, message.TS_UNACCEPTABLE, message.INVALID_KE_PAYLOAD:
		r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: "CHILD_SA rekey: customer gateway answered " + n.NotifyType.String()})
	}
	if n.NotifyType == message.CHILD_SA_NOT_FOUND {
		return // the peer has no such child any more; its expiry will clean up
	}
	stopTimer(&old.rekeyTimer)
	old.rekeyTimer = r.afterFunc(rekeyRetryDelay, func() { old.rekeyTimer = nil; r.childRekeyDue(old) })
}

// peerRekeyedChild announces the child nc the peer just created to
// replace old, unless that lost a collision with our own rekey of old.
func (r *Responder) peerRekeyedChild(sa *ikeSA, old, nc *childSA, ni, nr []byte) {
	old.peerRekey = &childRekey{ni: bytes.Clone(ni), nr: nr, child: nc, done: true}
	rk := old.ourRekey
	switch {
	case rk != nil && r.unqueue(sa, rk.req):
		// Ours was not sent yet: drop it, the peer's does the job.
		old.ourRekey = nil
		r.announce(nc)
	case rk == nil:
		r.announce(nc)
	case !rk.done:
		// The peer may send on its new child as soon as it has our answer.
		r.log.Info("CHILD_SA rekey collision: the peer rekeys it too; resolving when our exchange completes",
			"old", old.String(), "peer_new", nc.String())
		r.announce(nc)
	default:
		r.resolveChildCollision(old)
	}
}

// resolveChildCollision keeps one of the two children that replaced old.
func (r *Responder) resolveChildCollision(old *childSA) {
	ours, theirs := old.ourRekey, old.peerRekey
	old.rekeyed = true
	owner := r.ownerOf(ours.child)
	if oursLoses(ours.ni, ours.nr, theirs.ni, theirs.nr) {
		r.log.Info(fmt.Sprintf("rekey collision resolved: CHILD_SA %s replaced by the peer's %s; deleting our redundant %s",
			old, theirs.child, ours.child))
		r.announce(theirs.child)
		ours.child.redundant = true
		stopTimer(&old.deleteTimer) // the peer deletes old
		if owner != nil {
			// Not at once: the peer switches to its child only when it has
			// our answer, which may still be on its way (or queued behind
			// this very DELETE).
			r.scheduleChildDelete(ours.child, "rekey collision: redundant")
		}
		return
	}
	r.log.Info(fmt.Sprintf("rekey collision resolved: CHILD_SA %s replaced by our %s; the peer deletes its redundant %s",
		old, ours.child, theirs.child))
	theirs.child.redundant = true
	theirs.child.stopTimers() // expiry kept below, in case the peer never deletes it
	if r.cfg.ChildLifetime > 0 {
		c := theirs.child
		c.timer = r.afterFunc(halfOpenTimeout, func() {
			if o := r.ownerOf(c); o != nil {
				r.deleteChild(o, c, "rekey collision: redundant")
			}
		})
	}
	r.announce(ours.child)
	r.log.Info(fmt.Sprintf("CHILD_SA rekey: %s replaced by %s %s", old, ours.child, espSuiteName(ours.child.esp, ours.child.pfs)))
	r.scheduleChildDelete(old, "rekeyed")
}

// scheduleChildDelete deletes c (replaced, or redundant after a collision)
// rekeyDeleteDelay from now, so that its inbound SA still takes what the
// peer sent on it before switching.
func (r *Responder) scheduleChildDelete(c *childSA, reason string) {
	stopTimer(&c.rekeyTimer)
	if c.deleteTimer != nil {
		return
	}
	c.deleteTimer = r.afterFunc(rekeyDeleteDelay, func() {
		c.deleteTimer = nil
		if owner := r.ownerOf(c); owner != nil && !c.deleting {
			r.deleteChild(owner, c, reason)
		}
	})
}

// deleteChild sends an INFORMATIONAL DELETE for c and reports it down when
// the peer confirms (or the request fails): until then its inbound SA
// still accepts what the peer sent before it switched.
func (r *Responder) deleteChild(sa *ikeSA, c *childSA, reason string) {
	if c.deleting {
		return
	}
	c.deleting = true
	stopTimer(&c.rekeyTimer)
	stopTimer(&c.deleteTimer)
	r.log.Debug("CHILD_SA delete sent", "child", c.String(), "reason", reason, "spi", sa.String())
	done := func() {
		if owner := r.ownerOf(c); owner != nil {
			delete(owner.children, c.inSPI)
			r.log.Info("CHILD_SA deleted: "+reason, "child", c.String(), "spi", owner.String())
			r.childDown(c, reason)
		}
	}
	r.request(sa, &outReq{
		exchange: message.INFORMATIONAL, what: "DELETE of CHILD_SA " + c.String(), movable: true,
		payloads:   []message.Payload{message.DeleteESP(c.inSPI)},
		onResponse: func(*ikeSA, message.Header, []message.Payload) { done() },
		onGiveUp: func(sa *ikeSA, q *outReq) {
			done()
			r.requestGaveUp(sa, q)
		},
	})
}
