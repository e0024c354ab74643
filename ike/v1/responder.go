// Package v1 is vpgw's IKEv1 endpoint: RFC 2409 Main Mode and Quick Mode
// with a pre-shared key, NAT traversal (RFC 3947) and dead peer detection
// (RFC 3706), as the AWS VGW side of a Site-to-Site VPN tunnel. The customer
// gateway usually initiates; vpgw can initiate too (startup_action "start",
// dpd_timeout_action "restart": initiator.go, quick_initiator.go), and it
// rekeys and re-authenticates on its own timers (rekey.go).
//
// One Responder serves one tunnel. Packets arrive through HandlePacket from
// the socket readers; each exchange has its own file (main_mode.go,
// quick_mode.go, informational.go, dpd.go, and the initiator's files) with
// message-driven steps that take a decoded message and produce the next.
// This file, sa.go and request.go deal with bytes on the wire: cookies, the
// retransmit caches and our retransmits, CBC chains and sending. A single mutex guards all state; replies and events produced
// under it are queued and handed out after it is released, so a slow events
// reader never blocks the state machine's other callers.
//
// Unlike IKEv2, IKEv1 IPsec SAs do not belong to an ISAKMP SA: the peer may
// delete or re-authenticate the ISAKMP SA and keep its IPsec SAs. So the
// Responder keeps IPsec SAs per tunnel, and IKEDown means "nothing left":
// no established ISAKMP SA and no IPsec SA (the gateway tears the tunnel
// down on IKEDown).
package v1

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
)

// Config is one tunnel's IKEv1 policy.
type Config struct {
	Tunnel      string
	Local, Peer netip.Addr // our outside address; the customer gateway's public (or NAT) address
	PSK         []byte
	IKE, ESP    ike.Policy // phase 1 and phase 2

	// Upper bounds of the lifetimes we accept; a peer asking for longer is
	// capped. 0: no limit and no expiry.
	IKELifetime, ChildLifetime time.Duration

	// Traffic selectors (Quick Mode IDs) we accept. AllowedLocalTS is our
	// (VPC) side, matched against IDcr; AllowedRemoteTS the customer side,
	// matched against IDci. Empty means 0.0.0.0/0.
	AllowedLocalTS, AllowedRemoteTS []netip.Prefix

	// DPDDelay is the idle time after which we send R-U-THERE (0: we never
	// do, but we still answer the peer's). DPDTimeout is how long we wait
	// for any sign of life after that before declaring the peer dead.
	DPDDelay, DPDTimeout time.Duration
	// LastInbound, optional, returns when the gateway last received ESP on
	// this tunnel: inbound traffic proves the peer alive, so DPD stays quiet.
	LastInbound func() time.Time
	// DPDAction is what a dead peer leads to (dpd.go): "clear" (or "")
	// deletes the tunnel's SAs, "restart" deletes them and initiates a new
	// Main Mode, "none" keeps them, emits ike.PeerDead and keeps probing.
	DPDAction string

	// Our own rekeys (rekey.go): each IPsec SA gets a new Quick Mode, and
	// each ISAKMP SA a new Main Mode (re-authentication), at its lifetime
	// minus RekeyMargin minus a random part of up to RekeyFuzz percent of
	// RekeyMargin. RekeyMargin 0: we never rekey, the peer is expected to.
	RekeyMargin time.Duration
	RekeyFuzz   int

	// StartupAction "start": after Initiate, keep the tunnel up, initiating
	// again whenever everything of it went away. "add" or "": the customer
	// gateway initiates (we still do with Initiate or DPDAction "restart").
	StartupAction string
}

// Values of Config.DPDAction and Config.StartupAction.
const (
	DPDActionClear   = "clear"
	DPDActionRestart = "restart"
	DPDActionNone    = "none"
	StartupAdd       = "add"
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
	UnknownSPI    uint64 // no ISAKMP SA with these cookies
	DecryptFailed uint64 // did not decrypt to valid payloads, or HASH mismatch
	Unexpected    uint64 // valid but out of place (wrong exchange or state)
	Refused       uint64 // Aggressive Mode and other exchanges we do not do
	Retransmits   uint64 // retransmitted requests answered from the cache
	SendErrors    uint64

	// Flood protection (limits.go).
	HalfOpenLimit   uint64 // first messages dropped: too many half-open ISAKMP SAs (source or tunnel)
	HalfOpenEvicted uint64 // unproven half-open ISAKMP SAs dropped to make room for a new Main Mode
}

// Status is a snapshot of the tunnel's IKEv1 state for status output.
type Status struct {
	Established bool           // an authenticated ISAKMP SA exists
	NATT        bool           // NAT detected: ESP goes in UDP 4500
	Remote      netip.AddrPort // where the peer's last message came from
	IKESuite    string         // e.g. "aes128-sha1-modp1024"
	ESPSuite    string         // of the newest IPsec SA, e.g. "aes128-sha1-modp1024"
	IKESAs      int
	ChildSAs    int
	Counters    Counters
}

// Tunable times and limits.
const (
	// halfOpenTimeout bounds how long a Main or Quick Mode may take, and how
	// long a refused exchange keeps answering retransmits.
	halfOpenTimeout = 30 * time.Second
	// lifetimeGraceMax caps the slack after a lifetime before we expire an
	// SA the peer has not replaced: the initiator rekeys, we only clean up.
	lifetimeGraceMax = 5 * time.Minute
	// Main Modes in progress are capped in limits.go.
	// maxQuickModes caps Quick Modes in progress per ISAKMP SA.
	maxQuickModes = 16
)

// Responder is the IKEv1 responder of one tunnel.
type Responder struct {
	cfg   Config
	clock ike.Clock
	rand  io.Reader
	log   *slog.Logger

	mu       sync.Mutex
	sas      map[cookiePair]*isakmpSA
	byInit   map[uint64]*isakmpSA // by CKY-I: answers MM1 retransmits
	children map[uint32]*childSA  // IPsec SAs by our inbound SPI
	up       bool                 // IKEUp emitted and not yet IKEDown
	lastIKE  time.Time            // last authenticated message from the peer
	dpd      dpdState
	conn     connecting // our own Main Mode (initiator.go)
	counters Counters
	flood    floodState // half-open limits (limits.go)
	closed   bool
	out      ike.Outbox // replies and events produced under mu, handed out after it
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
	cfg.Local = cfg.Local.Unmap()
	cfg.Peer = cfg.Peer.Unmap()
	log = log.With("tunnel", cfg.Tunnel)
	return &Responder{
		cfg:      cfg,
		clock:    clock,
		rand:     rand,
		log:      log,
		out:      ike.Outbox{Send: send, Events: events, Log: log},
		sas:      make(map[cookiePair]*isakmpSA),
		byInit:   make(map[uint64]*isakmpSA),
		children: make(map[uint32]*childSA),
	}
}

// HandlePacket processes one ISAKMP message (without the non-ESP marker)
// that arrived on local from remote. pkt is not kept. It never panics on
// bad input: bad packets are counted and dropped.
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
	// Parse keeps slices of its input; the caller's buffer is reused after
	// we return.
	m, err := isakmp.Parse(bytes.Clone(pkt))
	if err != nil {
		r.counters.Malformed++
		r.log.Debug("dropped malformed ISAKMP packet", "from", remote, "err", err)
		return
	}
	in := &packet{m: m, local: local, remote: remote}
	h := m.Header
	switch h.Exchange {
	case isakmp.ExchangeAggressive:
		r.refuseAggressive(in)
		return
	case isakmp.ExchangeMainMode:
		if h.RCookie == 0 {
			r.handleMM1(in)
			return
		}
	case isakmp.ExchangeQuickMode, isakmp.ExchangeInformational:
	default:
		r.counters.Refused++
		r.log.Info("ISAKMP exchange refused: not supported", "from", remote, "hdr", h.String())
		return
	}
	sa := r.sas[cookiePair{h.ICookie, h.RCookie}]
	if sa == nil {
		if r.handleInitResponse(in) {
			return // the answer to our MM1 (initiator.go)
		}
		r.counters.UnknownSPI++
		r.log.Debug("dropped ISAKMP packet for unknown SA", "hdr", h.String())
		return
	}
	switch h.Exchange {
	case isakmp.ExchangeMainMode:
		r.handleMainMode(sa, in)
	case isakmp.ExchangeQuickMode:
		r.handleQuickMode(sa, in)
	case isakmp.ExchangeInformational:
		r.handleInformational(sa, in)
	}
}

// packet is a received message with the addresses it came with.
type packet struct {
	m             *isakmp.Message
	local, remote netip.AddrPort
}

// refuseAggressive answers Aggressive Mode with a clear NO_PROPOSAL_CHOSEN:
// the peer gives up at once (and its log says why) instead of retrying for
// minutes. Only the first attempt of an initiator cookie is reported.
func (r *Responder) refuseAggressive(in *packet) {
	r.counters.Refused++
	h := in.m.Header
	if h.RCookie != 0 || h.Encrypted() {
		return // we never answered with a cookie: not ours
	}
	if old := r.byInit[h.ICookie]; old != nil {
		if old.state == p1Failed && bytes.Equal(old.lastReq, in.m.Raw) {
			r.counters.Retransmits++
			r.out.Queue(old.lastResp, in.local, in.remote)
		}
		return
	}
	if !r.admitMainMode(in.remote) {
		return
	}
	r.log.Log(context.Background(), r.floodLevel(slog.LevelWarn), "Aggressive Mode refused: AWS accepts Main Mode only", "from", in.remote)
	if !r.flood.pressure {
		r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: "IKEv1 Aggressive Mode refused (Main Mode only)"})
	}
	r.failHalfOpen(in, isakmp.NO_PROPOSAL_CHOSEN)
	r.trackHalfOpen(r.byInit[h.ICookie], in.remote)
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

// Close deletes every SA politely (informational DELETEs, not waited for:
// IPsec SAs first, then the ISAKMP SAs, as strongSwan does) and stops all
// timers. It emits no events: the caller is tearing the tunnel down itself.
// Later packets are dropped.
func (r *Responder) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if sa := r.newestEstablished(); sa != nil {
		for _, c := range r.children {
			r.sendDelete(sa, deleteESP(c.inSPI))
		}
	}
	for _, c := range r.children {
		c.stopTimer()
	}
	for _, sa := range r.sas {
		if sa.state == p1Established {
			r.sendDelete(sa, deleteISAKMP(sa))
			r.log.Info("ISAKMP SA deleted: responder closing", "sa", sa.String())
		}
		sa.stopTimers()
		sa.forget()
	}
	r.stopDPD()
	r.stopConnecting()
	r.sas = map[cookiePair]*isakmpSA{}
	r.byInit = map[uint64]*isakmpSA{}
	r.children = map[uint32]*childSA{}
	r.flood.halfOpen = nil
	r.closed = true
	r.unlockAndFlush()
}

// Status returns a snapshot of the tunnel's IKEv1 state.
func (r *Responder) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Status{Counters: r.countersLocked(), IKESAs: len(r.sas), ChildSAs: len(r.children)}
	if sa := r.newestEstablished(); sa != nil {
		st.Established = true
		st.NATT = sa.natDetected
		st.Remote = sa.remote
		st.IKESuite = sa.suite.String()
	}
	var newest *childSA
	for _, c := range r.children {
		if newest == nil || c.created.After(newest.created) {
			newest = c
		}
	}
	if newest != nil {
		st.ESPSuite = espSuiteName(newest.esp, newest.pfs)
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

func (r *Responder) randBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := io.ReadFull(r.rand, b)
	return b, err
}
