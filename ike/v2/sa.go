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
	saRekeyed                    // replaced by a rekey; waiting for the peer's DELETE
)

type ikeSA struct {
	spii, spir uint64
	state      saState
	suite      ike.IKESuite
	keys       *ike.IKEKeys
	in, out    *ike.Protector // in: initiator→responder (SK_ei/SK_ai); out: SK_er/SK_ar

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
	// Our requests (DELETEs only).
	nextSendID uint32

	children map[uint32]*childSA // by our inbound SPI
	timer    ike.Timer           // half-open timeout or lifetime expiry
}

func (sa *ikeSA) String() string { return fmt.Sprintf("%016x_i %016x_r", sa.spii, sa.spir) }

type childSA struct {
	inSPI, outSPI     uint32
	esp               suite.ESP
	pfs               suite.DHGroup
	localTS, remoteTS []message.TrafficSelector
	local, remote     netip.AddrPort
	udpEncap          bool
	created           time.Time
	timer             ike.Timer
	rekeyed           bool // replaced by a newer CHILD_SA; the peer will delete it
}

func (c *childSA) String() string { return fmt.Sprintf("in=0x%08x out=0x%08x", c.inSPI, c.outSPI) }

func (sa *ikeSA) stopTimers() {
	if sa.timer != nil {
		sa.timer.Stop()
		sa.timer = nil
	}
	for _, c := range sa.children {
		if c.timer != nil {
			c.timer.Stop()
			c.timer = nil
		}
	}
}

// newProtectors builds the SK payload protectors from the IKE keys.
func (sa *ikeSA) newProtectors() error {
	var err error
	sa.in, err = ike.NewProtector(sa.suite.Cipher, sa.suite.Integ, sa.keys.SKei, sa.keys.SKai)
	if err != nil {
		return err
	}
	sa.out, err = ike.NewProtector(sa.suite.Cipher, sa.suite.Integ, sa.keys.SKer, sa.keys.SKar)
	return err
}

var errNoSK = errors.New("no SK payload")

// open verifies and decrypts the SK payload of a message from the peer
// (always the original initiator, so the "in" direction) and decodes the
// inner payloads.
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
// if no other authenticated IKE SA remains for the tunnel, so is IKE.
func (r *Responder) removeSA(sa *ikeSA, reason string) {
	sa.stopTimers()
	delete(r.sas, sa.spir)
	if r.byInit[sa.spii] == sa {
		delete(r.byInit, sa.spii)
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
		r.emit(ike.IKEDown{Tunnel: r.cfg.Tunnel, Reason: reason})
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

func (r *Responder) childDown(c *childSA, reason string) {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	r.emit(ike.ChildDown{Tunnel: r.cfg.Tunnel, InSPI: c.inSPI, OutSPI: c.outSPI, Reason: reason})
}

// expiry is when an SA of the given lifetime is dropped if the peer has not
// replaced it: the lifetime plus a grace of a tenth, at most lifetimeGraceMax.
func expiry(lifetime time.Duration) time.Duration {
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
		if r.sas[sa.spir] != sa || sa.state == saEstablished {
			return
		}
		r.log.Debug("IKE_SA dropped: not established in time", "spi", sa.String())
		r.removeSA(sa, "")
	})
}

// startIKELifetime expires an established IKE SA the peer never rekeyed.
func (r *Responder) startIKELifetime(sa *ikeSA) {
	if sa.timer != nil {
		sa.timer.Stop()
		sa.timer = nil
	}
	if r.cfg.IKELifetime <= 0 {
		return
	}
	sa.timer = r.afterFunc(expiry(r.cfg.IKELifetime), func() {
		if r.sas[sa.spir] != sa || sa.state != saEstablished {
			return
		}
		r.log.Info("IKE_SA expired: peer did not rekey it", "spi", sa.String(), "lifetime", r.cfg.IKELifetime)
		r.sendRequest(sa, message.INFORMATIONAL, []message.Payload{&message.Delete{Protocol: message.ProtocolIKE}})
		r.removeSA(sa, "expired")
	})
}

// startChildLifetime expires a CHILD_SA the peer never rekeyed.
func (r *Responder) startChildLifetime(sa *ikeSA, c *childSA) {
	if r.cfg.ChildLifetime <= 0 {
		return
	}
	c.timer = r.afterFunc(expiry(r.cfg.ChildLifetime), func() {
		// The child may have moved to a rekeyed IKE SA: find its current owner.
		owner := r.ownerOf(c)
		if owner == nil {
			return
		}
		r.log.Info("CHILD_SA expired: peer did not rekey it", "child", c.String(), "lifetime", r.cfg.ChildLifetime)
		delete(owner.children, c.inSPI)
		if owner.state == saEstablished {
			r.sendRequest(owner, message.INFORMATIONAL, []message.Payload{message.DeleteESP(c.inSPI)})
		}
		r.childDown(c, "expired")
	})
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
