package v1

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
	"github.com/vpgw/vpgw/suite"
)

// Quick Mode (RFC 2409 §5.5) on an established ISAKMP SA:
//
//	QM1  HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr]
//	QM2  HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr]
//	QM3  HDR*, HASH(3)
//
// Each Quick Mode has its own message ID and its own CBC chain, seeded from
// the last block of phase 1 and the message ID; several may run at once.
// The IPsec SA is installed on QM3, when the peer has proven it has QM2.
// A Quick Mode whose selectors match a live IPsec SA is the peer's rekey:
// both stay until the peer deletes the old one.

type qmState int

const (
	qmWaitHash3 qmState = iota // QM2 sent
	qmDone                     // IPsec SA installed; kept to recognise duplicates
	qmFailed                   // refused; kept so retransmits do not repeat the refusal
	qmWaitQM2                  // ours: QM1 sent (quick_initiator.go)
)

// quickMode is one Quick Mode exchange.
type quickMode struct {
	msgID     uint32
	state     qmState
	iv        []byte // CBC chain of this exchange
	req, resp []byte // QM1 as received and our QM2: retransmits of QM1 get QM2 again
	qm3       []byte // QM3 as received, to recognise its duplicates

	ni, nr, gqmxy     []byte
	inSPI, outSPI     uint32
	esp               suite.ESP
	pfs               suite.DHGroup
	encap             uint16
	lifetime          time.Duration
	localTS, remoteTS tsRange
	timer             ike.Timer

	// Ours (quick_initiator.go): req is our QM1, resp the peer's QM2 and
	// qm3 our QM3, resent when QM2 comes again.
	initiator bool
	dh        ike.DH
	out       *outReq  // QM1's retransmits
	replaces  *childSA // the IPsec SA this Quick Mode rekeys; nil for a first one
}

func (qm *quickMode) stop() {
	stopTimer(&qm.timer)
	qm.out.answered()
}

func (qm *quickMode) forget() {
	clear(qm.gqmxy)
	qm.gqmxy, qm.ni, qm.nr, qm.dh = nil, nil, nil, nil
}

func (r *Responder) handleQuickMode(sa *isakmpSA, in *packet) {
	h := in.m.Header
	if sa.state != p1Established {
		r.counters.Unexpected++
		return
	}
	if !h.Encrypted() || h.MessageID == 0 {
		r.counters.Malformed++
		return
	}
	if qm := sa.quick[h.MessageID]; qm != nil {
		if qm.initiator {
			r.handleOurQuick(sa, qm, in)
			return
		}
		switch {
		case bytes.Equal(in.m.Raw, qm.req):
			r.counters.Retransmits++
			if qm.state == qmWaitHash3 {
				r.log.Debug("QM1 retransmit answered from cache", "hdr", h.String())
				r.out.Queue(qm.resp, in.local, in.remote)
			}
		case qm.state == qmWaitHash3:
			r.handleQM3(sa, qm, in)
		case bytes.Equal(in.m.Raw, qm.qm3):
			r.counters.Retransmits++
		default:
			r.counters.Unexpected++
		}
		return
	}
	r.handleQM1(sa, in)
}

// handleQM1 verifies HASH(1), negotiates the IPsec SA and answers QM2 (or
// refuses with an informational notify).
func (r *Responder) handleQM1(sa *isakmpSA, in *packet) {
	h := in.m.Header
	if len(sa.quick) >= maxQuickModes {
		r.counters.Unexpected++
		r.log.Warn("Quick Mode dropped: too many in progress", "sa", sa.String())
		return
	}
	iv := ike.V1PhaseIV(sa.suite.Hash, sa.lastBlock, h.MessageID, sa.cbc.BlockSize())
	plain, ps, nextIV, err := sa.decrypt(in.m, iv)
	if err != nil {
		r.counters.DecryptFailed++
		r.log.Debug("Quick Mode: QM1 does not decrypt", "hdr", h.String(), "err", err)
		return
	}
	hash, after, ok := ike.V1HashedPayloads(h.NextPayload, plain, ps)
	if !ok {
		r.counters.Malformed++
		r.log.Debug("Quick Mode: QM1 does not start with HASH", "hdr", h.String())
		return
	}
	want := ike.V1QuickHash1(sa.suite.Hash, sa.keys.SKEYIDa, h.MessageID, after)
	if subtle.ConstantTimeCompare(want, hash) != 1 {
		r.counters.DecryptFailed++
		r.log.Warn("Quick Mode: HASH(1) does not verify: dropped", "hdr", h.String())
		return
	}
	r.lastIKE = r.clock.Now()
	sa.local, sa.remote = in.local, in.remote
	qm := &quickMode{msgID: h.MessageID, iv: nextIV, req: in.m.Raw}
	sa.quick[qm.msgID] = qm
	qm.timer = r.afterFunc(halfOpenTimeout, func() {
		if sa.quick[qm.msgID] == qm {
			if qm.state == qmWaitHash3 {
				r.log.Info("Quick Mode abandoned: no QM3 from peer", "msgid", qm.msgID, "sa", sa.String())
			}
			qm.forget()
			delete(sa.quick, qm.msgID)
		}
	})

	reply, refusal := r.negotiateQuick(sa, qm, ps, in)
	if refusal != nil {
		qm.state = qmFailed
		qm.forget()
		r.log.Warn(refusal.reason, "sa", sa.String(), "msgid", qm.msgID)
		r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: refusal.reason})
		r.sendInfo(sa, &isakmp.Notification{DOI: isakmp.DOIIPsec, ProtocolID: isakmp.ProtoIPsecESP,
			SPI: refusal.spi, NotifyType: refusal.notify})
		return
	}
	first, chain, err := ike.V1HashedChain(reply, func(after []byte) []byte {
		return ike.V1QuickHash2(sa.suite.Hash, sa.keys.SKEYIDa, qm.msgID, qm.ni, after)
	})
	if err != nil {
		r.log.Error("cannot build QM2", "err", err)
		return
	}
	hdr := isakmp.Header{ICookie: sa.ckyI, RCookie: sa.ckyR, Version: isakmp.Version,
		Exchange: isakmp.ExchangeQuickMode, MessageID: qm.msgID}
	qm.resp, qm.iv = sa.encrypt(hdr, first, chain, qm.iv)
	r.log.Debug("Quick Mode: QM2 sent", "msgid", qm.msgID, "in", fmt.Sprintf("0x%08x", qm.inSPI), "sa", sa.String())
	r.out.Queue(qm.resp, in.local, in.remote)
}

// quickRefusal is why a Quick Mode was refused and what to tell the peer.
type quickRefusal struct {
	notify isakmp.NotifyType
	spi    []byte
	reason string
}

func refuse(n isakmp.NotifyType, spi []byte, format string, args ...any) *quickRefusal {
	return &quickRefusal{notify: n, spi: spi, reason: "IKEv1 Quick Mode: " + fmt.Sprintf(format, args...)}
}

// negotiateQuick reads QM1's payloads into qm and returns QM2's payloads
// (without HASH(2)).
func (r *Responder) negotiateQuick(sa *isakmpSA, qm *quickMode, ps []isakmp.Payload, in *packet) ([]isakmp.Payload, *quickRefusal) {
	sap, ok1 := find[*isakmp.SA](ps)
	nonce, ok2 := find[*isakmp.Nonce](ps)
	if !ok1 || !ok2 || len(nonce.Data) < 8 || len(nonce.Data) > 256 {
		return nil, refuse(isakmp.PAYLOAD_MALFORMED, nil, "QM1 without usable SA or Nonce")
	}
	var peerSPI []byte
	for _, p := range sap.Proposals {
		if len(p.SPI) == 4 {
			peerSPI = p.SPI
			break
		}
	}
	ke, hasKE := find[*isakmp.KE](ps)
	prop, esp, group, encap, lifetime, err := r.selectESP(sap.Proposals, ke)
	if err == nil && len(prop.SPI) != 4 {
		err = fmt.Errorf("proposal SPI of %d bytes", len(prop.SPI))
	}
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "no proposal chosen") {
			msg = "no proposal chosen: " + msg
		}
		return nil, refuse(isakmp.NO_PROPOSAL_CHOSEN, peerSPI, "%s", msg)
	}
	if (group != 0) != hasKE {
		return nil, refuse(isakmp.NO_PROPOSAL_CHOSEN, peerSPI, "PFS mismatch: proposal group %s, KE payload present: %v",
			ike.GroupName(group), hasKE)
	}
	qm.outSPI = binary.BigEndian.Uint32(prop.SPI)
	qm.esp, qm.pfs, qm.encap = esp, group, encap
	qm.lifetime = lifetime
	if qm.lifetime <= 0 {
		qm.lifetime = r.cfg.ChildLifetime
	}

	// Selectors: IDci is the customer side, IDcr ours.
	ids := findAll[*isakmp.ID](ps)
	var idReply []isakmp.Payload
	switch len(ids) {
	case 0:
		qm.remoteTS, qm.localTS = hostRange(in.remote.Addr()), hostRange(r.cfg.Local)
	case 2:
		var err1, err2 error
		qm.remoteTS, err1 = rangeFromID(ids[0])
		qm.localTS, err2 = rangeFromID(ids[1])
		if err1 != nil || err2 != nil {
			return nil, refuse(isakmp.INVALID_ID_INFORMATION, peerSPI, "unsupported identities: %v / %v", err1, err2)
		}
		for _, id := range ids {
			idReply = append(idReply, &isakmp.ID{IDType: id.IDType, ProtocolID: id.ProtocolID, Port: id.Port, Data: bytes.Clone(id.Data)})
		}
	default:
		return nil, refuse(isakmp.INVALID_ID_INFORMATION, peerSPI, "%d identities (want none or IDci and IDcr)", len(ids))
	}
	if !qm.remoteTS.within(r.cfg.AllowedRemoteTS) || !qm.localTS.within(r.cfg.AllowedLocalTS) {
		return nil, refuse(isakmp.INVALID_ID_INFORMATION, peerSPI,
			"traffic selectors unacceptable: peer proposed %s === %s; tunnel allows %v === %v",
			qm.remoteTS, qm.localTS, r.cfg.AllowedRemoteTS, r.cfg.AllowedLocalTS)
	}

	var ourKE *isakmp.KE
	if group != 0 {
		dh, err := ike.NewDH(group, r.rand)
		if err == nil {
			qm.gqmxy, err = dh.SharedSecret(ke.Data)
		}
		if err != nil {
			return nil, refuse(isakmp.INVALID_KEY_INFORMATION, peerSPI, "bad PFS key exchange: %v", err)
		}
		ourKE = &isakmp.KE{Data: dh.Public()}
	}
	inSPI, err := r.newInboundSPI()
	if err != nil {
		return nil, refuse(isakmp.NO_PROPOSAL_CHOSEN, peerSPI, "no SPI: %v", err)
	}
	nr, err := r.randBytes(nonceLen)
	if err != nil {
		return nil, refuse(isakmp.NO_PROPOSAL_CHOSEN, peerSPI, "no nonce: %v", err)
	}
	qm.inSPI, qm.ni, qm.nr = inSPI, bytes.Clone(nonce.Data), nr

	out := prop
	out.SPI = binary.BigEndian.AppendUint32(nil, inSPI)
	reply := []isakmp.Payload{
		&isakmp.SA{DOI: sap.DOI, Situation: sap.Situation, Proposals: []isakmp.Proposal{out}},
		&isakmp.Nonce{Data: nr},
	}
	if ourKE != nil {
		reply = append(reply, ourKE)
	}
	return append(reply, idReply...), nil
}

// handleQM3 verifies HASH(3) and installs the IPsec SA.
func (r *Responder) handleQM3(sa *isakmpSA, qm *quickMode, in *packet) {
	h := in.m.Header
	plain, ps, _, err := sa.decrypt(in.m, qm.iv)
	if err != nil {
		r.counters.DecryptFailed++
		r.log.Debug("Quick Mode: QM3 does not decrypt", "hdr", h.String(), "err", err)
		return
	}
	hash, _, ok := ike.V1HashedPayloads(h.NextPayload, plain, ps)
	if !ok {
		r.counters.Malformed++
		return
	}
	want := ike.V1QuickHash3(sa.suite.Hash, sa.keys.SKEYIDa, qm.msgID, qm.ni, qm.nr)
	if subtle.ConstantTimeCompare(want, hash) != 1 {
		r.counters.DecryptFailed++
		r.log.Warn("Quick Mode: HASH(3) does not verify: dropped", "hdr", h.String())
		return
	}
	r.lastIKE = r.clock.Now()
	inKeys, outKeys, err := ike.DeriveV1ChildKeys(sa.suite.Hash, sa.keys.SKEYIDd, qm.gqmxy, qm.ni, qm.nr, qm.inSPI, qm.outSPI, qm.esp)
	c := &childSA{
		inSPI: qm.inSPI, outSPI: qm.outSPI, esp: qm.esp, pfs: qm.pfs,
		localTS: qm.localTS, remoteTS: qm.remoteTS, local: in.local, remote: in.remote,
		udpEncap: sa.natDetected || isUDPEncap(qm.encap), lifetime: qm.lifetime,
		created: r.clock.Now(), owner: sa.cookies(),
		ni: bytes.Clone(qm.ni), nr: bytes.Clone(qm.nr),
	}
	qm.state = qmDone
	qm.qm3 = in.m.Raw
	qm.forget()
	if err != nil {
		r.log.Error("Quick Mode: key derivation failed", "err", err, "sa", sa.String())
		return
	}
	r.addChild(sa, c, inKeys, outKeys, r.peerRekeyTarget(c))
}

// addChild installs a new IPsec SA (either role) and announces it. replaces
// is the SA it rekeys, if any: we delete that one ourselves after a grace
// if the rekey was ours (rekey.go), else the peer does.
func (r *Responder) addChild(sa *isakmpSA, c *childSA, inKeys, outKeys ike.ChildKeys, replaces *childSA) {
	verb := "established"
	if old := replaces; old != nil {
		old.rekeyed = true
		old.rekeyWanted = false
		old.successors = append(old.successors, c)
		stopTimer(&old.rekeyTimer)
		verb = fmt.Sprintf("rekeyed (replaces %s)", old)
	}
	if c.byUs {
		verb += " (initiated by us)"
	}
	r.children[c.inSPI] = c
	r.startChildLifetime(c)
	r.armChildRekey(c)
	r.log.Info(fmt.Sprintf("Quick Mode: IPsec SA %s %s %s %s, TS %s === %s",
		verb, c, c.esp, pfsString(c.pfs), c.remoteTS, c.localTS),
		"sa", sa.String(), "udp_encap", c.udpEncap, "lifetime", c.lifetime)
	r.out.Emit(ike.ChildUp{Child: ike.ChildSA{
		Tunnel: r.cfg.Tunnel, IKEVersion: ike.IKEv1,
		InSPI: c.inSPI, OutSPI: c.outSPI, ESP: c.esp,
		InKeys: inKeys, OutKeys: outKeys,
		Local: c.local, Remote: c.remote, UDPEncap: c.udpEncap,
		LocalTS: c.localTS.prefixes(), RemoteTS: c.remoteTS.prefixes(),
		Lifetime: c.lifetime,
	}})
	if old := replaces; old != nil {
		if c.byUs {
			r.deleteLater(old, "rekeyed")
		}
		r.settleCollision(old)
	}
}

// selectESP picks the IPsec proposal. An IKEv1 KE payload does not name
// its group (the proposal does), so with a KE each group the peer offers
// whose public value has the KE's length is tried, in the peer's order.
func (r *Responder) selectESP(offered []isakmp.Proposal, ke *isakmp.KE) (isakmp.Proposal, suite.ESP, suite.DHGroup, uint16, time.Duration, error) {
	if ke == nil {
		return ike.SelectV1ESP(offered, r.cfg.ESP, 0, r.cfg.ChildLifetime)
	}
	var tried []suite.DHGroup
	for _, p := range offered {
		for _, t := range p.Transforms {
			for _, a := range t.Attributes {
				g := suite.DHGroup(a.Value)
				if a.Type != isakmp.AttrGroupDesc || a.Value > 0xffff || slices.Contains(tried, g) ||
					!ike.SupportedGroup(g) || ike.PublicLen(g) != len(ke.Data) {
					continue
				}
				tried = append(tried, g)
				prop, esp, pfs, encap, life, err := ike.SelectV1ESP(offered, r.cfg.ESP, g, r.cfg.ChildLifetime)
				if err == nil {
					return prop, esp, pfs, encap, life, nil
				}
			}
		}
	}
	// Nothing fits: let the selection explain, naming the first group tried.
	g := suite.DHGroup(0xffff)
	if len(tried) > 0 {
		g = tried[0]
	}
	return ike.SelectV1ESP(offered, r.cfg.ESP, g, r.cfg.ChildLifetime)
}
