package v2

import (
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

// fakeClock fires timers only when Advance is called.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) ike.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Advance moves time on and runs due timers in order, outside the lock.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due, rest []*fakeTimer
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			rest = append(rest, t)
		}
	}
	c.timers = rest
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.f()
	}
}

func detRand(seed byte) io.Reader { return rand.NewChaCha8([32]byte{seed}) }

var (
	vgwAddr     = netip.MustParseAddr("203.0.113.2")
	cgwAddr     = netip.MustParseAddr("198.51.100.2")
	vgw500      = netip.AddrPortFrom(vgwAddr, 500)
	vgw4500     = netip.AddrPortFrom(vgwAddr, 4500)
	cgw500      = netip.AddrPortFrom(cgwAddr, 500)
	cgw4500     = netip.AddrPortFrom(cgwAddr, 4500)
	lanAddr     = netip.MustParseAddrPort("192.168.1.2:500") // the CGW behind NAT, as it sees itself
	testPSK     = []byte("example.psk_0123456789")
	cbc128      = suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 128}
	cbc256      = suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 256}
	gcm128      = suite.Cipher{Encr: suite.EncrAESGCM16, KeyBits: 128}
	gcm256      = suite.Cipher{Encr: suite.EncrAESGCM16, KeyBits: 256}
	integSHA1   = suite.IntegHMACSHA1_96
	integSHA256 = suite.IntegHMACSHA256128
	modp2048    = suite.DHGroup(14)
	ecp256      = suite.DHGroup(19)
	x25519      = suite.DHGroup(31)
)

// awsPolicy is AWS's default tunnel options (all of them allowed).
func awsPolicy() ike.Policy {
	return ike.Policy{
		Ciphers:  []suite.Cipher{cbc128, cbc256, gcm128, gcm256},
		Integs:   []suite.Integ{integSHA1, integSHA256, suite.IntegHMACSHA384192, suite.IntegHMACSHA512256},
		DHGroups: []suite.DHGroup{2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 31},
	}
}

type sent struct {
	pkt           []byte
	local, remote netip.AddrPort
}

// harness runs a Responder with a fake clock, deterministic randomness and
// a SendFunc that records.
type harness struct {
	t      testing.TB
	r      *Responder
	clock  *fakeClock
	events chan ike.Event
	mu     sync.Mutex
	out    []sent
}

func newHarness(t testing.TB, mod func(*Config)) *harness {
	return newHarnessLog(t, mod, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

func newHarnessLog(t testing.TB, mod func(*Config), log *slog.Logger) *harness {
	cfg := Config{
		Tunnel: "vpn-1-t1", Local: vgwAddr, Peer: cgwAddr, PSK: testPSK,
		IKE: awsPolicy(), ESP: awsPolicy(),
		IKELifetime: 8 * time.Hour, ChildLifetime: time.Hour,
	}
	if mod != nil {
		mod(&cfg)
	}
	h := &harness{t: t, clock: newFakeClock(), events: make(chan ike.Event, 100)}
	h.r = NewResponder(cfg, func(pkt []byte, local, remote netip.AddrPort) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.out = append(h.out, sent{append([]byte(nil), pkt...), local, remote})
		return nil
	}, h.events, h.clock, detRand(1), log)
	return h
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// takeSent returns and forgets what the responder sent.
func (h *harness) takeSent() []sent {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.out
	h.out = nil
	return out
}

// exchange delivers pkt and returns the single reply (nil if none).
func (h *harness) exchange(pkt []byte, local, remote netip.AddrPort) []byte {
	h.t.Helper()
	h.r.HandlePacket(pkt, local, remote)
	out := h.takeSent()
	switch len(out) {
	case 0:
		return nil
	case 1:
		if out[0].local != local || out[0].remote != remote {
			h.t.Fatalf("reply sent %v→%v, request came %v→%v", out[0].local, out[0].remote, remote, local)
		}
		return out[0].pkt
	}
	h.t.Fatalf("%d replies to one request", len(out))
	return nil
}

func (h *harness) takeEvents() []ike.Event {
	var evs []ike.Event
	for {
		select {
		case e := <-h.events:
			evs = append(evs, e)
		default:
			return evs
		}
	}
}

// newInitiator is a strongSwan-like customer gateway behind NAT (it
// claims its LAN address in NAT-D, as kernel-libipsec effectively does).
func newInitiator(props []message.Proposal, group suite.DHGroup) *initiator {
	return &initiator{
		rand: detRand(2), psk: testPSK,
		id:           &message.ID{Initiator: true, IDType: message.IDIPv4Addr, Data: cgwAddr.AsSlice()},
		claimedLocal: lanAddr, claimedRemote: vgw500,
		ikeProposals: props, group: group,
	}
}

var (
	anyTS = []message.TrafficSelector{{StartPort: 0, EndPort: 65535,
		Start: netip.MustParseAddr("0.0.0.0"), End: netip.MustParseAddr("255.255.255.255")}}
)

func prefixTS(p string) []message.TrafficSelector {
	return []message.TrafficSelector{message.SelectorFromPrefix(netip.MustParsePrefix(p))}
}

// establish runs IKE_SA_INIT on 500 and IKE_AUTH on 4500 (NAT-T float).
func (h *harness) establish(in *initiator, offer childOffer) *initChild {
	h.t.Helper()
	req, err := in.SAInit()
	if err != nil {
		h.t.Fatal(err)
	}
	resp := h.exchange(req, vgw500, cgw500)
	if resp == nil {
		h.t.Fatal("no IKE_SA_INIT response")
	}
	if err := in.ProcessSAInit(resp); err != nil {
		h.t.Fatalf("IKE_SA_INIT: %v", err)
	}
	req, err = in.Auth(offer)
	if err != nil {
		h.t.Fatal(err)
	}
	resp = h.exchange(req, vgw4500, cgw4500)
	if resp == nil {
		h.t.Fatal("no IKE_AUTH response")
	}
	c, err := in.ProcessAuth(resp, offer)
	if err != nil {
		h.t.Fatalf("IKE_AUTH: %v", err)
	}
	return c
}

func wantNotify(t testing.TB, err error, nt message.NotifyType) *errNotify {
	t.Helper()
	var en *errNotify
	if !errors.As(err, &en) || en.t != nt {
		t.Fatalf("got %v, want notify %v", err, nt)
	}
	return en
}
