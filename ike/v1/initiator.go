package v1

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
	"github.com/vpgw/vpgw/suite"
)

// vpgw as Main Mode initiator (startup_action "start", dpd_timeout_action
// "restart", re-authentication):
//
//	MM1  HDR, SA (our whole policy), VID (NAT-T RFC + drafts, DPD)  →
//	MM3  HDR, KE, Ni, NAT-D, NAT-D                                  →
//	MM5  HDR*, IDii, HASH_I [, N(INITIAL_CONTACT)]                 →  (port 4500 if NAT)
//
// Each of our messages is retransmitted until the peer's next one arrives
// (request.go). Once MM6 verifies, the ISAKMP SA is ours as initiator (it
// behaves like any other afterwards: IPsec SAs do not belong to it) and a
// Quick Mode of ours sets up the tunnel's IPsec SA (quick_initiator.go),
// unless the tunnel still has one (re-authentication). One Main Mode of ours
// runs at a time. With startup_action "start" a lost tunnel is initiated
// again after a short delay that grows on repeated failures.

const (
	reinitDelay    = 2 * time.Second  // after everything of the tunnel went away
	reinitDelayMax = 30 * time.Second // backoff cap on repeated failures
)

// connecting is our Main Mode, if one runs, and the keep-up state.
type connecting struct {
	mm             *isakmpSA // our Main Mode in progress (state p1SentMM*)
	req            *outReq   // its last message, waiting for the answer
	replaces       *isakmpSA // re-authentication: the ISAKMP SA it replaces
	retry          ike.Timer // next attempt (keep-up)
	delay          time.Duration
	restartPending bool      // dpd_timeout_action restart: initiate until up
	quickRetry     ike.Timer // our first Quick Mode, again after a refusal
}

// Initiate starts a Main Mode toward the customer gateway (Config.Peer:500
// from Config.Local:500) unless an ISAKMP SA is established or one of ours
// is in progress. With StartupAction "start" the tunnel is kept up from
// then on. Progress and failures are reported through events (IKEUp,
// ChildUp, NegotiationFailed).
func (r *Responder) Initiate() error {
	r.mu.Lock()
	defer r.unlockAndFlush()
	if r.closed {
		return errors.New("ikev1: responder closed")
	}
	return r.startInitiation()
}

func (r *Responder) keepUp() bool {
	return r.cfg.StartupAction == StartupStart || r.conn.restartPending
}

func (r *Responder) startInitiation() error {
	if r.conn.mm != nil || r.newestEstablished() != nil {
		return nil
	}
	stopTimer(&r.conn.retry)
	return r.startMainMode(nil)
}

// ourVendorIDs are announced in our MM1: NAT-T in every dialect a peer may
// know (RFC first) and DPD (RFC 3706: the peer then probes us and answers
// our probes).
var ourVendorIDs = [][]byte{vidRFC3947, vidDraft03, vidDraft02N, vidDraft02, vidDPD}

// startMainMode sends MM1. replaces is the ISAKMP SA a re-authentication
// replaces, nil for a fresh start.
func (r *Responder) startMainMode(replaces *isakmpSA) error {
	if !r.cfg.Local.IsValid() || !r.cfg.Peer.IsValid() {
		return errors.New("ikev1: cannot initiate without local and peer addresses")
	}
	ts := ike.V1IKETransforms(r.cfg.IKE, r.cfg.IKELifetime)
	if len(ts) == 0 {
		return fmt.Errorf("ikev1: cannot initiate: phase 1 policy (%s) has no AES-CBC cipher with a usable hash and DH group", r.cfg.IKE)
	}
	ckyI, err := r.randUint64(func(v uint64) bool {
		for k := range r.sas {
			if k.i == v {
				return true
			}
		}
		return r.byInit[v] != nil
	})
	if err != nil {
		return err
	}
	sap := &isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SitIdentityOnly,
		Proposals: []isakmp.Proposal{{Number: 1, ProtocolID: isakmp.ProtoISAKMP, Transforms: ts}}}
	saiBody, err := sap.Serialize()
	if err != nil {
		return err
	}
	ps := []isakmp.Payload{sap}
	for _, v := range ourVendorIDs {
		ps = append(ps, &isakmp.VendorID{Data: v})
	}
	pkt, err := (&isakmp.Message{
		Header:   isakmp.Header{ICookie: ckyI, Version: isakmp.Version, Exchange: isakmp.ExchangeMainMode},
		Payloads: ps,
	}).Serialize()
	if err != nil {
		return err
	}
	sa := &isakmpSA{
		ckyI: ckyI, initiator: true, state: p1SentMM1,
		local:  netip.AddrPortFrom(r.cfg.Local, 500),
		remote: netip.AddrPortFrom(r.cfg.Peer, 500),
		mm:     &mainMode{saiBody: saiBody},
		quick:  map[uint32]*quickMode{},
	}
	r.conn.mm, r.conn.replaces = sa, replaces
	what := "initiating Main Mode"
	if replaces != nil {
		what = "re-authenticating ISAKMP SA " + replaces.String() + ": new Main Mode"
	}
	r.log.Info(fmt.Sprintf("%s to %v: offering %s (%d transforms)", what, sa.remote, v1Phase1Offer(r.cfg.IKE), len(ts)),
		"sa", fmt.Sprintf("%016x_i", ckyI))
	r.sendMM(sa, "MM1", pkt)
	return nil
}

// v1Phase1Offer names what phase 1 offers: the policy without AES-GCM.
func v1Phase1Offer(p ike.Policy) string {
	q := p
	q.Ciphers = slices.DeleteFunc(slices.Clone(p.Ciphers), suite.Cipher.IsAEAD)
	return q.String()
}

// sendMM sends a Main Mode message of ours and retransmits it until the
// peer's next message arrives.
func (r *Responder) sendMM(sa *isakmpSA, what string, pkt []byte) {
	r.conn.req.answered()
	q := &outReq{what: what, pkt: pkt, local: sa.local, remote: sa.remote,
		onGiveUp: func(q *outReq) {
			if r.conn.mm != sa {
				return
			}
			r.initFailed(fmt.Sprintf("no response from the customer gateway to Main Mode after %d retransmits", q.retransmits))
		}}
	r.conn.req = q
	r.sendRequest(q)
}

// handleInitResponse takes the answer to our MM1: MM2, or a clear notify
// refusing it. It reports whether the packet was one.
func (r *Responder) handleInitResponse(in *packet) bool {
	sa, h := r.conn.mm, in.m.Header
	if sa == nil || sa.state != p1SentMM1 || h.ICookie != sa.ckyI || h.RCookie == 0 {
		return false
	}
	switch {
	case h.Exchange == isakmp.ExchangeMainMode:
		r.handleMM2(sa, in)
	case h.Exchange == isakmp.ExchangeInformational && !h.Encrypted():
		r.initRefused(sa, in)
	default:
		r.counters.Unexpected++
	}
	return true
}

// initRefused handles a clear notify in place of MM2 (or of MM4/MM6).
// Unauthenticated, as it has to be before keys exist; strongSwan and
// vpgw's own responder send exactly this.
func (r *Responder) initRefused(sa *isakmpSA, in *packet) {
	var n *isakmp.Notification
	for _, p := range isakmp.Notifications(in.m.Payloads) {
		if p.NotifyType < 16384 {
			n = p
			break
		}
	}
	if n == nil {
		r.counters.Unexpected++
		return
	}
	var reason string
	switch {
	case n.NotifyType == isakmp.NO_PROPOSAL_CHOSEN && sa.state == p1SentMM1:
		reason = fmt.Sprintf("IKEv1 Main Mode: customer gateway accepts none of our proposals (NO_PROPOSAL_CHOSEN); we offered %s",
			v1Phase1Offer(r.cfg.IKE))
	case n.NotifyType == isakmp.AUTHENTICATION_FAILED || n.NotifyType == isakmp.INVALID_HASH_INFORMATION:
		reason = fmt.Sprintf("IKE authentication failed: customer gateway rejected our HASH_I (%s): PSK mismatch?", n.NotifyType)
	default:
		reason = fmt.Sprintf("IKEv1 Main Mode: customer gateway answered %s", n.NotifyType)
	}
	r.initFailed(reason)
}

// handleMM2 reads the peer's choice and answers MM3.
func (r *Responder) handleMM2(sa *isakmpSA, in *packet) {
	m := in.m
	if m.Header.Encrypted() || m.Header.MessageID != 0 {
		r.counters.Malformed++
		return
	}
	sap, ok := find[*isakmp.SA](m.Payloads)
	if !ok || len(sap.Proposals) != 1 || len(sap.Proposals[0].Transforms) != 1 || sap.Proposals[0].ProtocolID != isakmp.ProtoISAKMP {
		r.counters.Malformed++
		r.log.Debug("Main Mode: MM2 without a single chosen transform: ignored", "from", in.remote)
		return
	}
	r.lastIKE = r.clock.Now()
	_, st, err := ike.SelectV1IKE(sap.Proposals[0].Transforms, r.cfg.IKE, r.cfg.IKELifetime)
	if err != nil {
		r.initFailed("IKEv1 Main Mode: customer gateway chose a transform we did not offer: " +
			ike.V1TransformsString(sap.Proposals[0].Transforms))
		return
	}
	vids := readVendorIDs(findAll[*isakmp.VendorID](m.Payloads))
	sa.ckyR, sa.suite, sa.nat, sa.peerDPD = m.Header.RCookie, st, vids.nat, vids.dpd
	r.conn.req.answered()
	r.sas[sa.cookies()] = sa
	r.log.Info(fmt.Sprintf("Main Mode to %v: peer chose %s (lifetime %v)", in.remote, st, st.Lifetime),
		"sa", sa.String(), "nat_t", vids.nat.String(), "dpd", vids.dpd)

	mm := sa.mm
	dh, err := ike.NewDH(st.DH, r.rand)
	if err == nil {
		mm.ni, err = r.randBytes(nonceLen)
	}
	if err != nil {
		r.initFailed("IKEv1 Main Mode: " + err.Error())
		return
	}
	mm.dh, mm.gxi = dh, dh.Public()
	ps := []isakmp.Payload{&isakmp.KE{Data: mm.gxi}, &isakmp.Nonce{Data: mm.ni}}
	if sa.nat != natNone {
		ps = append(ps, natdPayloads(sa.nat, st.Hash, sa.ckyI, sa.ckyR, sa.local, sa.remote)...)
	}
	pkt, err := (&isakmp.Message{
		Header:   isakmp.Header{ICookie: sa.ckyI, RCookie: sa.ckyR, Version: isakmp.Version, Exchange: isakmp.ExchangeMainMode},
		Payloads: ps,
	}).Serialize()
	if err != nil {
		r.initFailed("IKEv1 Main Mode: " + err.Error())
		return
	}
	sa.state = p1SentMM3
	sa.lastReq, sa.lastResp = m.Raw, pkt
	r.sendMM(sa, "MM3", pkt)
}

// handleMM4 completes the Diffie-Hellman exchange, checks NAT-D, moves to
// port 4500 if a NAT is in the way and sends MM5. An error drops MM4.
func (r *Responder) handleMM4(sa *isakmpSA, in *packet) error {
	m, mm := in.m, sa.mm
	if m.Header.Encrypted() {
		return errors.New("MM4 is encrypted")
	}
	ke, ok1 := find[*isakmp.KE](m.Payloads)
	nonce, ok2 := find[*isakmp.Nonce](m.Payloads)
	if !ok1 || !ok2 {
		return errors.New("MM4 without KE or Nonce")
	}
	if len(nonce.Data) < 8 || len(nonce.Data) > 256 {
		return fmt.Errorf("nonce of %d bytes", len(nonce.Data))
	}
	gxy, err := mm.dh.SharedSecret(ke.Data)
	if err != nil {
		return fmt.Errorf("peer's KE: %w", err)
	}
	defer clear(gxy)
	keys, err := ike.DeriveV1Keys(sa.suite, r.cfg.PSK, mm.ni, nonce.Data, gxy, sa.ckyI, sa.ckyR)
	if err != nil {
		return err
	}
	cbc, err := ike.NewV1CBC(sa.suite.Cipher, keys.EncKey)
	if err != nil {
		return err
	}
	r.lastIKE = r.clock.Now()
	r.conn.req.answered()
	mm.gxr, mm.nr = bytes.Clone(ke.Data), bytes.Clone(nonce.Data)
	mm.iv = ike.V1Phase1IV(sa.suite.Hash, mm.gxi, mm.gxr, cbc.BlockSize())
	sa.keys, sa.cbc = keys, cbc
	if sa.nat != natNone {
		mm.natd = checkNATD(findAll[*isakmp.NATD](m.Payloads), sa.suite.Hash, sa.ckyI, sa.ckyR, in.local, in.remote)
		sa.natDetected = mm.natd.detected()
	}
	if sa.natDetected {
		// RFC 3947 §4: MM5 on goes to port 4500, with the non-ESP marker.
		sa.local = netip.AddrPortFrom(in.local.Addr(), 4500)
		sa.remote = netip.AddrPortFrom(in.remote.Addr(), 4500)
	}

	id := isakmp.IDFromAddr(r.cfg.Local)
	idb, _ := id.Serialize()
	hashI := ike.V1HashI(sa.suite, keys.SKEYID, mm.gxi, mm.gxr, sa.ckyI, sa.ckyR, mm.saiBody, idb)
	ps := []isakmp.Payload{id, &isakmp.Hash{Data: hashI}}
	// RFC 2407 §4.6.3.3: only when we hold no other SA with the peer; a
	// re-authentication must not make the peer drop the IPsec SAs.
	initialContact := r.conn.replaces == nil && r.newestEstablished() == nil && len(r.children) == 0
	if initialContact {
		ps = append(ps, &isakmp.Notification{DOI: isakmp.DOIIPsec, ProtocolID: isakmp.ProtoISAKMP,
			SPI: cookiesSPI(sa.ckyI, sa.ckyR), NotifyType: isakmp.INITIAL_CONTACT})
	}
	first, chain, err := isakmp.SerializePayloads(ps)
	if err != nil {
		return err
	}
	hdr := isakmp.Header{ICookie: sa.ckyI, RCookie: sa.ckyR, Version: isakmp.Version, Exchange: isakmp.ExchangeMainMode}
	pkt, next := sa.encrypt(hdr, first, chain, mm.iv)
	mm.iv = next
	sa.state = p1SentMM5
	sa.lastReq, sa.lastResp = m.Raw, pkt
	r.log.Debug("Main Mode: MM5 sent, "+natString(sa, mm.natd), "sa", sa.String(), "initial_contact", initialContact)
	r.sendMM(sa, "MM5", pkt)
	return nil
}

func cookiesSPI(ckyI, ckyR uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, ckyI), ckyR)
}

// handleMM6 authenticates the peer: the ISAKMP SA is established.
func (r *Responder) handleMM6(sa *isakmpSA, in *packet) {
	m, mm := in.m, sa.mm
	if !m.Header.Encrypted() {
		r.counters.Malformed++
		return
	}
	_, ps, nextIV, err := sa.decrypt(m, mm.iv)
	if errors.Is(err, ike.ErrV1Decrypt) {
		r.counters.Malformed++
		r.log.Debug("Main Mode: MM6 dropped", "err", err, "sa", sa.String())
		return
	}
	detail := ""
	var id *isakmp.ID
	switch {
	case err != nil:
		detail = "MM6 did not decrypt to valid payloads: " + err.Error()
	default:
		var ok1, ok2 bool
		var hash *isakmp.Hash
		id, ok1 = find[*isakmp.ID](ps)
		hash, ok2 = find[*isakmp.Hash](ps)
		if !ok1 || !ok2 {
			detail = "MM6 decrypted to payloads without ID or HASH: " + isakmp.PayloadsString(ps)
			break
		}
		want := ike.V1HashR(sa.suite, sa.keys.SKEYID, mm.gxi, mm.gxr, sa.ckyI, sa.ckyR, mm.saiBody, id.Raw())
		if subtle.ConstantTimeCompare(want, hash.Data) != 1 {
			detail = "HASH_R does not verify"
		}
	}
	if detail != "" {
		r.counters.DecryptFailed++
		r.log.Debug("Main Mode: MM6 does not authenticate", "from", in.remote, "detail", detail, "sa", sa.String())
		r.initFailed("IKE authentication failed: PSK mismatch")
		return
	}
	r.conn.req.answered()
	replaces := r.conn.replaces
	r.conn.mm, r.conn.req, r.conn.replaces = nil, nil, nil
	sa.peerID = idString(id)
	sa.lastBlock = nextIV
	sa.lastReq, sa.lastResp = m.Raw, nil // a retransmitted MM6 needs no answer
	sa.local, sa.remote = in.local, in.remote
	r.establish(sa)
	if replaces != nil {
		r.finishReauth(replaces, sa)
	}
	r.runPendingRekeys()
	if len(r.children) == 0 {
		r.startFirstQuickMode(sa)
	}
}

// initFailed ends our Main Mode; with keep-up another follows.
func (r *Responder) initFailed(reason string) {
	r.log.Warn(reason, "peer", r.cfg.Peer)
	r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: reason})
	replaces := r.conn.replaces
	r.abandonMainMode()
	if replaces != nil && r.sas[replaces.cookies()] == replaces && replaces.state == p1Established {
		// The old ISAKMP SA lives on; try again later.
		r.scheduleReauth(replaces, rekeyRetryDelay)
	}
	if r.keepUp() && r.newestEstablished() == nil {
		r.scheduleReinit()
	}
}

// abandonMainMode forgets our Main Mode in progress, if any.
func (r *Responder) abandonMainMode() {
	sa := r.conn.mm
	r.conn.req.answered()
	r.conn.mm, r.conn.req, r.conn.replaces = nil, nil, nil
	if sa == nil {
		return
	}
	if r.sas[sa.cookies()] == sa {
		r.removeSA(sa, "")
	} else {
		sa.forget()
	}
}

// onIKEUp runs whenever an ISAKMP SA gets established (either role).
func (r *Responder) onIKEUp() {
	r.conn.delay, r.conn.restartPending = 0, false
	stopTimer(&r.conn.retry)
}

// tunnelDown runs when everything of the tunnel went away (IKEDown).
func (r *Responder) tunnelDown() {
	if r.keepUp() && !r.closed {
		r.scheduleReinit()
	}
}

// scheduleReinit initiates again after the current backoff delay.
func (r *Responder) scheduleReinit() {
	if r.closed || r.conn.retry != nil || r.conn.mm != nil {
		return
	}
	d := r.conn.delay
	if d == 0 {
		d = reinitDelay
	}
	r.conn.delay = min(2*d, reinitDelayMax)
	r.log.Info(fmt.Sprintf("initiating a new Main Mode to %v in %v", r.cfg.Peer, d))
	r.conn.retry = r.afterFunc(d, func() {
		r.conn.retry = nil
		if err := r.startInitiation(); err != nil {
			r.log.Error("cannot initiate Main Mode", "err", err)
		}
	})
}

func (r *Responder) stopConnecting() {
	stopTimer(&r.conn.retry)
	stopTimer(&r.conn.quickRetry)
	r.conn.req.answered()
	if sa := r.conn.mm; sa != nil && r.sas[sa.cookies()] != sa {
		sa.forget()
	}
	r.conn = connecting{}
}
