package v1

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
	"github.com/vpgw/vpgw/suite"
)

// Quick Mode as initiator, for the tunnel's first IPsec SA after our Main
// Mode and for our rekeys (rekey.go):
//
//	QM1  HDR*, HASH(1), SA (ESP, our SPI, the whole phase-2 policy), Ni [, KE], IDci, IDcr  →
//	QM2  HDR*, HASH(2), SA (one transform, the peer's SPI), Nr [, KE], IDci, IDcr          ←
//	QM3  HDR*, HASH(3)                                                                     →
//
// IDci is our (VPC) side, IDcr the customer's: the first allowed prefix of
// each, or the selectors of the SA being rekeyed. PFS uses the first DH
// group of the phase-2 policy (a rekey keeps the group of the SA it
// replaces). With a NAT in the way the encapsulation mode
// is UDP-Encapsulated-Tunnel (RFC 3947, or the drafts' value if the peer
// only spoke a draft). The IPsec SA is installed when QM3 leaves; QM3 stays
// cached for a retransmitted QM2.

// quickRetryDelay is how long we wait before trying our first Quick Mode
// again after the peer refused it.
const quickRetryDelay = 30 * time.Second

// startFirstQuickMode sets up the tunnel's first IPsec SA on sa, unless a
// Quick Mode of ours is already running.
func (r *Responder) startFirstQuickMode(sa *isakmpSA) {
	for _, s := range r.sas {
		for _, qm := range s.quick {
			if qm.initiator && qm.state == qmWaitQM2 {
				return
			}
		}
	}
	stopTimer(&r.conn.quickRetry)
	if err := r.startQuickMode(sa, nil); err != nil {
		r.log.Error("cannot start Quick Mode", "err", err, "sa", sa.String())
	}
}

// pfsGroup is the group our Quick Modes use for PFS, 0 for none.
func (r *Responder) pfsGroup() suite.DHGroup {
	for _, g := range r.cfg.ESP.DHGroups {
		if ike.SupportedGroup(g) {
			return g
		}
	}
	return 0
}

// startQuickMode sends QM1 on sa: a first IPsec SA (old nil) or a rekey of
// old with its selectors.
func (r *Responder) startQuickMode(sa *isakmpSA, old *childSA) error {
	if sa.state != p1Established {
		return errors.New("ikev1: ISAKMP SA not established")
	}
	var localTS, remoteTS tsRange
	if old != nil {
		localTS, remoteTS = old.localTS, old.remoteTS
	} else {
		localTS = prefixRange(r.cfg.AllowedLocalTS[0])
		remoteTS = prefixRange(r.cfg.AllowedRemoteTS[0])
	}
	encap := uint16(isakmp.EncapTunnel)
	if sa.natDetected {
		encap = isakmp.EncapUDPTunnel
		if sa.nat.draft() {
			encap = isakmp.EncapUDPTunnelDraft
		}
	}
	// A rekey keeps the PFS choice the peer accepted for the SA it
	// replaces: an IKEv1 KE payload cannot be offered as optional.
	pfs := r.pfsGroup()
	if old != nil {
		pfs = old.pfs
	}
	ts := ike.V1ESPTransforms(r.cfg.ESP, pfs, encap, r.cfg.ChildLifetime)
	if len(ts) == 0 {
		return fmt.Errorf("ikev1: cannot start Quick Mode: phase 2 policy (%s) has no usable transform", r.cfg.ESP)
	}
	inSPI, err := r.newInboundSPI()
	if err != nil {
		return err
	}
	mid, err := r.randUint64(func(v uint64) bool { return uint32(v) == 0 || sa.quick[uint32(v)] != nil })
	if err != nil {
		return err
	}
	ni, err := r.randBytes(nonceLen)
	if err != nil {
		return err
	}
	qm := &quickMode{
		msgID: uint32(mid), state: qmWaitQM2, initiator: true, replaces: old,
		inSPI: inSPI, ni: ni, pfs: pfs, encap: encap, localTS: localTS, remoteTS: remoteTS,
	}
	ps := []isakmp.Payload{
		&isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SitIdentityOnly, Proposals: []isakmp.Proposal{
			{Number: 1, ProtocolID: isakmp.ProtoIPsecESP, SPI: binary.BigEndian.AppendUint32(nil, inSPI), Transforms: ts}}},
		&isakmp.Nonce{Data: ni},
	}
	if pfs != 0 {
		dh, err := ike.NewDH(pfs, r.rand)
		if err != nil {
			return err
		}
		qm.dh = dh
		ps = append(ps, &isakmp.KE{Data: dh.Public()})
	}
	ps = append(ps, idFromRange(localTS), idFromRange(remoteTS))
	first, chain, err := ike.V1HashedChain(ps, func(after []byte) []byte {
		return ike.V1QuickHash1(sa.suite.Hash, sa.keys.SKEYIDa, qm.msgID, after)
	})
	if err != nil {
		return err
	}
	hdr := isakmp.Header{ICookie: sa.ckyI, RCookie: sa.ckyR, Version: isakmp.Version,
		Exchange: isakmp.ExchangeQuickMode, MessageID: qm.msgID}
	qm.req, qm.iv = sa.encrypt(hdr, first, chain, ike.V1PhaseIV(sa.suite.Hash, sa.lastBlock, qm.msgID, sa.cbc.BlockSize()))
	sa.quick[qm.msgID] = qm
	if old != nil {
		old.ourRekey = qm
	}
	qm.out = &outReq{what: "QM1", pkt: qm.req, local: sa.local, remote: sa.remote,
		onGiveUp: func(q *outReq) {
			r.quickFailed(sa, qm, fmt.Sprintf("no response from the customer gateway to Quick Mode after %d retransmits", q.retransmits))
		}}
	what := "IPsec SA"
	if old != nil {
		what = "rekey of IPsec SA " + old.String()
	}
	r.log.Info(fmt.Sprintf("Quick Mode: initiating %s, TS %s === %s, in=0x%08x, %s", what, remoteTS, localTS, inSPI, pfsString(pfs)),
		"sa", sa.String(), "msgid", qm.msgID)
	r.sendRequest(qm.out)
	return nil
}

// handleOurQuick takes the peer's messages of one of our Quick Modes.
func (r *Responder) handleOurQuick(sa *isakmpSA, qm *quickMode, in *packet) {
	switch {
	case qm.state == qmWaitQM2:
		r.handleQM2(sa, qm, in)
	case qm.state == qmDone && bytes.Equal(in.m.Raw, qm.resp):
		r.counters.Retransmits++
		r.log.Debug("QM2 retransmit answered with QM3 from cache", "msgid", qm.msgID, "sa", sa.String())
		r.out.Queue(qm.qm3, in.local, in.remote)
	default:
		r.counters.Unexpected++
	}
}

// handleQM2 verifies HASH(2) and the peer's choice, sends QM3 and installs
// the IPsec SA.
func (r *Responder) handleQM2(sa *isakmpSA, qm *quickMode, in *packet) {
	h := in.m.Header
	plain, ps, nextIV, err := sa.decrypt(in.m, qm.iv)
	if err != nil {
		r.counters.DecryptFailed++
		r.log.Debug("Quick Mode: QM2 does not decrypt", "hdr", h.String(), "err", err)
		return
	}
	hash, after, ok := ike.V1HashedPayloads(h.NextPayload, plain, ps)
	if !ok {
		r.counters.Malformed++
		return
	}
	if subtle.ConstantTimeCompare(ike.V1QuickHash2(sa.suite.Hash, sa.keys.SKEYIDa, qm.msgID, qm.ni, after), hash) != 1 {
		r.counters.DecryptFailed++
		r.log.Warn("Quick Mode: HASH(2) does not verify: dropped", "hdr", h.String())
		return
	}
	r.lastIKE = r.clock.Now()
	sa.local, sa.remote = in.local, in.remote
	qm.out.answered()
	qm.resp = in.m.Raw
	inKeys, outKeys, reason := r.takeQuickAnswer(sa, qm, ps)
	if reason != "" {
		r.quickFailed(sa, qm, reason)
		return
	}
	first, chain, err := isakmp.SerializePayloads([]isakmp.Payload{
		&isakmp.Hash{Data: ike.V1QuickHash3(sa.suite.Hash, sa.keys.SKEYIDa, qm.msgID, qm.ni, qm.nr)}})
	if err != nil {
		r.quickFailed(sa, qm, "IKEv1 Quick Mode: cannot build QM3: "+err.Error())
		return
	}
	qm.qm3, _ = sa.encrypt(isakmp.Header{ICookie: sa.ckyI, RCookie: sa.ckyR, Version: isakmp.Version,
		Exchange: isakmp.ExchangeQuickMode, MessageID: qm.msgID}, first, chain, nextIV)
	r.out.Queue(qm.qm3, in.local, in.remote)
	c := &childSA{
		inSPI: qm.inSPI, outSPI: qm.outSPI, esp: qm.esp, pfs: qm.pfs,
		localTS: qm.localTS, remoteTS: qm.remoteTS, local: in.local, remote: in.remote,
		udpEncap: sa.natDetected || isUDPEncap(qm.encap), lifetime: qm.lifetime,
		created: r.clock.Now(), owner: sa.cookies(), byUs: true,
		ni: bytes.Clone(qm.ni), nr: bytes.Clone(qm.nr),
	}
	qm.state = qmDone
	qm.forget()
	r.keepDone(sa, qm)
	old := qm.replaces
	if old != nil && old.ourRekey == qm {
		old.ourRekey = nil
	}
	r.addChild(sa, c, inKeys, outKeys, old)
}

// takeQuickAnswer checks QM2's SA, nonce, KE and identities against our
// offer and derives the keys. On failure it returns the operator's reason.
func (r *Responder) takeQuickAnswer(sa *isakmpSA, qm *quickMode, ps []isakmp.Payload) (in, out ike.ChildKeys, reason string) {
	sap, ok1 := find[*isakmp.SA](ps)
	nonce, ok2 := find[*isakmp.Nonce](ps)
	if !ok1 || !ok2 || len(nonce.Data) < 8 || len(nonce.Data) > 256 || len(sap.Proposals) != 1 ||
		len(sap.Proposals[0].SPI) != 4 || len(sap.Proposals[0].Transforms) != 1 {
		return in, out, "IKEv1 Quick Mode: customer gateway's QM2 lacks a single chosen transform or a nonce"
	}
	_, esp, group, encap, life, err := ike.SelectV1ESP(sap.Proposals, r.cfg.ESP, qm.pfs, r.cfg.ChildLifetime)
	if err != nil || group != qm.pfs {
		return in, out, "IKEv1 Quick Mode: customer gateway chose a proposal we did not offer: " + ike.V1ProposalsString(sap.Proposals)
	}
	ke, hasKE := find[*isakmp.KE](ps)
	if hasKE != (qm.dh != nil) {
		return in, out, fmt.Sprintf("IKEv1 Quick Mode: PFS mismatch: we asked for %s, KE payload in QM2: %v", pfsString(qm.pfs), hasKE)
	}
	if ids := findAll[*isakmp.ID](ps); len(ids) > 0 {
		var ci, cr tsRange
		var err1, err2 error
		if len(ids) == 2 {
			ci, err1 = rangeFromID(ids[0])
			cr, err2 = rangeFromID(ids[1])
		}
		if len(ids) != 2 || err1 != nil || err2 != nil || ci != qm.localTS || cr != qm.remoteTS {
			return in, out, "IKEv1 Quick Mode: customer gateway answered with other identities than we proposed"
		}
	}
	if qm.dh != nil {
		if qm.gqmxy, err = qm.dh.SharedSecret(ke.Data); err != nil {
			return in, out, "IKEv1 Quick Mode: bad PFS key exchange: " + err.Error()
		}
	}
	qm.outSPI = binary.BigEndian.Uint32(sap.Proposals[0].SPI)
	qm.nr = bytes.Clone(nonce.Data)
	qm.esp, qm.encap, qm.lifetime = esp, encap, life
	if qm.lifetime <= 0 {
		qm.lifetime = r.cfg.ChildLifetime
	}
	in, out, err = ike.DeriveV1ChildKeys(sa.suite.Hash, sa.keys.SKEYIDd, qm.gqmxy, qm.ni, qm.nr, qm.inSPI, qm.outSPI, esp)
	if err != nil {
		return in, out, "IKEv1 Quick Mode: key derivation failed: " + err.Error()
	}
	return in, out, ""
}

// keepDone keeps a finished or failed Quick Mode of ours a while, so the
// peer's retransmits are recognised, then forgets it.
func (r *Responder) keepDone(sa *isakmpSA, qm *quickMode) {
	stopTimer(&qm.timer)
	qm.timer = r.afterFunc(halfOpenTimeout, func() {
		qm.timer = nil
		if sa.quick[qm.msgID] == qm {
			delete(sa.quick, qm.msgID)
		}
	})
}

// quickFailed ends a Quick Mode of ours: the operator learns why; a rekey
// is tried again later (the old SA lives until it expires), a first Quick
// Mode too.
func (r *Responder) quickFailed(sa *isakmpSA, qm *quickMode, reason string) {
	if qm.state != qmWaitQM2 {
		return
	}
	qm.out.answered()
	qm.state = qmFailed
	qm.forget()
	r.keepDone(sa, qm)
	r.log.Warn(reason, "sa", sa.String(), "msgid", qm.msgID)
	r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: reason})
	if old := qm.replaces; old != nil {
		if old.ourRekey == qm {
			old.ourRekey = nil
		}
		if r.children[old.inSPI] == old && !old.rekeyed && !old.redundant {
			r.scheduleChildRekey(old, rekeyRetryDelay)
		}
		return
	}
	if len(r.children) == 0 && r.conn.quickRetry == nil {
		r.conn.quickRetry = r.afterFunc(quickRetryDelay, func() {
			r.conn.quickRetry = nil
			if sa := r.newestEstablished(); sa != nil && len(r.children) == 0 {
				r.startFirstQuickMode(sa)
			}
		})
	}
}

// quickRefused matches an error notify from the peer with a Quick Mode of
// ours (by the SPI of our proposal, or the only one in flight) and fails it.
func (r *Responder) quickRefused(n *isakmp.Notification) bool {
	type pending struct {
		sa *isakmpSA
		qm *quickMode
	}
	var all, match []pending
	for _, sa := range r.sas {
		for _, qm := range sa.quick {
			if !qm.initiator || qm.state != qmWaitQM2 {
				continue
			}
			all = append(all, pending{sa, qm})
			if len(n.SPI) == 4 && binary.BigEndian.Uint32(n.SPI) == qm.inSPI {
				match = append(match, pending{sa, qm})
			}
		}
	}
	if len(match) == 0 && len(n.SPI) != 4 && len(all) == 1 {
		match = all
	}
	if len(match) != 1 {
		return false
	}
	p := match[0]
	var reason string
	switch n.NotifyType {
	case isakmp.NO_PROPOSAL_CHOSEN:
		reason = fmt.Sprintf("IKEv1 Quick Mode: customer gateway accepts none of our proposals (NO_PROPOSAL_CHOSEN); we offered %s, %s",
			r.cfg.ESP, pfsString(p.qm.pfs))
	case isakmp.INVALID_ID_INFORMATION:
		reason = fmt.Sprintf("IKEv1 Quick Mode: customer gateway refused our traffic selectors %s === %s (INVALID_ID_INFORMATION)",
			p.qm.remoteTS, p.qm.localTS)
	default:
		reason = fmt.Sprintf("IKEv1 Quick Mode: customer gateway answered %s", n.NotifyType)
	}
	r.quickFailed(p.sa, p.qm, reason)
	return true
}

// prefixRange is the Quick Mode identity range of a prefix.
func prefixRange(p netip.Prefix) tsRange {
	p = p.Masked()
	return tsRange{start: p.Addr(), end: lastAddr(p)}
}

// idFromRange is the Quick Mode identity we send for t: an address, a
// subnet when the range is one, else a range.
func idFromRange(t tsRange) *isakmp.ID {
	ps := t.prefixes()
	var id *isakmp.ID
	switch {
	case t.start == t.end:
		id = isakmp.IDFromAddr(t.start)
	case len(ps) == 1:
		id = isakmp.IDFromPrefix(ps[0])
	default:
		typ := uint8(isakmp.IDIPv4AddrRange)
		if t.start.Is6() {
			typ = isakmp.IDIPv6AddrRange
		}
		id = &isakmp.ID{IDType: typ, Data: append(t.start.AsSlice(), t.end.AsSlice()...)}
	}
	id.ProtocolID, id.Port = t.proto, t.port
	return id
}
