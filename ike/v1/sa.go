package v1

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
	"github.com/vpgw/vpgw/suite"
)

// The long-lived ISAKMP SA keeps keys, cookies, the phase-1 CBC state and
// the Quick Modes in flight; what one Main Mode needs lives in mainMode and
// is dropped once it is done. IPsec SAs (childSA) belong to the tunnel.

type cookiePair struct{ i, r uint64 }

type p1State int

const (
	p1WaitKE      p1State = iota // MM2 sent, waiting for MM3
	p1WaitAuth                   // MM4 sent, waiting for MM5
	p1Established                // authenticated
	p1Failed                     // refused; kept briefly to answer retransmits

	// Main Modes we initiate (initiator.go).
	p1SentMM1 // waiting for MM2 (not yet in Responder.sas: no CKY-R)
	p1SentMM3 // waiting for MM4
	p1SentMM5 // waiting for MM6
)

type isakmpSA struct {
	ckyI, ckyR uint64
	initiator  bool // we sent MM1
	state      p1State
	suite      ike.V1Suite
	keys       *ike.V1Keys
	cbc        *ike.V1CBC

	local, remote netip.AddrPort // where the last message arrived / came from
	nat           natFlavor      // NAT-T dialect agreed with vendor IDs
	natDetected   bool
	peerDPD       bool // the peer announced RFC 3706 DPD

	mm  *mainMode // Main Mode in progress; nil once established
	mm1 []byte    // MM1 as received: its late duplicates are recognised

	// lastBlock is the last CBC block of phase 1 (of MM6): every Quick
	// Mode and informational exchange derives its first IV from it.
	lastBlock []byte

	// The last phase-1 message from the peer and our answer to it, for
	// retransmits (as initiator: MM2 and MM3, MM4 and MM5, MM6 and nothing).
	lastReq, lastResp []byte

	quick    map[uint32]*quickMode // by message ID
	infoSeen []uint32              // recent informational message IDs: replays are dropped

	peerID      string
	established time.Time
	timer       ike.Timer // half-open timeout or lifetime expiry
	rekeyTimer  ike.Timer // our re-authentication (rekey.go)
	replacedBy  *isakmpSA // our re-authentication of it is done or running
}

func (sa *isakmpSA) String() string { return fmt.Sprintf("%016x_i %016x_r", sa.ckyI, sa.ckyR) }

func (sa *isakmpSA) cookies() cookiePair { return cookiePair{sa.ckyI, sa.ckyR} }

func (sa *isakmpSA) stopTimers() {
	stopTimer(&sa.timer)
	stopTimer(&sa.rekeyTimer)
	for _, qm := range sa.quick {
		qm.stop()
	}
}

// forget drops the SA's secrets; it is gone.
func (sa *isakmpSA) forget() {
	if sa.keys != nil {
		sa.keys.Zero()
	}
	if sa.mm != nil {
		sa.mm.forget()
		sa.mm = nil
	}
	for _, qm := range sa.quick {
		qm.forget()
	}
	sa.quick = nil
}

// childSA is an IPsec SA pair negotiated by Quick Mode. It outlives the
// ISAKMP SA that negotiated it (RFC 2409 does not tie them together).
type childSA struct {
	inSPI, outSPI     uint32
	esp               suite.ESP
	pfs               suite.DHGroup
	localTS, remoteTS tsRange
	local, remote     netip.AddrPort
	udpEncap          bool
	lifetime          time.Duration
	created           time.Time
	owner             cookiePair // the ISAKMP SA that negotiated it
	timer             ike.Timer  // lifetime expiry
	rekeyed           bool       // a newer SA with the same selectors exists

	// Rekeying (rekey.go).
	byUs        bool       // we initiated the Quick Mode that made it
	ni, nr      []byte     // that Quick Mode's nonces: the collision rule compares them
	rekeyTimer  ike.Timer  // our rekey
	deleteTimer ike.Timer  // our DELETE of it, after a rekey or a collision
	ourRekey    *quickMode // our Quick Mode replacing it, in flight
	rekeyWanted bool       // rekey as soon as an ISAKMP SA is established
	successors  []*childSA // the SAs that replaced it (two after a collision)
	redundant   bool       // lost a rekey collision; being deleted
}

func (c *childSA) String() string { return fmt.Sprintf("in=0x%08x out=0x%08x", c.inSPI, c.outSPI) }

func (c *childSA) stopTimer() {
	stopTimer(&c.timer)
	stopTimer(&c.rekeyTimer)
	stopTimer(&c.deleteTimer)
}

func stopTimer(t *ike.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

var errNotEncrypted = errors.New("message is not encrypted")

// decrypt opens an encrypted message body under iv and parses its payload
// chain. It returns the plaintext (for hashes over raw payloads) and the
// IV for the exchange's next message; the caller commits that IV only once
// the message is authenticated.
func (sa *isakmpSA) decrypt(m *isakmp.Message, iv []byte) (plain []byte, ps []isakmp.Payload, nextIV []byte, err error) {
	if !m.Header.Encrypted() {
		return nil, nil, nil, errNotEncrypted
	}
	plain, nextIV, err = sa.cbc.Decrypt(iv, m.Body)
	if err != nil {
		return nil, nil, nil, err
	}
	ps, err = isakmp.ParsePayloads(m.Header.NextPayload, plain)
	if err != nil {
		return nil, nil, nil, err
	}
	return plain, ps, nextIV, nil
}

// encrypt builds an encrypted message of chain (first is its first
// payload's type) under iv, returning the packet and the next IV.
func (sa *isakmpSA) encrypt(h isakmp.Header, first isakmp.PayloadType, chain, iv []byte) (pkt, nextIV []byte) {
	ct, nextIV := sa.cbc.Encrypt(iv, chain)
	return isakmp.AppendEncrypted(make([]byte, 0, isakmp.HeaderLen+len(ct)), h, first, ct), nextIV
}

// clearNotify builds an unencrypted informational carrying one notify,
// for refusals before keys exist (or when the peer cannot have our keys).
func (r *Responder) clearNotify(ckyI, ckyR uint64, t isakmp.NotifyType) ([]byte, error) {
	mid, err := r.randUint64(func(v uint64) bool { return uint32(v) == 0 })
	if err != nil {
		return nil, err
	}
	m := isakmp.Message{
		Header: isakmp.Header{ICookie: ckyI, RCookie: ckyR, Version: isakmp.Version,
			Exchange: isakmp.ExchangeInformational, MessageID: uint32(mid)},
		Payloads: []isakmp.Payload{&isakmp.Notification{DOI: isakmp.DOIIPsec, ProtocolID: isakmp.ProtoISAKMP, NotifyType: t}},
	}
	return m.Serialize()
}

// failHalfOpen answers a refused first message (MM1 without an acceptable
// proposal, Aggressive Mode) with a clear notify, and keeps a failed SA for
// halfOpenTimeout so retransmits get the same answer and no new event.
func (r *Responder) failHalfOpen(in *packet, t isakmp.NotifyType) {
	h := in.m.Header
	ckyR, err := r.newCookie()
	if err != nil {
		return
	}
	pkt, err := r.clearNotify(h.ICookie, ckyR, t)
	if err != nil {
		r.log.Error("cannot build notify", "err", err)
		return
	}
	sa := &isakmpSA{ckyI: h.ICookie, ckyR: ckyR, state: p1Failed, local: in.local, remote: in.remote,
		lastReq: in.m.Raw, lastResp: pkt}
	r.sas[sa.cookies()] = sa
	r.byInit[sa.ckyI] = sa
	r.startHalfOpenTimer(sa)
	r.out.Queue(pkt, in.local, in.remote)
}

func (r *Responder) newCookie() (uint64, error) {
	return r.randUint64(func(v uint64) bool {
		for k := range r.sas {
			if k.r == v {
				return true
			}
		}
		return false
	})
}

// answerRetransmit resends the cached answer when req repeats the last
// request byte for byte (RFC 2408 §5: the peer retransmits on loss).
func (r *Responder) answerRetransmit(req, lastReq, lastResp []byte, in *packet) bool {
	if lastReq == nil || !bytes.Equal(req, lastReq) {
		return false
	}
	r.counters.Retransmits++
	if lastResp != nil {
		r.log.Debug("retransmitted request answered from cache", "hdr", in.m.Header.String())
		r.out.Queue(lastResp, in.local, in.remote)
	}
	return true
}

// removeSA forgets an ISAKMP SA. Its IPsec SAs stay. With a reason, and if
// nothing is left of the tunnel, IKEDown follows.
func (r *Responder) removeSA(sa *isakmpSA, reason string) {
	sa.stopTimers()
	if r.conn.mm == sa {
		r.conn.req.answered()
		r.conn.mm, r.conn.req, r.conn.replaces = nil, nil, nil
	}
	delete(r.sas, sa.cookies())
	if r.byInit[sa.ckyI] == sa {
		delete(r.byInit, sa.ckyI)
	}
	sa.state = p1Failed
	sa.forget()
	if reason != "" {
		r.maybeDown(reason)
	}
}

// removeChild forgets an IPsec SA and reports it down.
func (r *Responder) removeChild(c *childSA, reason string) {
	c.stopTimer()
	if r.children[c.inSPI] != c {
		return
	}
	delete(r.children, c.inSPI)
	r.out.Emit(ike.ChildDown{Tunnel: r.cfg.Tunnel, InSPI: c.inSPI, OutSPI: c.outSPI, Reason: reason})
}

// maybeDown emits IKEDown once the tunnel has neither an established
// ISAKMP SA nor an IPsec SA.
func (r *Responder) maybeDown(reason string) {
	if !r.up || r.newestEstablished() != nil || len(r.children) > 0 {
		return
	}
	r.up = false
	r.stopDPD()
	r.out.Emit(ike.IKEDown{Tunnel: r.cfg.Tunnel, Reason: reason})
	r.tunnelDown()
}

// clearAll removes every SA of the tunnel (dead peer): IPsec SAs first, as
// the gateway expects ChildDown before IKEDown.
func (r *Responder) clearAll(reason string) {
	for _, c := range r.children {
		r.removeChild(c, reason)
	}
	for _, sa := range r.sas {
		r.removeSA(sa, "")
	}
	if r.conn.mm != nil {
		r.abandonMainMode()
	}
	if r.up {
		r.up = false
		r.stopDPD()
		r.out.Emit(ike.IKEDown{Tunnel: r.cfg.Tunnel, Reason: reason})
		r.tunnelDown()
	}
}

func (r *Responder) newestEstablished() *isakmpSA {
	var newest *isakmpSA
	for _, sa := range r.sas {
		if sa.state == p1Established && (newest == nil || sa.established.After(newest.established)) {
			newest = sa
		}
	}
	return newest
}

// expiry is when an SA of the given lifetime is dropped if the peer has not
// replaced it: the lifetime plus a grace of a tenth, at most lifetimeGraceMax.
func expiry(lifetime time.Duration) time.Duration {
	return lifetime + min(lifetime/10, lifetimeGraceMax)
}

// startHalfOpenTimer drops sa if it is still not established after
// halfOpenTimeout (a stalled Main Mode, or a refused one).
func (r *Responder) startHalfOpenTimer(sa *isakmpSA) {
	if sa.timer != nil {
		sa.timer.Stop()
	}
	sa.timer = r.afterFunc(halfOpenTimeout, func() {
		if r.sas[sa.cookies()] != sa || sa.state == p1Established {
			return
		}
		r.log.Debug("ISAKMP SA dropped: Main Mode not completed in time", "sa", sa.String())
		r.removeSA(sa, "")
	})
}

// startISAKMPLifetime expires an ISAKMP SA the peer never replaced. Its
// IPsec SAs are not touched (they have their own lifetimes).
func (r *Responder) startISAKMPLifetime(sa *isakmpSA) {
	if sa.timer != nil {
		sa.timer.Stop()
		sa.timer = nil
	}
	if sa.suite.Lifetime <= 0 {
		return
	}
	sa.timer = r.afterFunc(expiry(sa.suite.Lifetime), func() {
		if r.sas[sa.cookies()] != sa || sa.state != p1Established {
			return
		}
		r.log.Info(fmt.Sprintf("ISAKMP SA expired: peer did not re-authenticate (lifetime %v); %d IPsec SAs kept",
			sa.suite.Lifetime, len(r.children)), "sa", sa.String())
		r.sendDelete(sa, deleteISAKMP(sa))
		r.removeSA(sa, "expired")
	})
}

// startChildLifetime expires an IPsec SA the peer never rekeyed.
func (r *Responder) startChildLifetime(c *childSA) {
	if c.lifetime <= 0 {
		return
	}
	c.timer = r.afterFunc(expiry(c.lifetime), func() {
		if r.children[c.inSPI] != c {
			return
		}
		r.log.Info("IPsec SA expired: peer did not rekey it", "child", c.String(), "lifetime", c.lifetime)
		if sa := r.newestEstablished(); sa != nil {
			r.sendDelete(sa, deleteESP(c.inSPI))
		}
		r.removeChild(c, "expired")
		r.maybeDown("expired")
	})
}

// newInboundSPI picks our ESP SPI: random, not reserved (RFC 4303 §2.1
// reserves 1–255), not used by this tunnel or a Quick Mode in flight.
func (r *Responder) newInboundSPI() (uint32, error) {
	v, err := r.randUint64(func(v uint64) bool {
		spi := uint32(v)
		if spi < 256 || r.children[spi] != nil {
			return true
		}
		for _, sa := range r.sas {
			for _, qm := range sa.quick {
				if qm.inSPI == spi {
					return true
				}
			}
		}
		return false
	})
	return uint32(v), err
}

func deleteESP(spis ...uint32) *isakmp.Delete { return isakmp.DeleteESP(spis...) }

func deleteISAKMP(sa *isakmpSA) *isakmp.Delete { return isakmp.DeleteISAKMP(sa.ckyI, sa.ckyR) }

// find returns the first payload of type T among ps.
func find[T isakmp.Payload](ps []isakmp.Payload) (T, bool) {
	for _, p := range ps {
		if v, ok := p.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// findAll returns the payloads of type T among ps, in order.
func findAll[T isakmp.Payload](ps []isakmp.Payload) []T {
	var out []T
	for _, p := range ps {
		if v, ok := p.(T); ok {
			out = append(out, v)
		}
	}
	return out
}
