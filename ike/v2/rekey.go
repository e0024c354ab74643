package v2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

// IKE SA rekeying (RFC 7296 §1.3.2, §2.18): a CREATE_CHILD_SA whose SA
// payload proposes protocol IKE, on the old IKE SA. Whoever starts it
// becomes the original initiator of the new SA. The new SA takes over the
// CHILD_SAs (no child events: the ESP SAs do not change) and the old one is
// deleted by the rekey's initiator.
//
// Both sides may start at once (§2.8.2). Each answers the other's request,
// so two new IKE SAs exist; once both exchanges are done, the one whose
// exchange carried the lowest of the four nonces is redundant and is
// deleted by its initiator, and the initiator of the surviving one deletes
// the old SA. The children move only then, straight to the survivor.
//
// Our own rekeys run at lifetime − (RekeyMargin + fuzz) (rekeyAfter), or
// when the operator asks (Rekey). CHILD_SA rekeys are in child_rekey.go.

// rekeyRetryDelay is how long we wait to try a rekey again after the peer
// refused one (TEMPORARY_FAILURE, or the SA was busy).
const rekeyRetryDelay = 10 * time.Second

// ikeRekey is one rekey exchange of an IKE SA, ours or the peer's.
type ikeRekey struct {
	ni, nr  []byte
	nsa     *ikeSA // the new SA, once the exchange is done
	done    bool
	req     *outReq // ours: the request
	dh      ike.DH
	spi     uint64 // ours: our SPI of the new SA
	retries int
}

// rekeyAfter is when to rekey an SA of the given lifetime:
//
//	lifetime − (RekeyMargin + random(0 … RekeyMargin × RekeyFuzz / 100))
//
// with the randomness from the injected source; at least a tenth of the
// lifetime.
func (r *Responder) rekeyAfter(lifetime time.Duration) time.Duration {
	margin := r.cfg.RekeyMargin
	if fuzz := time.Duration(float64(margin) * float64(max(r.cfg.RekeyFuzz, 0)) / 100); fuzz > 0 {
		var b [8]byte
		if _, err := io.ReadFull(r.rand, b[:]); err == nil {
			frac := float64(binary.BigEndian.Uint64(b[:])>>11) / (1 << 53) // [0, 1)
			margin += time.Duration(math.Floor(frac * float64(fuzz+1)))    // uniform over [0, fuzz]
		}
	}
	return max(lifetime-margin, lifetime/10)
}

// Rekey rekeys now, as the operator asks: the newest CHILD_SA, or with
// rekeyIKE the newest IKE SA. It fails when there is nothing established to
// rekey or a rekey of it is already running; the outcome is reported
// through events and logs.
func (r *Responder) Rekey(rekeyIKE bool) error {
	r.mu.Lock()
	defer r.unlockAndFlush()
	if r.closed {
		return errors.New("ikev2: responder closed")
	}
	sa := r.newestEstablished()
	if sa == nil {
		return errors.New("ikev2: no established IKE SA to rekey")
	}
	if rekeyIKE {
		return r.startIKERekey(sa)
	}
	var newest *childSA
	var owner *ikeSA
	for _, s := range r.sas {
		if s.state != saEstablished {
			continue
		}
		for _, c := range s.children {
			if c.rekeyed || c.redundant || c.deleting {
				continue
			}
			if newest == nil || c.created.After(newest.created) || (c.created.Equal(newest.created) && c.inSPI > newest.inSPI) {
				newest, owner = c, s
			}
		}
	}
	if newest == nil {
		return errors.New("ikev2: no established CHILD_SA to rekey")
	}
	return r.startChildRekey(owner, newest)
}

// ikeRekeyDue runs on an IKE SA's rekey timer.
func (r *Responder) ikeRekeyDue(sa *ikeSA) {
	if r.sas[sa.ourSPI()] != sa || sa.state != saEstablished || sa.ourRekey != nil {
		return
	}
	if err := r.startIKERekey(sa); err != nil {
		r.log.Warn("IKE_SA rekey not started", "err", err, "spi", sa.String())
	}
}

// startIKERekey sends CREATE_CHILD_SA with a new IKE SA proposal, a nonce
// and a KE of the current SA's group.
func (r *Responder) startIKERekey(sa *ikeSA) error {
	if sa.ourRekey != nil {
		return fmt.Errorf("ikev2: IKE_SA %s: rekey already in progress", sa)
	}
	if sa.peerRekey != nil || sa.state != saEstablished {
		return fmt.Errorf("ikev2: IKE_SA %s is being rekeyed by the peer", sa)
	}
	rk := &ikeRekey{}
	if err := r.sendIKERekey(sa, rk, sa.suite.DH); err != nil {
		return err
	}
	r.log.Info("IKE_SA rekey started", "spi", sa.String(), "suite", ikeSuiteName(sa.suite))
	return nil
}

func (r *Responder) sendIKERekey(sa *ikeSA, rk *ikeRekey, group suite.DHGroup) error {
	spi, err := r.randUint64(func(v uint64) bool { return r.sas[v] != nil })
	if err != nil {
		return err
	}
	dh, err := ike.NewDH(group, r.rand)
	if err != nil {
		return err
	}
	ni := make([]byte, nonceLen)
	if _, err := io.ReadFull(r.rand, ni); err != nil {
		return err
	}
	props := ike.V2IKEProposals(r.cfg.IKE, group)
	for i := range props {
		props[i].SPI = binary.BigEndian.AppendUint64(nil, spi)
	}
	rk.spi, rk.dh, rk.ni = spi, dh, ni
	sa.ourRekey = rk
	rk.req = r.request(sa, &outReq{
		exchange: message.CREATE_CHILD_SA, what: "CREATE_CHILD_SA (IKE_SA rekey)",
		payloads: []message.Payload{
			&message.SA{Proposals: props},
			&message.Nonce{Data: ni},
			&message.KE{Group: uint16(group), Data: dh.Public()},
		},
		onResponse: func(sa *ikeSA, _ message.Header, ps []message.Payload) { r.ikeRekeyResponse(sa, rk, ps) },
	})
	return nil
}

// ikeRekeyResponse completes our IKE SA rekey on old.
func (r *Responder) ikeRekeyResponse(old *ikeSA, rk *ikeRekey, ps []message.Payload) {
	if old.ourRekey != rk {
		return // abandoned
	}
	if n := firstNotifyError(ps); n != nil {
		old.ourRekey = nil
		if n.NotifyType == message.INVALID_KE_PAYLOAD && len(n.Data) == 2 && rk.retries < maxInitRetries {
			g := suite.DHGroup(binary.BigEndian.Uint16(n.Data))
			if slices.Contains(r.cfg.IKE.DHGroups, g) && ike.SupportedGroup(g) && old.peerRekey == nil {
				r.log.Info("IKE_SA rekey: peer wants another DH group, retrying", "want", groupName(g), "spi", old.String())
				next := &ikeRekey{retries: rk.retries + 1}
				if err := r.sendIKERekey(old, next, g); err == nil {
					return
				}
			}
		}
		if old.peerRekey != nil {
			// Collision: ours failed, the peer's stands; the peer deletes old.
			r.log.Info(fmt.Sprintf("IKE_SA rekey collision resolved: peer answered %s, keeping the peer's new IKE_SA %s", n.NotifyType, old.peerRekey.nsa), "old", old.String())
			r.finishIKERekey(old, old.peerRekey.nsa, false)
			return
		}
		r.log.Warn(fmt.Sprintf("IKE_SA rekey refused by peer: %s; retrying in %v", n.NotifyType, rekeyRetryDelay), "spi", old.String())
		if n.NotifyType == message.NO_PROPOSAL_CHOSEN {
			r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: "IKE SA rekey: customer gateway answered NO_PROPOSAL_CHOSEN"})
		}
		stopTimer(&old.rekeyTimer)
		old.rekeyTimer = r.afterFunc(rekeyRetryDelay, func() { old.rekeyTimer = nil; r.ikeRekeyDue(old) })
		return
	}
	nsa, err := r.takeRekeyedIKE(old, rk, ps)
	if err != nil {
		old.ourRekey = nil
		r.log.Warn("IKE_SA rekey: unusable answer from peer", "err", err, "spi", old.String())
		return
	}
	if old.peerRekey != nil {
		r.resolveIKECollision(old)
		return
	}
	r.log.Info(fmt.Sprintf("IKE_SA rekeyed: %s, %d CHILD_SAs moved", ikeSuiteName(nsa.suite), len(old.children)),
		"old", old.String(), "new", nsa.String())
	r.finishIKERekey(old, nsa, true)
}

// takeRekeyedIKE builds the new IKE SA from the peer's answer to our rekey.
func (r *Responder) takeRekeyedIKE(old *ikeSA, rk *ikeRekey, ps []message.Payload) (*ikeSA, error) {
	sap, _ := find[*message.SA](ps)
	nonce, _ := find[*message.Nonce](ps)
	ke, _ := find[*message.KE](ps)
	if sap == nil || nonce == nil || ke == nil || len(sap.Proposals) != 1 || len(sap.Proposals[0].SPI) != 8 ||
		len(nonce.Data) < 16 || len(nonce.Data) > 256 {
		return nil, errors.New("answer lacks SA, Nonce or KE")
	}
	_, st, err := ike.SelectIKE(sap.Proposals, r.cfg.IKE)
	if err != nil {
		return nil, err
	}
	if st.DH != rk.dh.Group() || suite.DHGroup(ke.Group) != st.DH {
		return nil, fmt.Errorf("peer chose DH group %s for a KE of %s", groupName(st.DH), groupName(rk.dh.Group()))
	}
	spir := binary.BigEndian.Uint64(sap.Proposals[0].SPI)
	if spir == 0 {
		return nil, errors.New("zero SPI")
	}
	gir, err := rk.dh.SharedSecret(ke.Data)
	if err != nil {
		return nil, err
	}
	defer clear(gir)
	keys, err := ike.DeriveRekeyedIKEKeys(old.suite.PRF, old.keys.SKd, st, rk.ni, nonce.Data, gir, rk.spi, spir)
	if err != nil {
		return nil, err
	}
	nsa := &ikeSA{
		spii: rk.spi, spir: spir, initiator: true, state: saEstablished, suite: st, keys: keys,
		local: old.local, remote: old.remote, natt: old.natt,
		initReq: old.initReq, initResp: old.initResp,
		peerID: old.peerID, established: r.clock.Now(),
		children: map[uint32]*childSA{},
	}
	if err := nsa.newProtectors(); err != nil {
		return nil, err
	}
	rk.nr, rk.nsa, rk.done = bytes.Clone(nonce.Data), nsa, true
	r.sas[nsa.spii] = nsa
	return nsa, nil
}

// finishIKERekey moves old's children (and unsent CHILD_SA requests) to
// nsa. The old SA then waits to be deleted: by us (weDelete) or the peer.
func (r *Responder) finishIKERekey(old, nsa *ikeSA, weDelete bool) {
	for in, c := range old.children {
		nsa.children[in] = c
	}
	old.children = map[uint32]*childSA{}
	old.state = saRekeyed
	stopTimer(&old.rekeyTimer)
	r.moveQueued(old, nsa)
	r.startIKELifetime(nsa)
	if weDelete {
		r.deleteIKE(old)
	} else {
		r.startHalfOpenTimer(old) // gone for good if the peer never deletes it
	}
}

// deleteIKE deletes an IKE SA that holds no children any more (replaced
// or redundant): quietly, once the peer answers or gives up.
func (r *Responder) deleteIKE(sa *ikeSA) {
	sa.state, sa.deleting = saRekeyed, true
	stopTimer(&sa.timer)
	stopTimer(&sa.rekeyTimer)
	gone := func(sa *ikeSA, _ *outReq) {
		r.log.Debug("IKE_SA deleted after rekey", "spi", sa.String())
		r.removeSA(sa, "")
	}
	r.request(sa, &outReq{
		exchange: message.INFORMATIONAL, what: "DELETE of a replaced IKE_SA",
		payloads:   []message.Payload{&message.Delete{Protocol: message.ProtocolIKE}},
		onResponse: func(sa *ikeSA, _ message.Header, _ []message.Payload) { gone(sa, nil) },
		onGiveUp:   gone,
	})
}

// resolveIKECollision picks the survivor of two simultaneous IKE SA rekeys
// of old, once both exchanges are done.
func (r *Responder) resolveIKECollision(old *ikeSA) {
	ours, theirs := old.ourRekey, old.peerRekey
	old.ourRekey, old.peerRekey = nil, nil
	if oursLoses(ours.ni, ours.nr, theirs.ni, theirs.nr) {
		r.log.Info(fmt.Sprintf("rekey collision resolved: IKE_SA %s replaced by the peer's %s; deleting our redundant %s",
			old, theirs.nsa, ours.nsa))
		r.finishIKERekey(old, theirs.nsa, false)
		r.deleteIKE(ours.nsa)
		return
	}
	r.log.Info(fmt.Sprintf("rekey collision resolved: IKE_SA %s replaced by our %s; the peer deletes its redundant %s",
		old, ours.nsa, theirs.nsa))
	theirs.nsa.state = saRekeyed
	r.startHalfOpenTimer(theirs.nsa)
	r.finishIKERekey(old, ours.nsa, true)
}

// oursLoses reports whether our exchange (nonces ni, nr) holds the lowest
// of the four nonces of two colliding rekeys (RFC 7296 §2.8.1, §2.8.2).
func oursLoses(ourNi, ourNr, peerNi, peerNr []byte) bool {
	lowest := func(a, b []byte) []byte {
		if bytes.Compare(a, b) < 0 {
			return a
		}
		return b
	}
	return bytes.Compare(lowest(ourNi, ourNr), lowest(peerNi, peerNr)) < 0
}

// rekeyIKE answers the peer's rekey of old (a CREATE_CHILD_SA proposing
// protocol IKE).
func (r *Responder) rekeyIKE(old *ikeSA, req *request, sap *message.SA, ni []byte) []message.Payload {
	var keGroup suite.DHGroup
	if ke, ok := find[*message.KE](req.payloads); ok {
		keGroup = suite.DHGroup(ke.Group)
	}
	prop, st, err := ike.SelectIKEForKE(sap.Proposals, r.cfg.IKE, keGroup)
	if err != nil {
		reason := "IKE SA rekey: " + err.Error()
		r.log.Warn(reason, "spi", old.String())
		r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: reason})
		return errorNotify(message.NO_PROPOSAL_CHOSEN, nil)
	}
	if len(prop.SPI) != 8 || binary.BigEndian.Uint64(prop.SPI) == 0 {
		return errorNotify(message.INVALID_SYNTAX, nil)
	}
	spii := binary.BigEndian.Uint64(prop.SPI)
	ke, _ := find[*message.KE](req.payloads)
	if ke == nil || suite.DHGroup(ke.Group) != st.DH {
		r.log.Info("IKE SA rekey: asking peer for another DH group", "want", groupName(st.DH), "spi", old.String())
		return errorNotify(message.INVALID_KE_PAYLOAD, binary.BigEndian.AppendUint16(nil, uint16(st.DH)))
	}
	if old.peerRekey != nil {
		return errorNotify(message.TEMPORARY_FAILURE, nil) // one at a time
	}
	dh, err := ike.NewDH(st.DH, r.rand)
	if err != nil {
		return errorNotify(message.NO_PROPOSAL_CHOSEN, nil)
	}
	gir, err := dh.SharedSecret(ke.Data)
	if err != nil {
		r.log.Warn("IKE SA rekey: bad key exchange from peer", "err", err, "spi", old.String())
		return errorNotify(message.INVALID_SYNTAX, nil)
	}
	defer clear(gir)
	nr := make([]byte, nonceLen)
	if _, err := io.ReadFull(r.rand, nr); err != nil {
		return errorNotify(message.TEMPORARY_FAILURE, nil)
	}
	spir, err := r.randUint64(func(v uint64) bool { return r.sas[v] != nil })
	if err != nil {
		return errorNotify(message.TEMPORARY_FAILURE, nil)
	}
	keys, err := ike.DeriveRekeyedIKEKeys(old.suite.PRF, old.keys.SKd, st, ni, nr, gir, spii, spir)
	if err != nil {
		r.log.Error("IKE SA rekey: key derivation failed", "err", err, "spi", old.String())
		return errorNotify(message.NO_PROPOSAL_CHOSEN, nil)
	}
	nsa := &ikeSA{
		spii: spii, spir: spir, state: saEstablished, suite: st, keys: keys,
		local: req.local, remote: req.remote, natt: old.natt,
		initReq: old.initReq, initResp: old.initResp,
		peerID: old.peerID, established: r.clock.Now(),
		children: map[uint32]*childSA{},
	}
	if err := nsa.newProtectors(); err != nil {
		r.log.Error("IKE SA rekey: cannot key the new SA", "err", err, "spi", old.String())
		return errorNotify(message.NO_PROPOSAL_CHOSEN, nil)
	}
	r.sas[spir] = nsa
	reply := func() []message.Payload {
		out := prop
		out.SPI = binary.BigEndian.AppendUint64(nil, spir)
		return []message.Payload{
			&message.SA{Proposals: []message.Proposal{out}},
			&message.Nonce{Data: nr},
			&message.KE{Group: uint16(st.DH), Data: dh.Public()},
		}
	}
	if rk := old.ourRekey; rk != nil {
		if r.unqueue(old, rk.req) {
			old.ourRekey = nil // ours was not sent yet: drop it, the peer's does the job
		} else {
			// Collision (RFC 7296 §2.8.2): both exchanges must finish first.
			old.peerRekey = &ikeRekey{ni: bytes.Clone(ni), nr: nr, nsa: nsa, done: true}
			r.log.Info("IKE_SA rekey collision: the peer rekeys it too; resolving when our exchange completes",
				"old", old.String(), "peer_new", nsa.String())
			return reply()
		}
	}
	r.log.Info(fmt.Sprintf("IKE_SA rekeyed by peer: %s, %d CHILD_SAs moved", ikeSuiteName(st), len(old.children)),
		"old", old.String(), "new", nsa.String())
	r.finishIKERekey(old, nsa, false)
	return reply()
}
