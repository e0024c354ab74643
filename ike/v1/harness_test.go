package v1

import (
	"bytes"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
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

// Advance moves time on in steps, running due timers in order outside the
// lock; timers armed by a timer that fall inside the interval run too.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		var rest []*fakeTimer
		for _, t := range c.timers {
			if t.stopped {
				continue
			}
			rest = append(rest, t)
			if !t.at.After(end) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		c.timers = rest
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		next.stopped = true
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
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
	modp1024    = suite.DHGroup(2)
	modp2048    = suite.DHGroup(14)
)

// awsPolicy is AWS's default tunnel options (all of them allowed).
func awsPolicy() ike.Policy {
	return ike.Policy{
		Ciphers:  []suite.Cipher{cbc128, cbc256, gcm128, gcm256},
		Integs:   []suite.Integ{integSHA1, integSHA256, suite.IntegHMACSHA384192, suite.IntegHMACSHA512256},
		DHGroups: []suite.DHGroup{2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24},
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
	logBuf *syncBuffer

	lastInbound time.Time // what cfg.LastInbound reports
}

func newHarness(t testing.TB, mod func(*Config)) *harness {
	buf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, buf), &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newHarnessLog(t, mod, log)
	h.logBuf = buf
	return h
}

func newHarnessLog(t testing.TB, mod func(*Config), log *slog.Logger) *harness {
	h := &harness{t: t, clock: newFakeClock(), events: make(chan ike.Event, 100)}
	cfg := Config{
		Tunnel: "vpn-1/1", Local: vgwAddr, Peer: cgwAddr, PSK: testPSK,
		IKE: awsPolicy(), ESP: awsPolicy(),
		IKELifetime: 8 * time.Hour, ChildLifetime: time.Hour,
		LastInbound: func() time.Time { return h.lastInbound },
	}
	if mod != nil {
		mod(&cfg)
	}
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

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
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

// mainMode runs MM1–MM4 on port 500 and MM5/MM6 on 4500 (the NAT-T float).
func (h *harness) mainMode(in *initiator) {
	h.t.Helper()
	if err := in.ProcessMM2(h.exchange(in.MM1(), vgw500, cgw500)); err != nil {
		h.t.Fatalf("MM2: %v", err)
	}
	if err := in.ProcessMM4(h.exchange(in.MM3(), vgw500, cgw500)); err != nil {
		h.t.Fatalf("MM4: %v", err)
	}
	if err := in.ProcessMM6(h.exchange(in.MM5(), vgw4500, cgw4500)); err != nil {
		h.t.Fatalf("MM6: %v", err)
	}
}

// quickMode runs QM1–QM3 on 4500.
func (h *harness) quickMode(in *initiator, offer qmOffer) *initChild {
	h.t.Helper()
	qm1, pq := in.QM1(offer)
	c, err := in.ProcessQM2(h.exchange(qm1, vgw4500, cgw4500), pq)
	if err != nil {
		h.t.Fatalf("QM2: %v", err)
	}
	if resp := h.exchange(in.QM3(pq), vgw4500, cgw4500); resp != nil {
		h.t.Fatal("QM3 answered")
	}
	return c
}
