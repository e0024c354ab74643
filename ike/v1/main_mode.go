package v1

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
)

// Main Mode with a pre-shared key (RFC 2409 §5.4):
//
//	MM1  HDR, SA, VID...            →  MM2  HDR, SA (one transform), VID...
//	MM3  HDR, KE, Ni, NAT-D, NAT-D  →  MM4  HDR, KE, Nr, NAT-D, NAT-D
//	MM5  HDR*, IDii, HASH_I [, N]   →  MM6  HDR*, IDir, HASH_R
//
// MM5 usually arrives on port 4500 (the NAT-T float, RFC 3947 §4). With a
// PSK the encryption key depends on the PSK, so a wrong PSK shows up as an
// MM5 that does not decrypt to valid payloads, or whose HASH_I differs.

const nonceLen = 32

// mainMode is one Main Mode in progress; it is dropped once MM6 is sent.
type mainMode struct {
	mm1, mm2 []byte // MM1 as received and our MM2: a late MM1 retransmit gets MM2 again
	saiBody  []byte // SAi_b exactly as received: HASH_I and HASH_R sign it
	dh       ike.DH
	gxi, gxr []byte
	ni, nr   []byte
	iv       []byte // CBC chain of MM5/MM6
	natd     natdResult
}

func (mm *mainMode) forget() {
	clear(mm.ni)
	clear(mm.nr)
	clear(mm.iv)
}

// handleMM1 starts a Main Mode: pick a transform, answer MM2.
func (r *Responder) handleMM1(in *packet) {
	h := in.m.Header
	if h.Encrypted() || h.MessageID != 0 || h.ICookie == 0 {
		r.counters.Malformed++
		return
	}
	if old := r.byInit[h.ICookie]; old != nil {
		switch {
		case bytes.Equal(old.mm1, in.m.Raw):
			r.counters.Retransmits++
			if old.state == p1WaitKE && old.mm != nil {
				r.out.Queue(old.mm.mm2, in.local, in.remote)
			}
			return
		case old.state == p1Failed && r.answerRetransmit(in.m.Raw, old.lastReq, old.lastResp, in):
			return // a refused MM1 (or Aggressive Mode) again
		case old.state == p1Established:
			r.counters.Unexpected++
			r.log.Debug("MM1 reuses the cookie of an established ISAKMP SA: dropped", "sa", old.String())
			return
		}
		// A fresh attempt with the same cookie replaces the one in progress.
		r.removeSA(old, "")
	}
	if !r.admitMainMode(in.remote) {
		return
	}
	sap, ok := find[*isakmp.SA](in.m.Payloads)
	if !ok {
		r.counters.Malformed++
		r.log.Warn("Main Mode: MM1 without SA payload", "from", in.remote)
		return
	}
	var offered []isakmp.Transform
	var prop isakmp.Proposal
	for _, p := range sap.Proposals {
		if p.ProtocolID == isakmp.ProtoISAKMP {
			if offered == nil {
				prop = p
			}
			offered = append(offered, p.Transforms...)
		}
	}
	var chosen isakmp.Transform
	var st ike.V1Suite
	err := errors.New("no proposal chosen: peer offered no ISAKMP proposal")
	if sap.DOI == isakmp.DOIIPsec && len(offered) > 0 {
		chosen, st, err = ike.SelectV1IKE(offered, r.cfg.IKE, r.cfg.IKELifetime)
	}
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "no proposal chosen") {
			msg = "no proposal chosen: " + msg
		}
		reason := "IKEv1 Main Mode: " + msg
		r.log.Log(context.Background(), r.floodLevel(slog.LevelWarn), reason, "from", in.remote)
		if !r.flood.pressure {
			r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: reason})
		}
		r.failHalfOpen(in, isakmp.NO_PROPOSAL_CHOSEN)
		r.trackHalfOpen(r.byInit[h.ICookie], in.remote)
		return
	}
	ckyR, err := r.newCookie()
	if err != nil {
		return
	}
	vids := readVendorIDs(findAll[*isakmp.VendorID](in.m.Payloads))
	sa := &isakmpSA{
		ckyI: h.ICookie, ckyR: ckyR, state: p1WaitKE, suite: st,
		local: in.local, remote: in.remote, nat: vids.nat, peerDPD: vids.dpd,
		mm1:   in.m.Raw,
		mm:    &mainMode{saiBody: sap.Raw()},
		quick: map[uint32]*quickMode{},
	}
	reply := []isakmp.Payload{&isakmp.SA{
		DOI: sap.DOI, Situation: sap.Situation,
		Proposals: []isakmp.Proposal{{Number: prop.Number, ProtocolID: isakmp.ProtoISAKMP, SPI: prop.SPI, Transforms: []isakmp.Transform{chosen}}},
	}}
	if v := vids.nat.vid(); v != nil {
		reply = append(reply, &isakmp.VendorID{Data: v})
	}
	if vids.dpd {
		reply = append(reply, &isakmp.VendorID{Data: vidDPD})
	}
	pkt, err := (&isakmp.Message{
		Header:   isakmp.Header{ICookie: sa.ckyI, RCookie: sa.ckyR, Version: isakmp.Version, Exchange: isakmp.ExchangeMainMode},
		Payloads: reply,
	}).Serialize()
	if err != nil {
		r.log.Error("cannot build MM2", "err", err)
		return
	}
	sa.mm.mm2 = pkt
	sa.lastReq, sa.lastResp = in.m.Raw, pkt
	r.sas[sa.cookies()] = sa
	r.byInit[sa.ckyI] = sa
	r.startHalfOpenTimer(sa)
	r.trackHalfOpen(sa, in.remote)
	r.log.Log(context.Background(), r.floodLevel(slog.LevelInfo), fmt.Sprintf("Main Mode from %v: chose %s (lifetime %v)", in.remote, st, st.Lifetime),
		"sa", sa.String(), "nat_t", vids.nat.String(), "dpd", vids.dpd)
	r.out.Queue(pkt, in.local, in.remote)
}

// handleMainMode dispatches MM3 and MM5 by the SA's state.
func (r *Responder) handleMainMode(sa *isakmpSA, in *packet) {
	if in.m.Header.MessageID != 0 {
		r.counters.Malformed++
		return
	}
	if r.answerRetransmit(in.m.Raw, sa.lastReq, sa.lastResp, in) {
		return
	}
	var err error
	switch sa.state {
	case p1WaitKE:
		err = r.handleMM3(sa, in)
	case p1WaitAuth:
		r.handleMM5(sa, in)
		return
	case p1SentMM3:
		err = r.handleMM4(sa, in)
	case p1SentMM5:
		r.handleMM6(sa, in)
		return
	default:
		r.counters.Unexpected++
		r.log.Debug("Main Mode message out of place", "hdr", in.m.Header.String())
		return
	}
	if err != nil {
		r.counters.Malformed++
		r.log.Warn("Main Mode: message dropped", "from", in.remote, "err", err, "sa", sa.String())
	}
}

// handleMM3 completes the Diffie-Hellman exchange, checks NAT-D, derives
// the phase-1 keys and answers MM4. An error drops MM3 and keeps the state.
func (r *Responder) handleMM3(sa *isakmpSA, in *packet) error {
	m, mm := in.m, sa.mm
	if m.Header.Encrypted() {
		return errors.New("MM3 is encrypted")
	}
	ke, ok1 := find[*isakmp.KE](m.Payloads)
	nonce, ok2 := find[*isakmp.Nonce](m.Payloads)
	if !ok1 || !ok2 {
		return errors.New("MM3 without KE or Nonce")
	}
	// RFC 2409 §5: nonces are 8 to 256 bytes.
	if len(nonce.Data) < 8 || len(nonce.Data) > 256 {
		return fmt.Errorf("nonce of %d bytes", len(nonce.Data))
	}
	dh, err := ike.NewDH(sa.suite.DH, r.rand)
	if err != nil {
		return err
	}
	gxy, err := dh.SharedSecret(ke.Data)
	if err != nil {
		return fmt.Errorf("peer's KE: %w", err)
	}
	defer clear(gxy)
	nr, err := r.randBytes(nonceLen)
	if err != nil {
		return err
	}
	keys, err := ike.DeriveV1Keys(sa.suite, r.cfg.PSK, nonce.Data, nr, gxy, sa.ckyI, sa.ckyR)
	if err != nil {
		return err
	}
	cbc, err := ike.NewV1CBC(sa.suite.Cipher, keys.EncKey)
	if err != nil {
		return err
	}
	mm.dh, mm.gxi, mm.gxr, mm.ni, mm.nr = dh, bytes.Clone(ke.Data), dh.Public(), bytes.Clone(nonce.Data), nr
	mm.iv = ike.V1Phase1IV(sa.suite.Hash, mm.gxi, mm.gxr, cbc.BlockSize())
	sa.keys, sa.cbc = keys, cbc

	reply := []isakmp.Payload{&isakmp.KE{Data: mm.gxr}, &isakmp.Nonce{Data: nr}}
	if sa.nat != natNone {
		ds := findAll[*isakmp.NATD](m.Payloads)
		mm.natd = checkNATD(ds, sa.suite.Hash, sa.ckyI, sa.ckyR, in.local, in.remote)
		sa.natDetected = mm.natd.detected()
		reply = append(reply, natdPayloads(sa.nat, sa.suite.Hash, sa.ckyI, sa.ckyR, in.local, in.remote)...)
	}
	pkt, err := (&isakmp.Message{
		Header:   isakmp.Header{ICookie: sa.ckyI, RCookie: sa.ckyR, Version: isakmp.Version, Exchange: isakmp.ExchangeMainMode},
		Payloads: reply,
	}).Serialize()
	if err != nil {
		return err
	}
	sa.state = p1WaitAuth
	sa.lastReq, sa.lastResp = m.Raw, pkt
	sa.local, sa.remote = in.local, in.remote
	r.log.Debug("Main Mode: MM4 sent, "+natString(sa, mm.natd), "sa", sa.String())
	r.out.Queue(pkt, in.local, in.remote)
	return nil
}

func natString(sa *isakmpSA, n natdResult) string {
	switch {
	case sa.nat == natNone:
		return "peer does not support NAT-T"
	case !n.present:
		return "no NAT-D from peer"
	case n.peerNAT && n.localNAT:
		return "NAT detected (both sides)"
	case n.peerNAT:
		return "NAT detected (peer behind NAT)"
	case n.localNAT:
		return "NAT detected (we are behind NAT)"
	}
	return "no NAT"
}

// handleMM5 authenticates the peer and answers MM6.
func (r *Responder) handleMM5(sa *isakmpSA, in *packet) {
	m, mm := in.m, sa.mm
	if !m.Header.Encrypted() {
		r.counters.Malformed++
		return
	}
	_, ps, nextIV, err := sa.decrypt(m, mm.iv)
	if errors.Is(err, ike.ErrV1Decrypt) {
		r.counters.Malformed++ // not whole blocks: broken, not a key mismatch
		r.log.Debug("Main Mode: MM5 dropped", "err", err, "sa", sa.String())
		return
	}
	if err != nil {
		// Garbage after decryption: the keys differ, and with a PSK only
		// the PSK can make them differ.
		r.counters.DecryptFailed++
		r.authFailed(sa, in, "MM5 did not decrypt to valid payloads: "+err.Error())
		return
	}
	id, ok1 := find[*isakmp.ID](ps)
	hash, ok2 := find[*isakmp.Hash](ps)
	if !ok1 || !ok2 {
		r.counters.DecryptFailed++
		r.authFailed(sa, in, "MM5 decrypted to payloads without ID or HASH: "+isakmp.PayloadsString(ps))
		return
	}
	want := ike.V1HashI(sa.suite, sa.keys.SKEYID, mm.gxi, mm.gxr, sa.ckyI, sa.ckyR, mm.saiBody, id.Raw())
	if subtle.ConstantTimeCompare(want, hash.Data) != 1 {
		r.counters.DecryptFailed++
		r.authFailed(sa, in, "HASH_I does not verify")
		return
	}
	mm.iv = nextIV
	sa.peerID = idString(id)
	sa.local, sa.remote = in.local, in.remote

	ours := isakmp.IDFromAddr(r.cfg.Local)
	idr, _ := ours.Serialize()
	hashR := ike.V1HashR(sa.suite, sa.keys.SKEYID, mm.gxi, mm.gxr, sa.ckyI, sa.ckyR, mm.saiBody, idr)
	first, chain, err := isakmp.SerializePayloads([]isakmp.Payload{ours, &isakmp.Hash{Data: hashR}})
	if err != nil {
		r.log.Error("cannot build MM6", "err", err)
		return
	}
	hdr := isakmp.Header{ICookie: sa.ckyI, RCookie: sa.ckyR, Version: isakmp.Version, Exchange: isakmp.ExchangeMainMode}
	pkt, lastBlock := sa.encrypt(hdr, first, chain, mm.iv)

	if isakmp.FindNotification(ps, isakmp.INITIAL_CONTACT) != nil {
		r.initialContact(sa)
	}
	sa.lastBlock = lastBlock
	sa.lastReq, sa.lastResp = m.Raw, pkt
	r.establish(sa)
	r.out.Queue(pkt, in.local, in.remote)
	r.runPendingRekeys()
}

// authFailed refuses MM5: the operator learns why, the peer gets a clear
// AUTHENTICATION_FAILED (with a wrong PSK it could not decrypt ours), and
// the SA answers retransmits with it until it is dropped.
func (r *Responder) authFailed(sa *isakmpSA, in *packet, detail string) {
	reason := "IKE authentication failed: PSK mismatch"
	r.log.Warn(reason, "from", in.remote, "detail", detail, "sa", sa.String())
	r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: reason})
	pkt, err := r.clearNotify(sa.ckyI, sa.ckyR, isakmp.AUTHENTICATION_FAILED)
	if err != nil {
		return
	}
	sa.state = p1Failed
	sa.forget()
	sa.lastReq, sa.lastResp = in.m.Raw, pkt
	r.startHalfOpenTimer(sa)
	r.out.Queue(pkt, in.local, in.remote)
}

// establish makes sa the tunnel's newest ISAKMP SA (either role); sa.remote
// is where the peer's last message came from.
func (r *Responder) establish(sa *isakmpSA) {
	mm := sa.mm
	sa.mm = nil
	mm.forget()
	sa.state = p1Established
	now := r.clock.Now()
	sa.established = now
	r.lastIKE = now
	r.startISAKMPLifetime(sa)
	r.armReauth(sa)
	nat := "no NAT"
	if sa.natDetected {
		nat = "NAT-T (" + sa.nat.String() + ")"
	}
	if sa.initiator {
		nat += ", initiated by us"
	}
	r.log.Info(fmt.Sprintf("Main Mode: peer %v authenticated with PSK, ISAKMP SA established, %s",
		sa.remote.Addr(), nat), "sa", sa.String(), "id", sa.peerID, "remote", sa.remote)
	r.up = true
	r.out.Emit(ike.IKEUp{Tunnel: r.cfg.Tunnel, Version: ike.IKEv1, Remote: sa.remote, NATT: sa.natDetected})
	r.onIKEUp()
	r.startDPD()
}

// initialContact honours INITIAL_CONTACT (RFC 2407 §4.6.3.3): the peer has
// rebooted and holds no other SAs with us, so everything older of this
// tunnel is stale. Run before the new SA counts as established, so the
// gateway sees the old SAs go down before the new one comes up.
func (r *Responder) initialContact(sa *isakmpSA) {
	for _, c := range r.children {
		if c.owner == sa.cookies() {
			continue
		}
		r.log.Info("IPsec SA deleted: peer sent INITIAL_CONTACT", "child", c.String())
		r.removeChild(c, "replaced by a new IKE SA (INITIAL_CONTACT)")
	}
	for _, old := range r.sas {
		if old == sa || old.state == p1WaitKE || old.state == p1WaitAuth {
			continue
		}
		if old.state == p1Established {
			r.log.Info("ISAKMP SA replaced: peer sent INITIAL_CONTACT", "old", old.String(), "new", sa.String())
		}
		r.removeSA(old, "")
	}
	r.maybeDown("replaced by a new IKE SA (INITIAL_CONTACT)")
}

func idString(id *isakmp.ID) string {
	switch id.IDType {
	case isakmp.IDIPv4Addr, isakmp.IDIPv6Addr:
		if a, ok := netip.AddrFromSlice(id.Data); ok {
			return a.String()
		}
	case isakmp.IDFQDN, isakmp.IDUserFQDN:
		return printable(id.Data)
	}
	return fmt.Sprintf("type%d:%x", id.IDType, id.Data)
}

// printable keeps peer-supplied text safe for logs.
func printable(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out = append(out, c)
	}
	return string(out)
}
