package v1

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike/isakmp"
)

// seededInitiator is awsDefault's initiator with randomness (and so
// cookies) of its own.
func seededInitiator(seed uint64) *initiator {
	in, _ := awsDefault()
	var s [32]byte
	s[0] = 0xf1
	for i := 0; i < 8; i++ {
		s[1+i] = byte(seed >> (8 * i))
	}
	in.rand = rand.NewChaCha8(s)
	return in
}

// answered reports whether resp is an MM2 (not a refusal, not nothing).
func answered(t testing.TB, resp []byte) bool {
	t.Helper()
	if resp == nil {
		return false
	}
	m, err := isakmp.Parse(bytes.Clone(resp))
	if err != nil {
		t.Fatal(err)
	}
	return m.Header.Exchange == isakmp.ExchangeMainMode && m.Header.RCookie != 0
}

// proven runs MM1–MM4 for a fresh initiator from src: the SA waits for MM5.
func (h *harness) proven(seed uint64, src netip.AddrPort) (*initiator, bool) {
	h.t.Helper()
	in := seededInitiator(seed)
	resp := h.exchange(in.MM1(), vgw500, src)
	if !answered(h.t, resp) {
		return in, false
	}
	if err := in.ProcessMM2(resp); err != nil {
		h.t.Fatal(err)
	}
	if err := in.ProcessMM4(h.exchange(in.MM3(), vgw500, src)); err != nil {
		h.t.Fatal(err)
	}
	return in, true
}

// Sources and the tunnel keep at most their share of half-open SAs that
// have advanced past MM2; beyond, new Main Modes are dropped and counted.
func TestMainModeLimits(t *testing.T) {
	h := newHarnessLog(t, nil, slog.New(slog.DiscardHandler))
	seed := uint64(1)
	for p := 0; p < halfOpenMax/halfOpenPerSource; p++ {
		for i := 0; i < halfOpenPerSource; i++ {
			if _, ok := h.proven(seed, netip.AddrPortFrom(cgwAddr, uint16(600+p))); !ok {
				t.Fatalf("Main Mode %d from port %d refused", i, 600+p)
			}
			seed++
		}
	}
	if answered(t, h.exchange(seededInitiator(seed).MM1(), vgw500, netip.AddrPortFrom(cgwAddr, 600))) {
		t.Error("a source over its limit answered")
	}
	if answered(t, h.exchange(seededInitiator(seed+1).MM1(), vgw500, netip.AddrPortFrom(cgwAddr, 700))) {
		t.Error("a tunnel over its limit answered")
	}
	if c := h.r.Counters(); c.HalfOpenLimit != 2 || c.HalfOpenEvicted != 0 || len(h.r.sas) != halfOpenMax {
		t.Errorf("counters %+v, %d SAs", c, len(h.r.sas))
	}
	// Half-open SAs time out as before; then there is room again.
	h.clock.Advance(halfOpenTimeout)
	if _, ok := h.proven(seed+2, cgw500); !ok || len(h.r.sas) != 1 {
		t.Errorf("after the timeout: %d SAs", len(h.r.sas))
	}
}

// An MM1 from a source at its limit replaces the source's oldest Main Mode
// still waiting for MM3.
func TestMainModeEvictsUnproven(t *testing.T) {
	h := newHarnessLog(t, nil, slog.New(slog.DiscardHandler))
	src := netip.AddrPortFrom(cgwAddr, 600)
	first := seededInitiator(0)
	h.exchange(first.MM1(), vgw500, src)
	for i := 1; i < halfOpenPerSource; i++ {
		h.clock.Advance(time.Millisecond)
		h.exchange(seededInitiator(uint64(i)).MM1(), vgw500, src)
	}
	h.clock.Advance(time.Millisecond)
	if _, ok := h.proven(99, src); !ok {
		t.Fatal("Main Mode refused at the source's limit")
	}
	if c := h.r.Counters(); c.HalfOpenEvicted != 1 || len(h.r.sas) != halfOpenPerSource {
		t.Fatalf("counters %+v, %d SAs", c, len(h.r.sas))
	}
	if h.r.byInit[first.ckyI] != nil {
		t.Error("not the oldest one evicted")
	}
}

// Under pressure, Main Modes still waiting for MM3 expire after
// halfOpenTimeoutPressure.
func TestMainModePressureExpiry(t *testing.T) {
	h := newHarnessLog(t, nil, slog.New(slog.DiscardHandler))
	for i := 0; i < pressureThreshold; i++ {
		h.exchange(seededInitiator(uint64(i)).MM1(), vgw500, netip.AddrPortFrom(cgwAddr, uint16(1000+i)))
	}
	h.clock.Advance(halfOpenTimeoutPressure)
	if !answered(t, h.exchange(seededInitiator(100).MM1(), vgw500, cgw500)) || len(h.r.sas) != 1 {
		t.Fatalf("%d SAs after %v under pressure, want the old ones gone", len(h.r.sas), halfOpenTimeoutPressure)
	}
}

// TestMainModeFlood100k sends 100,000 spoofed MM1s (random cookies,
// addresses and ports, some refused proposals and Aggressive Modes) while
// time passes; state stays bounded and a real initiator gets through.
func TestMainModeFlood100k(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	h := newHarnessLog(t, nil, slog.New(slog.DiscardHandler))
	var legit []sent
	h.r.out.Send = func(pkt []byte, local, remote netip.AddrPort) error {
		if remote == cgw500 || remote == cgw4500 {
			legit = append(legit, sent{bytes.Clone(pkt), local, remote})
		}
		return nil
	}
	spoof := seededInitiator(1 << 40)
	bad := seededInitiator(1 << 41)
	bad.transforms = []isakmp.Transform{p1Transform(1, cbc128, isakmp.HashMD5, modp1024, time.Hour)}
	rng := rand.New(rand.NewPCG(3, 4))
	maxSAs := 0
	for i := 0; i < n; i++ {
		in := spoof
		if rng.IntN(20) == 0 {
			in = bad
		}
		in.ckyI = 0
		pkt := in.MM1()
		if rng.IntN(50) == 0 {
			pkt[18] = byte(isakmp.ExchangeAggressive)
		}
		var from netip.AddrPort
		switch rng.IntN(10) {
		case 0:
			from = netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(rng.IntN(223) + 1), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}), uint16(rng.IntN(65535)+1))
		case 1:
			from = cgw500
		default:
			from = netip.AddrPortFrom(cgwAddr, uint16(rng.IntN(64511)+1025))
		}
		h.r.HandlePacket(pkt, vgw500, from)
		if i%1000 == 0 {
			h.clock.Advance(200 * time.Millisecond)
			h.r.mu.Lock()
			maxSAs = max(maxSAs, len(h.r.sas), len(h.r.byInit), len(h.r.flood.halfOpen))
			h.r.mu.Unlock()
		}
	}
	if maxSAs > halfOpenMax {
		t.Errorf("up to %d half-open SAs during the flood, want at most %d", maxSAs, halfOpenMax)
	}
	if evs := h.takeEvents(); len(evs) > pressureThreshold {
		t.Errorf("%d events during the flood", len(evs))
	}

	// The real initiator, amid the flood: each of its messages is
	// followed by more spoofed MM1s.
	in, offer := awsDefault()
	flood := func() {
		for i := 0; i < halfOpenMax/2; i++ {
			spoof.ckyI = 0
			h.r.HandlePacket(spoof.MM1(), vgw500, netip.AddrPortFrom(cgwAddr, uint16(rng.IntN(64511)+1025)))
		}
	}
	step := func(pkt []byte, local, remote netip.AddrPort) []byte {
		t.Helper()
		legit = nil
		h.r.HandlePacket(pkt, local, remote)
		flood()
		if len(legit) != 1 {
			t.Fatalf("%d answers; %+v", len(legit), h.r.Counters())
		}
		return legit[0].pkt
	}
	if err := in.ProcessMM2(step(in.MM1(), vgw500, cgw500)); err != nil {
		t.Fatal(err)
	}
	if err := in.ProcessMM4(step(in.MM3(), vgw500, cgw500)); err != nil {
		t.Fatal(err)
	}
	if err := in.ProcessMM6(step(in.MM5(), vgw4500, cgw4500)); err != nil {
		t.Fatal(err)
	}
	qm1, pq := in.QM1(offer)
	if _, err := in.ProcessQM2(step(qm1, vgw4500, cgw4500), pq); err != nil {
		t.Fatal(err)
	}
	st := h.r.Status()
	t.Logf("%d spoofed first messages: at most %d half-open SAs; counters %+v", n, maxSAs, st.Counters)
	if !st.Established || st.IKESAs > halfOpenMax+1 || st.Counters.HalfOpenEvicted < uint64(n)/2 {
		t.Errorf("status %+v", st)
	}
}
