package v1

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
)

// Informational exchanges (RFC 2409 §5.7): one-way, encrypted under the
// ISAKMP SA and authenticated by HASH(1) = prf(SKEYID_a, M-ID | N/D). They
// carry DELETEs, INITIAL_CONTACT and the DPD notifies (dpd.go). No answer
// is due; DPD answers with an informational of its own.
//
// DELETE semantics differ from IKEv2: deleting the ISAKMP SA leaves the
// IPsec SAs running (strongSwan deletes them explicitly first), so we keep
// IPsec SAs until the peer deletes them or they expire. A peer that
// re-authenticates (new Main Mode, then DELETE of the old ISAKMP SA) never
// loses traffic.

// infoSeenMax bounds the remembered informational message IDs per SA.
const infoSeenMax = 32

func (r *Responder) handleInformational(sa *isakmpSA, in *packet) {
	h := in.m.Header
	if !h.Encrypted() {
		if sa.initiator && r.conn.mm == sa && (sa.state == p1SentMM3 || sa.state == p1SentMM5) {
			r.initRefused(sa, in) // the peer refuses our Main Mode: no keys (in common) yet
			return
		}
		// Unauthenticated: worth a log line (a peer's error), never an action.
		r.counters.Unexpected++
		for _, n := range isakmp.Notifications(in.m.Payloads) {
			r.log.Warn("peer sent an unauthenticated notify: ignored", "notify", n.NotifyType.String(), "sa", sa.String())
		}
		return
	}
	if sa.state != p1Established || h.MessageID == 0 {
		r.counters.Unexpected++
		return
	}
	if slices.Contains(sa.infoSeen, h.MessageID) {
		r.counters.Retransmits++ // a duplicate or a replay: already acted on
		return
	}
	iv := ike.V1PhaseIV(sa.suite.Hash, sa.lastBlock, h.MessageID, sa.cbc.BlockSize())
	plain, ps, _, err := sa.decrypt(in.m, iv)
	if err != nil {
		r.counters.DecryptFailed++
		r.log.Debug("informational does not decrypt", "hdr", h.String(), "err", err)
		return
	}
	hash, after, ok := ike.V1HashedPayloads(h.NextPayload, plain, ps)
	if !ok {
		r.counters.Malformed++
		return
	}
	want := ike.V1InfoHash(sa.suite.Hash, sa.keys.SKEYIDa, h.MessageID, after)
	if subtle.ConstantTimeCompare(want, hash) != 1 {
		r.counters.DecryptFailed++
		r.log.Warn("informational: HASH does not verify: dropped", "hdr", h.String())
		return
	}
	sa.infoSeen = append(sa.infoSeen, h.MessageID)
	if len(sa.infoSeen) > infoSeenMax {
		sa.infoSeen = sa.infoSeen[1:]
	}
	sa.local, sa.remote = in.local, in.remote
	alive := false
	for _, p := range ps[1:] {
		switch p := p.(type) {
		case *isakmp.Delete:
			alive = true
			r.handleDelete(sa, p, in)
		case *isakmp.Notification:
			if r.handleNotify(sa, p) {
				alive = true
			}
		}
	}
	if alive {
		r.lastIKE = r.clock.Now()
	}
}

// handleNotify acts on one authenticated notify. It reports whether the
// notify shows the peer alive (a stale DPD ack does not).
func (r *Responder) handleNotify(sa *isakmpSA, n *isakmp.Notification) bool {
	switch n.NotifyType {
	case isakmp.R_U_THERE:
		r.answerDPD(sa, n)
	case isakmp.R_U_THERE_ACK:
		return r.dpdAck(sa, n)
	case isakmp.INITIAL_CONTACT:
		r.log.Info("peer sent INITIAL_CONTACT", "sa", sa.String())
		r.initialContact(sa)
	default:
		if n.NotifyType < 16384 {
			if r.quickRefused(n) {
				break
			}
			r.log.Warn("peer reported an error", "notify", n.NotifyType.String(), "sa", sa.String())
		} else {
			r.log.Debug("peer sent a status notify", "notify", n.NotifyType.String(), "sa", sa.String())
		}
	}
	return true
}

// handleDelete removes what the peer deletes. For ESP the SPIs are the
// peer's inbound SPIs, which are our outbound ones.
func (r *Responder) handleDelete(sa *isakmpSA, d *isakmp.Delete, in *packet) {
	switch d.ProtocolID {
	case isakmp.ProtoIPsecESP, isakmp.ProtoIPsecAH:
		for _, out := range d.SPIs32() {
			for _, c := range r.children {
				if c.outSPI != out {
					continue
				}
				what := "IPsec SA deleted by peer"
				if c.rekeyed {
					what = "IPsec SA deleted by peer after rekey"
				}
				r.log.Info(what, "child", c.String(), "sa", sa.String())
				r.removeChild(c, "deleted by peer")
			}
		}
		r.maybeDown("deleted by peer")
	case isakmp.ProtoISAKMP:
		for _, spi := range d.SPIs {
			if len(spi) != 16 {
				continue
			}
			k := cookiePair{binary.BigEndian.Uint64(spi), binary.BigEndian.Uint64(spi[8:])}
			target := r.sas[k]
			if target == nil {
				continue
			}
			r.log.Info(fmt.Sprintf("ISAKMP SA deleted by peer %v (%d IPsec SAs kept)", in.remote.Addr(), len(r.children)),
				"sa", target.String())
			r.removeSA(target, "deleted by peer")
		}
	}
}

// sendInfo sends an informational exchange of ours: a fresh message ID, its
// own IV from the last phase-1 block, HASH(1) in front.
func (r *Responder) sendInfo(sa *isakmpSA, ps ...isakmp.Payload) {
	mid, err := r.randUint64(func(v uint64) bool { return uint32(v) == 0 || sa.quick[uint32(v)] != nil })
	if err != nil {
		return
	}
	msgID := uint32(mid)
	first, chain, err := ike.V1HashedChain(ps, func(after []byte) []byte {
		return ike.V1InfoHash(sa.suite.Hash, sa.keys.SKEYIDa, msgID, after)
	})
	if err != nil {
		r.log.Error("cannot build informational", "err", err)
		return
	}
	iv := ike.V1PhaseIV(sa.suite.Hash, sa.lastBlock, msgID, sa.cbc.BlockSize())
	hdr := isakmp.Header{ICookie: sa.ckyI, RCookie: sa.ckyR, Version: isakmp.Version,
		Exchange: isakmp.ExchangeInformational, MessageID: msgID}
	pkt, _ := sa.encrypt(hdr, first, chain, iv)
	r.out.Queue(pkt, sa.local, sa.remote)
}

func (r *Responder) sendDelete(sa *isakmpSA, d *isakmp.Delete) { r.sendInfo(sa, d) }
