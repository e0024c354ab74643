package v2

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

// The long-lived IKE SA keeps keys, SPIs, message IDs and children only;
// what a single exchange needs lives in that exchange's handler.

type saState int

const (
	saHalfOpen    saState = iota // IKE_SA_INIT answered, waiting for IKE_AUTH
	saEstablished                // authenticated
	saFailed                     // IKE_AUTH refused; kept briefly to answer retransmits
	saRekeyed                    // replaced by a rekey (or redundant after a collision); being deleted
)

type ikeSA struct {
	spii, spir uint64
	initiator  bool // we are the original initiator (we sent IKE_SA_INIT or started the rekey)
	state      saState
	suite      ike.IKESuite
	keys       *ike.IKEKeys
	in, out    *ike.Protector // from and to the peer (SK_ei/SK_er swapped by role)

	local, remote netip.AddrPort // where the last request arrived / came from
	natt          bool

	// IKE_SA_INIT as exchanged: AUTH signs both messages, and retransmits
	// of the request are answered with the stored response.
	initReq, initResp []byte
	ni, nr            []byte // IKE_SA_INIT nonces, dropped once IKE_AUTH is done

	peerID      string
	established time.Time

	// The peer's requests: window size 1 (RFC 7296 §2.3).
	nextRecvID uint32
	lastResp   []byte // response to request nextRecvID-1
	// Our requests (request.go): one in flight, the rest queued.
	nextSendID uint32
	inflight   *outReq
	reqQ       []*outReq

	children   map[uint32]*childSA // by our inbound SPI
	timer      ike.Timer           // half-open timeout or lifetime expiry
	rekeyTimer ike.Timer           // our rekey of this IKE SA (rekey.go)

	// Rekeys of this IKE SA in progress, ours and the peer's; both set
	// means a collision (RFC 7296 §2.8.2), resolved in rekey.go.
	ourRekey, peerRekey *ikeRekey
	deleting            bool // we sent (or are about to send) a DELETE for it
}

func (sa *ikeSA) String() string { return fmt.Sprintf("%016x_i %016x_r", sa.spii, sa.spir) }

// ourSPI is the SPI we chose, under which r.sas keeps the SA.
func (sa *ikeSA) ourSPI() uint64 {
	if sa.initiator {
		return sa.spii
	}
	return sa.spir
}

// flags is the I flag of the messages we send on sa (RFC 7296 §3.1).
func (sa *ikeSA) flags() uint8 {
	if sa.initiator {
		return message.FlagInitiator
	}
	return 0
}

type childSA struct {
	inSPI, outSPI     uint32
	esp               suite.ESP
	pfs               suite.DHGroup
	localTS, remoteTS []message.TrafficSelector
	local, remote     netip.AddrPort
	udpEncap          bool
	created           time.Time
	timer             ike.Timer // lifetime expiry
	rekeyTimer        ike.Timer // our rekey (child_rekey.go)
	deleteTimer       ike.Timer // our DELETE of this SA after we replaced it
	byUs              bool      // created by our request (we were the exchange's initiator)
	rekeyed           bool      // replaced by a newer CHILD_SA
	redundant         bool      // lost a rekey collision; being deleted
	deleting          bool      // we sent a DELETE for it

	// up is the ChildUp this child is announced with; announced says
	// whether it was (a child that loses a rekey collision before it was
	// announced never is, and so gets no ChildDown either).
	up        ike.ChildSA
	announced bool

	// Rekeys of this child, ours and the peer's (collisions: child_rekey.go).
	ourRekey, peerRekey *childRekey
}

func (c *childSA) String() string { return fmt.Sprintf("in=0x%08x out=0x%08x", c.inSPI, c.outSPI) }

func stopTimer(t *ike.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// stopTimers stops the SA's timers, its children's, and drops its requests.
func (sa *ikeSA) stopTimers() {
	stopTimer(&sa.timer)
	stopTimer(&sa.rekeyTimer)
	if sa.inflight != nil {
		stopTimer(&sa.inflight.timer)
		sa.inflight = nil
	}
	sa.reqQ = nil
	for _, c := range sa.children {
		c.stopTimers()
	}
}

func (c *childSA) stopTimers() {
	stopTimer(&c.timer)
	stopTimer(&c.rekeyTimer)
	stopTimer(&c.deleteTimer)
}

// newProtectors builds the SK payload protectors from the IKE keys: the
// original initiator sends with SK_ei/SK_ai, the responder with SK_er/SK_ar.
func (sa *ikeSA) newProtectors() error {
	inE, inA, outE, outA := sa.keys.SKei, sa.keys.SKai, sa.keys.SKer, sa.keys.SKar
	if sa.initiator {
		inE, inA, outE, outA = outE, outA, inE, inA
	}
	var err error
	sa.in, err = ike.NewProtector(sa.suite.Cipher, sa.suite.Integ, inE, inA)
	if err != nil {
		return err
	}
	sa.out, err = ike.NewProtector(sa.suite.Cipher, sa.suite.Integ, outE, outA)
	return err
}

var errNoSK = errors.New("no SK payload")

// open verifies and decrypts the SK payload of a message from the peer
// and decodes the inner payloads.
func (sa *ikeSA) open(m *message.Message) ([]message.Payload, error) {
	if sa.in == nil || len(m.Payloads) == 0 {
		return nil, errNoSK
	}
	sk, ok := m.Payloads[len(m.Payloads)-1].(*message.Encrypted)
	if !ok || len(m.Payloads) != 1 {
		// RFC 7296 §3.14: after IKE_SA_INIT everything is inside SK, and SK is last.
		return nil, errNoSK
	}
	if sk.BodyOffset < message.HeaderLen || sk.BodyOffset > len(m.Raw) {
		return nil, errNoSK
	}
	plain, err := sa.in.Open(m.Raw[:sk.BodyOffset], sk.Body)
	if err != nil {
		return nil, err
	}
	return message.ParsePayloads(sk.NextPayload, plain)
}

// seal builds a complete encrypted message with our outbound keys.
func (sa *ikeSA) seal(h message.Header, payloads []message.Payload, rand io.Reader) ([]byte, error) {
	inner, plain, err := message.SerializePayloads(payloads)
	if err != nil {
		return nil, err
	}
	n := sa.out.SealedLen(len(plain))
	pkt := message.AppendEncryptedHeader(make([]byte, 0, message.HeaderLen+4+n), h, inner, n)
	body := sa.out.Seal(pkt, plain, rand)
	if len(body) != n {
		return nil, fmt.Errorf("sealed %d bytes, expected %d", len(body), n)
	}
	return append(pkt, body...), nil
}

// removeSA forgets sa. With a reason, its children are reported down and,
// if no other authenticated IKE SA remains for the tunnel, so is IKE (and,
// with startup_action "start", a new IKE SA is initiated soon).
func (r *Responder) removeSA(sa *ikeSA, reason string) {
	sa.stopTimers()
	if r.sas[sa.ourSPI()] == sa {
		delete(r.sas, sa.ourSPI())
	}
	if r.byInit[sa.spii] == sa {
		delete(r.byInit, sa.spii)
	}
	if r.conn.sa == sa {
		r.conn.active, r.conn.sa = false, nil // our initiation ends with it
	}
	wasUp := sa.state == saEstablished
	sa.state = saFailed
	if reason == "" {
		sa.children = nil
		return
	}
	for _, c := range sa.children {
		r.childDown(c, reason)
	}
	sa.children = nil
	if wasUp && !r.anyEstablished() {
		r.out.Emit(ike.IKEDown{Tunnel: r.cfg.Tunnel, Reason: reason})
		r.tunnelDown()
	}
}

func (r *Responder) anyEstablished() bool {
	for _, sa := range r.sas {
		if sa.state == saEstablished {
			return true
		}
	}
	return false
}

// newestEstablished is the IKE SA DPD and forced rekeys work on.
func (r *Responder) newestEstablished() *ikeSA {
	var newest *ikeSA
	for _, sa := range r.sas {
		if sa.state == saEstablished && (newest == nil || sa.established.After(newest.established)) {
			newest = sa
		}
	}
	return newest
}

// announce emits ChildUp for c once.
func (r *Responder) announce(c *childSA) {
	if c.announced {
		return
	}
	c.announced = true
	r.out.Emit(ike.ChildUp{Child: c.up})
}

// childDown stops c's timers and reports it gone, if it was ever announced.
func (r *Responder) childDown(c *childSA, reason string) {
	c.stopTimers()
	if c.announced {
		r.out.Emit(ike.ChildDown{Tunnel: r.cfg.Tunnel, InSPI: c.inSPI, OutSPI: c.outSPI, Reason: reason})
	}
}

// rekeying reports whether we rekey SAs ourselves (rekey_margin set).
func (r *Responder) rekeying() bool { return r.cfg.RekeyMargin > 0 }

// expiry is when an SA of the given lifetime is dropped if it was not
// replaced. When we rekey ourselves that is the lifetime itself (a hard
// limit); otherwise the peer is expected to rekey and we allow a grace of a
// tenth of the lifetime, at most lifetimeGraceMax.
func (r *Responder) expiry(lifetime time.Duration) time.Duration {
	if r.rekeying() {
		return lifetime
	}
	return lifetime + min(lifetime/10, lifetimeGraceMax)
}

// startHalfOpenTimer drops sa if it is still not established after
// halfOpenTimeout (a lost IKE_AUTH, a refused one, or a rekeyed SA whose
// DELETE never came).
func (r *Responder) startHalfOpenTimer(sa *ikeSA) {
	if sa.timer != nil {
		sa.timer.Stop()
	}
	sa.timer = r.afterFunc(halfOpenTimeout, func() {
		if r.sas[sa.ourSPI()] != sa || sa.state == saEstablished {
			return
		}
		r.log.Debug("IKE_SA dropped: not established in time", "spi", sa.String())
		r.removeSA(sa, "")
	})
}

// startIKELifetime expires an established IKE SA that was not rekeyed and,
// with rekey_margin set, schedules our own rekey of it.
func (r *Responder) startIKELifetime(sa *ikeSA) {
	stopTimer(&sa.timer)
	stopTimer(&sa.rekeyTimer)
	if r.cfg.IKELifetime <= 0 {
		return
	}
	sa.timer = r.afterFunc(r.expiry(r.cfg.IKELifetime), func() {
		if r.sas[sa.ourSPI()] != sa || sa.state != saEstablished {
			return
		}
		reason := "expired"
		if r.rekeying() {
			reason = "IKE SA expired"
			r.log.Warn("IKE_SA expired: not rekeyed within its lifetime", "spi", sa.String(), "lifetime", r.cfg.IKELifetime)
		} else {
			r.log.Info("IKE_SA expired: peer did not rekey it", "spi", sa.String(), "lifetime", r.cfg.IKELifetime)
		}
		r.sendRequest(sa, message.INFORMATIONAL, []message.Payload{&message.Delete{Protocol: message.ProtocolIKE}})
		r.removeSA(sa, reason)
	})
	if r.rekeying() {
		sa.rekeyTimer = r.afterFunc(r.rekeyAfter(r.cfg.IKELifetime), func() {
			sa.rekeyTimer = nil
			r.ikeRekeyDue(sa)
		})
	}
}

// startChildLifetime expires a CHILD_SA that was not rekeyed and, with
// rekey_margin set, schedules our own rekey of it.
func (r *Responder) startChildLifetime(sa *ikeSA, c *childSA) {
	if r.cfg.ChildLifetime <= 0 {
		return
	}
	c.timer = r.afterFunc(r.expiry(r.cfg.ChildLifetime), func() {
		c.timer = nil
		// The child may have moved to a rekeyed IKE SA: find its current owner.
		owner := r.ownerOf(c)
		if owner == nil {
			return
		}
		if r.rekeying() {
			r.log.Warn("CHILD_SA expired: not rekeyed within its lifetime", "child", c.String(), "lifetime", r.cfg.ChildLifetime)
		} else {
			r.log.Info("CHILD_SA expired: peer did not rekey it", "child", c.String(), "lifetime", r.cfg.ChildLifetime)
		}
		delete(owner.children, c.inSPI)
		if owner.state == saEstablished && !c.deleting {
			r.request(owner, &outReq{exchange: message.INFORMATIONAL, what: "DELETE of an expired CHILD_SA",
				payloads: []message.Payload{message.DeleteESP(c.inSPI)}, movable: true})
		}
		r.childDown(c, "expired")
	})
	if r.rekeying() {
		c.rekeyTimer = r.afterFunc(r.rekeyAfter(r.cfg.ChildLifetime), func() {
			c.rekeyTimer = nil
			r.childRekeyDue(c)
		})
	}
}

func (r *Responder) ownerOf(c *childSA) *ikeSA {
	for _, sa := range r.sas {
		if sa.children[c.inSPI] == c {
			return sa
		}
	}
	return nil
}

// newInboundSPI picks our ESP SPI: random, not reserved (RFC 4303 §2.1
// reserves 1–255), not already used by this tunnel.
func (r *Responder) newInboundSPI() (uint32, error) {
	v, err := r.randUint64(func(v uint64) bool {
		spi := uint32(v)
		if spi < 256 {
			return true
		}
		for _, sa := range r.sas {
			if sa.children[spi] != nil {
				return true
			}
		}
		return false
	})
	return uint32(v), err
}

// find returns the first payload of type T among ps.
func find[T message.Payload](ps []message.Payload) (T, bool) {
	for _, p := range ps {
		if v, ok := p.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

func errorNotify(t message.NotifyType, data []byte) []message.Payload {
	return []message.Payload{&message.Notify{NotifyType: t, Data: data}}
}

// findType returns the first payload whose Type() is t, or nil. It tells
// IDi from IDr and TSi from TSr, which share Go types.
func findType(ps []message.Payload, t message.PayloadType) message.Payload {
	for _, p := range ps {
		if p.Type() == t {
			return p
		}
	}
	return nil
}
