package v2

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

// vpgw as initiator (startup_action "start", dpd_timeout_action "restart"):
// IKE_SA_INIT from Local:500 to Peer:500 with everything the policy allows,
// COOKIE and INVALID_KE_PAYLOAD retries, NAT detection and the move to 4500
// (RFC 7296 §2.23), then IKE_AUTH with IDi, INITIAL_CONTACT, our PSK AUTH and
// the first CHILD_SA. The resulting IKE SA is ours as original initiator
// (ikeSA.initiator): it uses SK_ei to send and sets the I flag. With
// startup_action "start" a lost tunnel is initiated again after a short
// delay that grows on repeated failures.

const (
	reinitDelay    = 2 * time.Second  // after the tunnel's IKE SA went away
	reinitDelayMax = 30 * time.Second // backoff cap on repeated failures
	maxInitRetries = 3                // COOKIE / INVALID_KE_PAYLOAD round trips
)

// connecting is the tunnel's initiation, if one runs.
type connecting struct {
	active         bool
	st             *initState // IKE_SA_INIT in progress
	init           *outReq    // its request, in flight
	sa             *ikeSA     // half-open SA waiting for the IKE_AUTH response
	retry          ike.Timer  // next attempt
	delay          time.Duration
	restartPending bool // dpd_timeout_action restart: retry until up
}

// initState is one IKE_SA_INIT exchange of ours.
type initState struct {
	spii          uint64
	group         suite.DHGroup
	dh            ike.DH
	ni            []byte
	cookie        []byte
	retries       int
	local, remote netip.AddrPort
	req           []byte // as sent last: AUTH signs it
}

// Initiate starts an IKE SA toward the customer gateway (Config.Peer:500)
// unless one is already established or being initiated. With
// StartupAction "start" the tunnel is kept up from then on. Progress and
// failures are reported through events (IKEUp, ChildUp, NegotiationFailed).
func (r *Responder) Initiate() error {
	r.mu.Lock()
	defer r.unlockAndFlush()
	if r.closed {
		return errors.New("ikev2: responder closed")
	}
	return r.startInitiation()
}

func (r *Responder) keepUp() bool {
	return r.cfg.StartupAction == StartupStart || r.conn.restartPending
}

func (r *Responder) startInitiation() error {
	if r.conn.active || r.anyEstablished() {
		return nil
	}
	stopTimer(&r.conn.retry)
	if !r.cfg.Local.IsValid() || !r.cfg.Peer.IsValid() {
		return errors.New("ikev2: cannot initiate without local and peer addresses")
	}
	var group suite.DHGroup
	for _, g := range r.cfg.IKE.DHGroups {
		if ike.SupportedGroup(g) {
			group = g
			break
		}
	}
	if group == 0 || len(r.cfg.IKE.Ciphers) == 0 {
		return errors.New("ikev2: cannot initiate: phase 1 policy has no usable DH group or cipher")
	}
	spii, err := r.randUint64(func(v uint64) bool { return r.sas[v] != nil })
	if err != nil {
		return err
	}
	st := &initState{
		spii: spii, group: group,
		local:  netip.AddrPortFrom(r.cfg.Local, 500),
		remote: netip.AddrPortFrom(r.cfg.Peer, 500),
	}
	r.conn.active, r.conn.st = true, st
	r.log.Info(fmt.Sprintf("initiating IKE_SA to %v: offering %s", st.remote, r.cfg.IKE), "spi", fmt.Sprintf("%016x_i", spii))
	r.sendSAInit(st)
	return nil
}

// sendSAInit sends (or, after COOKIE or INVALID_KE_PAYLOAD, resends)
// IKE_SA_INIT.
func (r *Responder) sendSAInit(st *initState) {
	if st.dh == nil {
		dh, err := ike.NewDH(st.group, r.rand)
		if err != nil {
			r.initFailed("IKE_SA_INIT: " + err.Error())
			return
		}
		st.dh = dh
	}
	if st.ni == nil {
		st.ni = make([]byte, nonceLen)
		if _, err := io.ReadFull(r.rand, st.ni); err != nil {
			r.initFailed("IKE_SA_INIT: " + err.Error())
			return
		}
	}
	var ps []message.Payload
	if st.cookie != nil {
		ps = append(ps, &message.Notify{NotifyType: message.COOKIE, Data: st.cookie})
	}
	ps = append(ps,
		&message.SA{Proposals: ike.V2IKEProposals(r.cfg.IKE, st.group)},
		&message.KE{Group: uint16(st.group), Data: st.dh.Public()},
		&message.Nonce{Data: st.ni},
		&message.Notify{NotifyType: message.NAT_DETECTION_SOURCE_IP, Data: natdSource(st.spii, 0, st.local, r.cfg.ForceUDPEncap)},
		&message.Notify{NotifyType: message.NAT_DETECTION_DESTINATION_IP, Data: natdHash(st.spii, 0, st.remote)},
	)
	m := message.Message{
		Header:   message.Header{SPIi: st.spii, MajorVersion: 2, Exchange: message.IKE_SA_INIT, Flags: message.FlagInitiator},
		Payloads: ps,
	}
	pkt, err := m.Serialize()
	if err != nil {
		r.initFailed("IKE_SA_INIT: " + err.Error())
		return
	}
	st.req = pkt
	if r.conn.init != nil {
		stopTimer(&r.conn.init.timer)
	}
	q := &outReq{
		exchange: message.IKE_SA_INIT, what: "IKE_SA_INIT",
		base: retransmitBase, maxRetransmits: retransmitTries,
		pkt: pkt, sent: r.clock.Now(), wait: retransmitBase,
		local: st.local, remote: st.remote,
		onGiveUp: func(_ *ikeSA, q *outReq) {
			r.initFailed(fmt.Sprintf("no response from the customer gateway to IKE_SA_INIT after %d retransmits", q.retransmits))
		},
	}
	r.conn.init = q
	r.out.Queue(pkt, st.local, st.remote)
	r.armRetransmit(nil, q)
}

// handleSAInitResponse processes the answer to our IKE_SA_INIT. It is not
// authenticated: malformed answers are ignored (the real one may follow,
// RFC 7296 §2.21.1), error notifies end or redirect the attempt.
func (r *Responder) handleSAInitResponse(m *message.Message, local, remote netip.AddrPort) {
	st, q := r.conn.st, r.conn.init
	h := m.Header
	if st == nil || q == nil || h.SPIi != st.spii || h.MessageID != 0 || h.IsInitiator() {
		r.counters.Unexpected++
		return
	}
	if n := m.FindNotify(message.COOKIE); n != nil && len(n.Data) >= 1 && len(n.Data) <= 64 {
		if st.retries++; st.retries > maxInitRetries {
			r.initFailed("IKE_SA_INIT: customer gateway keeps asking for a COOKIE")
			return
		}
		r.log.Info("IKE_SA_INIT: customer gateway asks for a COOKIE, retrying")
		st.cookie = bytes.Clone(n.Data)
		r.sendSAInit(st)
		return
	}
	for _, n := range m.Notifies() {
		if !n.NotifyType.IsError() {
			continue
		}
		if n.NotifyType == message.INVALID_KE_PAYLOAD && len(n.Data) == 2 {
			g := suite.DHGroup(binary.BigEndian.Uint16(n.Data))
			if g != st.group && slices.Contains(r.cfg.IKE.DHGroups, g) && ike.SupportedGroup(g) && st.retries < maxInitRetries {
				st.retries++
				r.log.Info("IKE_SA_INIT: customer gateway wants another DH group, retrying", "offered_ke", groupName(st.group), "want", groupName(g))
				st.group, st.dh = g, nil
				r.sendSAInit(st)
				return
			}
			r.initFailed(fmt.Sprintf("IKE_SA_INIT: customer gateway wants DH group %s; tunnel allows %s", groupName(g), r.cfg.IKE))
			return
		}
		reason := fmt.Sprintf("IKE_SA_INIT: customer gateway answered %s", n.NotifyType)
		if n.NotifyType == message.NO_PROPOSAL_CHOSEN {
			reason = fmt.Sprintf("IKE_SA_INIT: customer gateway accepts none of our proposals (NO_PROPOSAL_CHOSEN); we offered %s", r.cfg.IKE)
		}
		r.initFailed(reason)
		return
	}
	sap, _ := m.Find(message.PayloadSA).(*message.SA)
	ke, _ := m.Find(message.PayloadKE).(*message.KE)
	nonce, _ := m.Find(message.PayloadNonce).(*message.Nonce)
	if sap == nil || ke == nil || nonce == nil || len(sap.Proposals) != 1 || h.SPIr == 0 ||
		len(nonce.Data) < 16 || len(nonce.Data) > 256 {
		r.counters.Malformed++
		r.log.Debug("IKE_SA_INIT response without usable SA, KE or Nonce: ignored", "from", remote)
		return
	}
	r.lastIKE = r.clock.Now()
	_, s, err := ike.SelectIKE(sap.Proposals, r.cfg.IKE)
	if err != nil {
		r.initFailed("IKE_SA_INIT: customer gateway chose a proposal we did not offer: " + ike.ProposalsString(sap.Proposals))
		return
	}
	if s.DH != st.group || suite.DHGroup(ke.Group) != st.group {
		r.initFailed(fmt.Sprintf("IKE_SA_INIT: customer gateway chose DH group %s for a KE of %s", groupName(s.DH), groupName(st.group)))
		return
	}
	gir, err := st.dh.SharedSecret(ke.Data)
	if err != nil {
		r.initFailed("IKE_SA_INIT: customer gateway's KE: " + err.Error())
		return
	}
	defer clear(gir)
	keys, err := ike.DeriveIKEKeys(s, st.ni, nonce.Data, gir, st.spii, h.SPIr)
	if err != nil {
		r.initFailed("IKE_SA_INIT: " + err.Error())
		return
	}
	natd := checkNATDSPIs(m.Notifies(), st.spii, h.SPIr, local, remote)
	natd.force(r.cfg.ForceUDPEncap)
	sa := &ikeSA{
		spii: st.spii, spir: h.SPIr, initiator: true, state: saHalfOpen, suite: s, keys: keys,
		local: local, remote: remote, natt: natd.detection,
		initReq: st.req, initResp: m.Raw, ni: st.ni, nr: bytes.Clone(nonce.Data),
		nextSendID: 1, children: map[uint32]*childSA{},
	}
	if natd.detection {
		// RFC 7296 §2.23: float to 4500; the sender adds the non-ESP marker.
		sa.local = netip.AddrPortFrom(local.Addr(), 4500)
		sa.remote = netip.AddrPortFrom(remote.Addr(), 4500)
	}
	if err := sa.newProtectors(); err != nil {
		r.initFailed("IKE_SA_INIT: " + err.Error())
		return
	}
	stopTimer(&q.timer)
	r.conn.st, r.conn.init, r.conn.sa = nil, nil, sa
	r.sas[sa.spii] = sa
	r.log.Info(fmt.Sprintf("IKE_SA_INIT to %v: peer chose %s, %s", remote, ikeSuiteName(s), natd.describe(", moving to port 4500")), "spi", sa.String())
	r.sendAuth(sa)
}

// ourOffer is a CHILD_SA we propose (IKE_AUTH or CREATE_CHILD_SA).
type ourOffer struct {
	inSPI    uint32
	group    suite.DHGroup // PFS group of our KE, 0 without
	dh       ike.DH
	ni       []byte
	tsi, tsr []message.TrafficSelector // ours, the peer's
}

func (r *Responder) sendAuth(sa *ikeSA) {
	idi := &message.ID{Initiator: true, IDType: message.IDIPv4Addr, Data: r.cfg.Local.AsSlice()}
	if r.cfg.Local.Is6() {
		idi.IDType = message.IDIPv6Addr
	}
	auth := ike.PSKAuth(sa.suite.PRF, r.cfg.PSK, sa.initReq, sa.nr, sa.keys.SKpi, idi.Body())
	inSPI, err := r.newInboundSPI()
	if err != nil {
		r.removeSA(sa, "")
		r.initFailed("IKE_AUTH: " + err.Error())
		return
	}
	off := &ourOffer{inSPI: inSPI, tsi: selectors(r.cfg.AllowedLocalTS), tsr: selectors(r.cfg.AllowedRemoteTS)}
	ps := []message.Payload{
		idi,
		&message.Notify{NotifyType: message.INITIAL_CONTACT},
		&message.Auth{Method: message.AuthSharedKeyMIC, Data: auth},
		// No PFS in IKE_AUTH (RFC 7296 §1.2): no DH transforms.
		&message.SA{Proposals: ike.V2ESPProposals(r.cfg.ESP, inSPI, 0)},
		&message.TrafficSelectors{Initiator: true, Selectors: off.tsi},
		&message.TrafficSelectors{Initiator: false, Selectors: off.tsr},
	}
	r.request(sa, &outReq{
		exchange: message.IKE_AUTH, what: "IKE_AUTH", payloads: ps,
		onResponse: func(sa *ikeSA, _ message.Header, ps []message.Payload) { r.authResponse(sa, off, ps) },
		onGiveUp: func(sa *ikeSA, q *outReq) {
			r.removeSA(sa, "")
			r.initFailed(fmt.Sprintf("no response from the customer gateway to IKE_AUTH after %d retransmits", q.retransmits))
		},
	})
}

// authResponse verifies the peer's AUTH and sets up the first CHILD_SA.
func (r *Responder) authResponse(sa *ikeSA, off *ourOffer, ps []message.Payload) {
	if sa.state != saHalfOpen {
		return
	}
	idr, _ := findType(ps, message.PayloadIDr).(*message.ID)
	auth, _ := find[*message.Auth](ps)
	var reason string
	switch {
	case idr == nil || auth == nil:
		reason = "IKE_AUTH: customer gateway sent no IDr/AUTH"
		if n := firstNotifyError(ps); n != nil {
			reason = fmt.Sprintf("IKE_AUTH: customer gateway answered %s", n.NotifyType)
			if n.NotifyType == message.AUTHENTICATION_FAILED {
				reason = "IKE authentication failed: customer gateway rejected our AUTH (PSK mismatch?)"
			}
		}
	case auth.Method != message.AuthSharedKeyMIC:
		reason = fmt.Sprintf("IKE authentication failed: customer gateway uses auth method %d, tunnel uses a pre-shared key", auth.Method)
	default:
		want := ike.PSKAuth(sa.suite.PRF, r.cfg.PSK, sa.initResp, sa.ni, sa.keys.SKpr, idr.Body())
		if subtle.ConstantTimeCompare(want, auth.Data) != 1 {
			reason = "IKE authentication failed: PSK mismatch"
		}
	}
	if reason != "" {
		r.removeSA(sa, "")
		r.initFailed(reason)
		return
	}
	sa.peerID = idString(idr)
	sa.state = saEstablished
	sa.established = r.clock.Now()
	r.conn.active, r.conn.sa = false, nil
	r.startIKELifetime(sa)
	nat := ""
	if sa.natt {
		nat = ", NAT-T"
	}
	r.log.Info(fmt.Sprintf("IKE_AUTH: peer %v authenticated with PSK (id %s), IKE_SA established (initiated by us)%s",
		sa.remote.Addr(), sa.peerID, nat), "spi", sa.String())
	r.out.Emit(ike.IKEUp{Tunnel: r.cfg.Tunnel, Version: ike.IKEv2, Remote: sa.remote, NATT: sa.natt})
	r.onIKEUp()

	ni, nr := sa.ni, sa.nr
	sa.ni, sa.nr = nil, nil
	if n := firstNotifyError(ps); n != nil {
		reason := fmt.Sprintf("IKE_AUTH: CHILD_SA: customer gateway answered %s", n.NotifyType)
		r.log.Warn(reason, "spi", sa.String())
		r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: reason})
		return
	}
	if findType(ps, message.PayloadSA) == nil {
		r.log.Info("IKE_AUTH: customer gateway created no CHILD_SA", "spi", sa.String())
		return
	}
	c, reason := r.takeChild(sa, sa, off, ps, nil, ni, nr, "IKE_AUTH")
	if c == nil {
		r.childRefused(sa, off, reason)
		return
	}
	r.log.Info(fmt.Sprintf("IKE_AUTH: CHILD_SA established in=0x%08x out=0x%08x %s, TS %s === %s",
		c.inSPI, c.outSPI, espSuiteName(c.esp, c.pfs), tsString(c.localTS), tsString(c.remoteTS)), "spi", sa.String())
	r.announce(c)
}

// childRefused reports a CHILD_SA the peer set up but we cannot accept, and
// asks the peer to delete its half.
func (r *Responder) childRefused(sa *ikeSA, off *ourOffer, reason string) {
	r.log.Warn(reason, "spi", sa.String())
	r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: reason})
	r.request(sa, &outReq{exchange: message.INFORMATIONAL, what: "DELETE of a refused CHILD_SA",
		payloads: []message.Payload{message.DeleteESP(off.inSPI)}, movable: true})
}

// takeChild reads the SA, KE and TS of the response to our CHILD_SA
// request on sa, derives the keys and records the child under owner (sa,
// or the IKE SA its predecessor moved to), not yet announced. On failure it
// returns nil and the operator-facing reason.
func (r *Responder) takeChild(sa, owner *ikeSA, off *ourOffer, ps []message.Payload, gir, ni, nr []byte, exchange string) (*childSA, string) {
	sap, _ := findType(ps, message.PayloadSA).(*message.SA)
	tsiP, _ := findType(ps, message.PayloadTSi).(*message.TrafficSelectors)
	tsrP, _ := findType(ps, message.PayloadTSr).(*message.TrafficSelectors)
	if sap == nil || tsiP == nil || tsrP == nil || len(sap.Proposals) != 1 || len(sap.Proposals[0].SPI) != 4 {
		return nil, exchange + ": CHILD_SA: customer gateway's answer lacks SA or TS"
	}
	_, esp, group, err := ike.SelectESP(sap.Proposals, r.cfg.ESP, off.dh != nil)
	if err != nil {
		return nil, exchange + ": CHILD_SA: customer gateway chose a proposal we did not offer: " + ike.ProposalsString(sap.Proposals)
	}
	if off.dh != nil {
		if group != off.group {
			return nil, fmt.Sprintf("%s: CHILD_SA: customer gateway chose PFS group %s for a KE of %s", exchange, groupName(group), groupName(off.group))
		}
		ke, _ := find[*message.KE](ps)
		if ke == nil || suite.DHGroup(ke.Group) != group {
			return nil, exchange + ": CHILD_SA: customer gateway sent no KE for PFS"
		}
		if gir, err = off.dh.SharedSecret(ke.Data); err != nil {
			return nil, exchange + ": CHILD_SA: bad PFS key exchange: " + err.Error()
		}
		defer clear(gir)
	}
	tsi := narrowTS(tsiP.Selectors, r.cfg.AllowedLocalTS)
	tsr := narrowTS(tsrP.Selectors, r.cfg.AllowedRemoteTS)
	if len(tsi) == 0 || len(tsr) == 0 {
		return nil, fmt.Sprintf("%s: CHILD_SA: traffic selectors unacceptable: customer gateway answered %s === %s; tunnel allows %v === %v",
			exchange, tsList(tsiP.Selectors), tsList(tsrP.Selectors), r.cfg.AllowedLocalTS, r.cfg.AllowedRemoteTS)
	}
	iToR, rToI, err := ike.DeriveChildKeys(sa.suite.PRF, sa.keys.SKd, gir, ni, nr, esp)
	if err != nil {
		return nil, exchange + ": CHILD_SA: key derivation failed: " + err.Error()
	}
	outSPI := binary.BigEndian.Uint32(sap.Proposals[0].SPI)
	c := &childSA{
		inSPI: off.inSPI, outSPI: outSPI, esp: esp, pfs: group,
		localTS: tsi, remoteTS: tsr, local: sa.local, remote: sa.remote,
		udpEncap: sa.natt, created: r.clock.Now(), byUs: true,
	}
	// We initiated: our inbound is responder-to-initiator.
	c.up = ike.ChildSA{
		Tunnel: r.cfg.Tunnel, IKEVersion: ike.IKEv2,
		InSPI: c.inSPI, OutSPI: c.outSPI, ESP: esp,
		InKeys: rToI, OutKeys: iToR,
		Local: sa.local, Remote: sa.remote, UDPEncap: sa.natt,
		LocalTS: tsPrefixes(tsi), RemoteTS: tsPrefixes(tsr),
		Lifetime: r.cfg.ChildLifetime,
	}
	owner.children[c.inSPI] = c
	r.startChildLifetime(owner, c)
	return c, ""
}

// initFailed ends the initiation attempt; with keep-up another follows.
func (r *Responder) initFailed(reason string) {
	r.log.Warn(reason, "peer", r.cfg.Peer)
	r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: reason})
	if r.conn.init != nil {
		stopTimer(&r.conn.init.timer)
	}
	if sa := r.conn.sa; sa != nil && r.sas[sa.ourSPI()] == sa {
		r.removeSA(sa, "")
	}
	r.conn.active, r.conn.st, r.conn.init, r.conn.sa = false, nil, nil, nil
	if r.keepUp() && !r.anyEstablished() {
		r.scheduleReinit()
	}
}

// onIKEUp runs whenever an IKE SA gets established (either role).
func (r *Responder) onIKEUp() {
	r.conn.delay, r.conn.restartPending = 0, false
	stopTimer(&r.conn.retry)
	r.startDPD()
}

// tunnelDown runs when the tunnel's last IKE SA went away (IKEDown).
func (r *Responder) tunnelDown() {
	r.stopDPD()
	if r.keepUp() && !r.closed {
		r.scheduleReinit()
	}
}

// scheduleReinit initiates again after the current backoff delay.
func (r *Responder) scheduleReinit() {
	if r.closed || r.conn.retry != nil || r.conn.active {
		return
	}
	d := r.conn.delay
	if d == 0 {
		d = reinitDelay
	}
	r.conn.delay = min(2*d, reinitDelayMax)
	r.log.Info(fmt.Sprintf("initiating a new IKE_SA to %v in %v", r.cfg.Peer, d))
	r.conn.retry = r.afterFunc(d, func() {
		r.conn.retry = nil
		if err := r.startInitiation(); err != nil {
			r.log.Error("cannot initiate IKE_SA", "err", err)
		}
	})
}

func (r *Responder) stopConnecting() {
	stopTimer(&r.conn.retry)
	if r.conn.init != nil {
		stopTimer(&r.conn.init.timer)
	}
	r.conn = connecting{}
}

// firstNotifyError returns the first error notify among ps.
func firstNotifyError(ps []message.Payload) *message.Notify {
	for _, n := range message.Notifies(ps) {
		if n.NotifyType.IsError() {
			return n
		}
	}
	return nil
}
