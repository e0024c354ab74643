// Package v2 is vpgw's IKEv2 endpoint (RFC 7296): the AWS VGW side of a
// Site-to-Site VPN tunnel. The customer gateway usually initiates; vpgw can
// initiate too (startup_action "start", initiator.go), and it runs its own
// dead peer detection (dpd.go) and rekeys (rekey.go, child_rekey.go).
//
// One Responder serves one tunnel. Packets arrive through HandlePacket from
// the socket readers; each exchange has its own file with message-driven
// steps (sa_init.go, auth.go, child.go, rekey.go, informational.go) that take
// a decoded request and return the reply payloads. Only this file, sa.go and
// request.go deal with bytes on the wire: message IDs, the response cache,
// our own requests and their retransmits, sealing and sending. A single mutex guards all state; replies and events produced
// under it are queued and handed out after it is released, so a slow events
// reader never blocks the state machine's other callers.
package v2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
)

// Config is one tunnel's IKEv2 policy.
type Config struct {
	Tunnel      string
	Local, Peer netip.Addr // our outside address; the customer gateway's public (or NAT) address
	PSK         []byte
	IKE, ESP    ike.Policy

	IKELifetime, ChildLifetime time.Duration // 0: never expire

	// Traffic selectors we accept, narrowed into (RFC 7296 §2.9).
	// AllowedLocalTS is our (VPC) side, matched against TSr; AllowedRemoteTS
	// the customer side, matched against TSi. Empty means 0.0.0.0/0. When we
	// initiate, they are what we propose (TSi and TSr respectively).
	AllowedLocalTS, AllowedRemoteTS []netip.Prefix

	// Dead peer detection (dpd.go). After DPDDelay without any message
	// from the peer and without inbound ESP (LastInbound, optional, says
	// when the datapath last received ESP on this tunnel) we send a
	// liveness check; unanswered for DPDTimeout, the peer is dead and
	// DPDAction applies: "clear" (or "") deletes the SAs, "restart" deletes
	// them and initiates a new IKE SA, "none" keeps them and emits
	// ike.PeerDead. DPDDelay 0 disables our checks (the peer's are always
	// answered).
	DPDDelay, DPDTimeout time.Duration
	DPDAction            string
	LastInbound          func() time.Time

	// Our own rekeys (rekey.go): each SA is rekeyed at its lifetime minus
	// RekeyMargin minus a random part of up to RekeyFuzz percent of
	// RekeyMargin, and hard-expires at its lifetime. RekeyMargin 0: we never
	// rekey, the peer is expected to (SAs expire a little after their
	// lifetime).
	RekeyMargin time.Duration
	RekeyFuzz   int

	// StartupAction "start": after Initiate, keep an IKE SA up, initiating
	// again whenever the tunnel's last IKE SA goes away. "add" or "": the
	// customer gateway initiates.
	StartupAction string

	// ForceUDPEncap encapsulates ESP in UDP 4500 even without a NAT (like
	// strongSwan's encap=yes): our NAT-D source hash is faked so that the
	// peer encapsulates as well. For paths that drop IP protocol 50, and
	// for the UDP offloads (GSO/GRO) raw ESP cannot have.
	ForceUDPEncap bool
}

// Values of Config.DPDAction and Config.StartupAction.
const (
	DPDActionClear   = "clear"
	DPDActionRestart = "restart"
	DPDActionNone    = "none"
	StartupStart     = "start"
)

// SendFunc sends one IKE message from local to remote. The sender adds the
// non-ESP marker when the local port is 4500.
type SendFunc func(pkt []byte, local, remote netip.AddrPort) error

// Counters count what HandlePacket saw; every dropped packet lands in one
// of the drop counters.
type Counters struct {
	Received      uint64
	WrongPeer     uint64 // source address is not the customer gateway
	Malformed     uint64 // failed to parse, or breaks an exchange's rules
	UnknownSPI    uint64 // no IKE SA with these SPIs
	BadMessageID  uint64 // outside the window (RFC 7296 §2.2)
	DecryptFailed uint64 // SK payload failed integrity check or decryption
	Unexpected    uint64 // valid but out of place (wrong exchange or state)
	Retransmits   uint64 // retransmitted requests answered from the cache
	SendErrors    uint64

	// Flood protection (limits.go, cookie.go).
	CookiesSent     uint64 // IKE_SA_INITs answered with a COOKIE, no state kept
	BadCookies      uint64 // of those, the ones carrying a cookie we did not make (or too old)
	HalfOpenLimit   uint64 // IKE_SA_INITs dropped: too many half-open IKE SAs (source or tunnel)
	HalfOpenEvicted uint64 // half-open IKE SAs without a cookie dropped for one with a cookie
}

// Status is a snapshot of the tunnel's IKE state for status output.
type Status struct {
	Established bool           // an authenticated IKE SA exists
	NATT        bool           // NAT detected: ESP goes in UDP 4500
	Remote      netip.AddrPort // where the peer's last request came from
	IKESuite    string         // e.g. "aes128-sha2-256-prf-sha2-256-modp2048"
	ESPSuite    string         // of the newest CHILD_SA, e.g. "aes128-gcm-16"
	IKESAs      int
	ChildSAs    int
	Counters    Counters
}

// Tunable times.
const (
	// halfOpenTimeout bounds how long an IKE SA waits for IKE_AUTH, how long
	// a refused one keeps answering retransmits, and how long an IKE SA
	// replaced by a rekey waits for the peer's DELETE.
	halfOpenTimeout = 30 * time.Second
	// lifetimeGraceMax caps the slack after a lifetime before we expire an
	// SA the peer has not rekeyed (when we do not rekey ourselves).
	lifetimeGraceMax = 5 * time.Minute
)

// Responder is the IKEv2 responder of one tunnel.
type Responder struct {
	cfg   Config
	clock ike.Clock
	rand  io.Reader
	log   *slog.Logger

	mu       sync.Mutex
	sas      map[uint64]*ikeSA // by our SPI (SPIr, or SPIi for SAs we initiated)
	byInit   map[uint64]*ikeSA // by the peer's SPIi, to answer IKE_SA_INIT retransmits
	counters Counters
	closed   bool
	out      ike.Outbox // replies and events produced under mu, handed out after it
	flood    floodState // half-open limits and cookies (limits.go)

	lastIKE time.Time  // when the peer last sent a valid message
	dpd     dpdState   // dpd.go
	conn    connecting // initiator.go
}

// NewResponder returns a responder for one tunnel. Events are sent on
// events in order, blocking, but never while holding the state lock: the
// events reader may call back into the Responder.
func NewResponder(cfg Config, send SendFunc, events chan<- ike.Event, clock ike.Clock, rand io.Reader, log *slog.Logger) *Responder {
	if len(cfg.AllowedLocalTS) == 0 {
		cfg.AllowedLocalTS = anyIPv4
	}
	if len(cfg.AllowedRemoteTS) == 0 {
		cfg.AllowedRemoteTS = anyIPv4
	}
	if cfg.DPDDelay > 0 && cfg.DPDTimeout <= 0 {
		cfg.DPDTimeout = defaultDPDTimeout
	}
	cfg.Local = cfg.Local.Unmap()
	cfg.Peer = cfg.Peer.Unmap()
	log = log.With("tunnel", cfg.Tunnel)
	return &Responder{
		cfg:    cfg,
		clock:  clock,
		rand:   rand,
		log:    log,
		out:    ike.Outbox{Send: send, Events: events, Log: log},
		sas:    make(map[uint64]*ikeSA),
		byInit: make(map[uint64]*ikeSA),
	}
}

// HandlePacket processes one IKE message (without the non-ESP marker) that
// arrived on local from remote. pkt is not kept. It never panics on bad input:
// bad packets are counted and dropped.
func (r *Responder) HandlePacket(pkt []byte, local, remote netip.AddrPort) {
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	r.mu.Lock()
	r.handle(pkt, local, remote)
	r.unlockAndFlush()
}

func (r *Responder) handle(pkt []byte, local, remote netip.AddrPort) {
	r.counters.Received++
	if r.closed {
		return
	}
	if remote.Addr() != r.cfg.Peer {
		r.counters.WrongPeer++
		r.log.Debug("dropped IKE packet from unknown peer", "from", remote)
		return
	}
	// Parse keeps slices of its input (Raw, bodies); the caller's buffer is
	// reused after we return.
	m, err := message.Parse(bytes.Clone(pkt))
	if err != nil {
		r.counters.Malformed++
		r.log.Debug("dropped malformed IKE packet", "from", remote, "err", err)
		return
	}
	h := m.Header
	if h.Exchange == message.IKE_SA_INIT {
		if h.IsResponse() {
			r.handleSAInitResponse(m, local, remote)
			return
		}
		r.handleSAInit(m, local, remote)
		return
	}
	sa := r.lookup(h)
	if sa == nil {
		r.counters.UnknownSPI++
		r.log.Debug("dropped IKE packet for unknown SA", "hdr", h.String())
		return
	}
	if h.IsResponse() {
		r.handleResponse(sa, m)
		return
	}
	if h.IsInitiator() == sa.initiator {
		// Requests of the original initiator carry the I flag, the other
		// side's do not.
		r.counters.Malformed++
		return
	}
	switch {
	case h.MessageID == sa.nextRecvID:
	case h.MessageID+1 == sa.nextRecvID && sa.lastResp != nil:
		// A retransmit: resend the cached response exactly, once we know it
		// really came from the peer (no reflection of spoofed packets).
		if _, err := sa.open(m); err != nil {
			r.counters.DecryptFailed++
			return
		}
		r.counters.Retransmits++
		r.log.Debug("retransmitted request answered from cache", "hdr", h.String())
		r.out.Queue(sa.lastResp, local, remote)
		return
	default:
		r.counters.BadMessageID++
		r.log.Debug("dropped request outside the window", "hdr", h.String(), "expected", sa.nextRecvID)
		return
	}
	payloads, err := sa.open(m)
	if err != nil {
		if errors.Is(err, errNoSK) {
			r.counters.Malformed++
		} else {
			r.counters.DecryptFailed++
		}
		r.log.Debug("dropped undecryptable request", "hdr", h.String(), "err", err)
		return
	}
	r.lastIKE = r.clock.Now()
	in := &request{hdr: h, payloads: payloads, local: local, remote: remote}
	var reply []message.Payload
	var ok bool
	switch h.Exchange {
	case message.IKE_AUTH:
		if !sa.initiator {
			reply, ok = r.handleAuth(sa, in)
		}
	case message.CREATE_CHILD_SA:
		reply, ok = r.handleCreateChild(sa, in)
	case message.INFORMATIONAL:
		reply, ok = r.handleInformational(sa, in)
	default:
		r.log.Debug("dropped request of unknown exchange", "hdr", h.String())
	}
	if !ok {
		r.counters.Unexpected++
		return
	}
	sa.local, sa.remote = local, remote
	r.respond(sa, h, reply, local, remote)
}

// lookup finds the IKE SA a message belongs to: by SPIr if the peer
// initiated it, by SPIi if we did.
func (r *Responder) lookup(h message.Header) *ikeSA {
	if sa := r.sas[h.SPIr]; sa != nil && !sa.initiator && sa.spii == h.SPIi {
		return sa
	}
	if sa := r.sas[h.SPIi]; sa != nil && sa.initiator && sa.spir == h.SPIr && sa.spir != 0 {
		return sa
	}
	return nil
}

// request is a decrypted request handed to an exchange's handler.
type request struct {
	hdr           message.Header
	payloads      []message.Payload
	local, remote netip.AddrPort
}

// respond seals the reply with sa's keys, caches it for retransmits and
// advances the window. It is called after the handler, which may already
// have removed sa: the keys stay valid for this last message.
func (r *Responder) respond(sa *ikeSA, req message.Header, reply []message.Payload, local, remote netip.AddrPort) {
	h := message.Header{
		SPIi: sa.spii, SPIr: sa.spir, MajorVersion: 2,
		Exchange: req.Exchange, Flags: message.FlagResponse | sa.flags(), MessageID: req.MessageID,
	}
	pkt, err := sa.seal(h, reply, r.rand)
	if err != nil {
		r.log.Error("cannot build response", "hdr", h.String(), "err", err)
		return
	}
	sa.nextRecvID = req.MessageID + 1
	sa.lastResp = pkt
	r.out.Queue(pkt, local, remote)
}

// sendRequest sends a request of ours once, outside the request queue
// (request.go), and expects no answer: for DELETEs of SAs we are dropping
// at the same moment (Close, hard expiry).
func (r *Responder) sendRequest(sa *ikeSA, exchange message.ExchangeType, payloads []message.Payload) {
	h := message.Header{
		SPIi: sa.spii, SPIr: sa.spir, MajorVersion: 2,
		Exchange: exchange, Flags: sa.flags(), MessageID: sa.nextSendID,
	}
	pkt, err := sa.seal(h, payloads, r.rand)
	if err != nil {
		r.log.Error("cannot build request", "hdr", h.String(), "err", err)
		return
	}
	sa.nextSendID++
	r.out.Queue(pkt, sa.local, sa.remote)
}

// unlockAndFlush releases mu and then hands out what was queued under it
// (see ike.Outbox).
func (r *Responder) unlockAndFlush() { r.out.UnlockAndFlush(&r.mu) }

// afterFunc runs f under mu after d on the injected clock.
func (r *Responder) afterFunc(d time.Duration, f func()) ike.Timer {
	return r.clock.AfterFunc(d, func() {
		r.mu.Lock()
		if !r.closed {
			f()
		}
		r.unlockAndFlush()
	})
}

// Close deletes every IKE SA politely (an INFORMATIONAL DELETE, not waited
// for) and stops all timers. It emits no events: the caller is tearing the
// tunnel down itself. Later packets are dropped.
func (r *Responder) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	for _, sa := range r.sas {
		if sa.state == saEstablished {
			r.sendRequest(sa, message.INFORMATIONAL, []message.Payload{&message.Delete{Protocol: message.ProtocolIKE}})
			r.log.Info("IKE_SA deleted: responder closing", "spi", sa.String())
		}
		sa.stopTimers()
	}
	r.sas = map[uint64]*ikeSA{}
	r.byInit = map[uint64]*ikeSA{}
	r.flood.halfOpen = nil
	r.stopDPD()
	r.stopConnecting()
	r.closed = true
	r.unlockAndFlush()
}

// Status returns a snapshot of the tunnel's IKE state.
func (r *Responder) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Status{Counters: r.countersLocked()}
	var newest *ikeSA
	var newestChild *childSA
	for _, sa := range r.sas {
		st.IKESAs++
		st.ChildSAs += len(sa.children)
		if sa.state != saEstablished {
			continue
		}
		if newest == nil || sa.established.After(newest.established) {
			newest = sa
		}
		for _, c := range sa.children {
			if newestChild == nil || c.created.After(newestChild.created) {
				newestChild = c
			}
		}
	}
	if newest != nil {
		st.Established = true
		st.NATT = newest.natt
		st.Remote = newest.remote
		st.IKESuite = ikeSuiteName(newest.suite)
	}
	if newestChild != nil {
		st.ESPSuite = espSuiteName(newestChild.esp, newestChild.pfs)
	}
	return st
}

// Counters returns the packet counters.
func (r *Responder) Counters() Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.countersLocked()
}

func (r *Responder) countersLocked() Counters {
	c := r.counters
	c.SendErrors = r.out.SendErrors()
	return c
}

// randUint64 returns a random non-zero value not rejected by taken.
func (r *Responder) randUint64(taken func(uint64) bool) (uint64, error) {
	var b [8]byte
	for {
		if _, err := io.ReadFull(r.rand, b[:]); err != nil {
			return 0, err
		}
		v := binary.BigEndian.Uint64(b[:])
		if v != 0 && !taken(v) {
			return v, nil
		}
	}
}
