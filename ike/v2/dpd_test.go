package v2

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
)

// Reply answers a request of the responder's (for DPD tests).
func (in *initiator) Reply(req message.Header, ps []message.Payload) []byte {
	h := message.Header{SPIi: in.spii, SPIr: in.spir, MajorVersion: 2, Exchange: req.Exchange,
		Flags: message.FlagInitiator | message.FlagResponse, MessageID: req.MessageID}
	inner, plain, err := message.SerializePayloads(ps)
	if err != nil {
		panic(err)
	}
	n := in.out.SealedLen(len(plain))
	pkt := message.AppendEncryptedHeader(nil, h, inner, n)
	return append(pkt, in.out.Seal(pkt, plain, in.rand)...)
}

func dpdConfig(action string) func(*Config) {
	return func(c *Config) {
		c.DPDDelay, c.DPDTimeout, c.DPDAction = 10*time.Second, 30*time.Second, action
	}
}

// runFor advances the harness clock in 100 ms steps and returns what was
// sent with the time since start.
func (h *harness) runFor(d time.Duration) (out []sent, at []time.Duration) {
	start := h.clock.Now()
	for step := 100 * time.Millisecond; d > 0; d -= step {
		h.clock.Advance(step)
		for _, s := range h.takeSent() {
			out = append(out, s)
			at = append(at, h.clock.Now().Sub(start))
		}
	}
	return out, at
}

// dpdProbes establishes, lets the peer go silent and returns what was sent
// in the 30 s (dpd_timeout, counted from the last sign of life) after which
// the peer is dead, checking the liveness checks' schedule.
func dpdProbes(t *testing.T, h *harness, in *initiator) []sent {
	t.Helper()
	h.establish(in, defaultOffer(0xc0000001, defaultESP))
	h.takeEvents()
	out, at := h.runFor(30*time.Second + 50*time.Millisecond)
	if len(out) < 4 {
		t.Fatalf("sent %d", len(out))
	}
	hdr, ps, err := in.Open(out[0].pkt)
	if err != nil || hdr.Exchange != message.INFORMATIONAL || hdr.IsResponse() || hdr.IsInitiator() || len(ps) != 0 || out[0].remote != cgw4500 {
		t.Fatalf("liveness check %v %v %v", hdr, ps, err)
	}
	// 10 s idle, then retransmits after 2, 3.6, 6.48 s; dead at 30 s.
	want := []time.Duration{10000, 12000, 15600, 22080}
	for i, w := range want {
		if d := at[i] - w*time.Millisecond; d < -200*time.Millisecond || d > 200*time.Millisecond {
			t.Errorf("probe %d at %v, want %v", i, at[i], w*time.Millisecond)
		}
		if !bytes.Equal(out[i].pkt, out[0].pkt) {
			t.Errorf("retransmit %d differs", i)
		}
	}
	return out
}

func TestDPDClear(t *testing.T) {
	h := newHarness(t, dpdConfig(DPDActionClear))
	in := newDefaultInitiator()
	dpdProbes(t, h, in)
	evs := h.takeEvents()
	reason := "DPD timeout after 3 retransmits"
	if len(evs) != 2 || evs[1] != (ike.IKEDown{Tunnel: "vpn-1-t1", Reason: reason}) {
		t.Fatalf("events %#v", evs)
	}
	if cd, ok := evs[0].(ike.ChildDown); !ok || cd.OutSPI != 0xc0000001 || cd.Reason != reason {
		t.Fatalf("events %#v", evs)
	}
	if st := h.r.Status(); st.IKESAs != 0 {
		t.Errorf("status %+v", st)
	}
	if out, _ := h.runFor(time.Minute); len(out) != 0 {
		t.Errorf("sent %d after clearing", len(out))
	}
}

func TestDPDNone(t *testing.T) {
	h := newHarness(t, dpdConfig(DPDActionNone))
	in := newDefaultInitiator()
	probes := dpdProbes(t, h, in)
	evs := h.takeEvents()
	if len(evs) != 1 || evs[0] != (ike.PeerDead{Tunnel: "vpn-1-t1", Reason: "DPD timeout after 3 retransmits"}) {
		t.Fatalf("events %#v", evs)
	}
	if st := h.r.Status(); !st.Established || st.ChildSAs != 1 {
		t.Errorf("SAs not kept: %+v", st)
	}
	// It keeps asking every 10 s, same request.
	out, _ := h.runFor(25 * time.Second)
	if len(out) != 2 || !bytes.Equal(out[0].pkt, probes[0].pkt) {
		t.Fatalf("kept probing with %d packets", len(out))
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
	// The peer comes back and answers: DPD starts over, with a new request.
	hdr, _, _ := in.Open(out[0].pkt)
	h.r.HandlePacket(in.Reply(hdr, nil), vgw4500, cgw4500)
	out, at := h.runFor(11 * time.Second)
	if len(out) != 1 || at[0] < 10*time.Second {
		t.Fatalf("after recovery sent %d at %v", len(out), at)
	}
	if hdr2, _, err := in.Open(out[0].pkt); err != nil || hdr2.MessageID != hdr.MessageID+1 {
		t.Fatalf("next probe %v %v", hdr2, err)
	}
}

func TestDPDRestart(t *testing.T) {
	h := newHarness(t, dpdConfig(DPDActionRestart))
	in := newDefaultInitiator()
	probes := dpdProbes(t, h, in)
	evs := h.takeEvents()
	if len(evs) != 2 || evs[1] != (ike.IKEDown{Tunnel: "vpn-1-t1", Reason: "DPD timeout after 3 retransmits"}) {
		t.Fatalf("events %#v", evs)
	}
	if _, ok := evs[0].(ike.ChildDown); !ok {
		t.Fatalf("events %#v", evs)
	}
	// The new IKE_SA_INIT went out right away, after the last probe.
	last := probes[len(probes)-1]
	m, err := message.Parse(last.pkt)
	if err != nil || m.Header.Exchange != message.IKE_SA_INIT || last.local != vgw500 || last.remote != cgw500 {
		t.Fatalf("restart sent %v %v", m, err)
	}
	// Unanswered, it keeps trying even without startup_action start.
	out, _ := h.runFor(200 * time.Second)
	var inits int
	for _, s := range out {
		if m, err := message.Parse(s.pkt); err == nil && m.Header.Exchange == message.IKE_SA_INIT && m.Header.MessageID == 0 {
			inits++
		}
	}
	if inits < 6 {
		t.Errorf("%d IKE_SA_INITs", inits)
	}
}

// Inbound ESP keeps DPD quiet; so does any request from the peer.
func TestDPDQuietWithTraffic(t *testing.T) {
	var mu sync.Mutex
	var last time.Time
	h := newHarness(t, func(c *Config) {
		dpdConfig(DPDActionClear)(c)
		c.LastInbound = func() time.Time { mu.Lock(); defer mu.Unlock(); return last }
	})
	in := newDefaultInitiator()
	h.establish(in, defaultOffer(0xc0000001, defaultESP))
	h.takeEvents()
	for range 60 {
		mu.Lock()
		last = h.clock.Now()
		mu.Unlock()
		if out, _ := h.runFor(time.Second); len(out) != 0 {
			t.Fatalf("probe sent while ESP arrives")
		}
	}
	// ESP stops; the peer sends a liveness check of its own at 8 s.
	out, _ := h.runFor(8 * time.Second)
	if len(out) != 0 {
		t.Fatal("probe too early")
	}
	req, _ := in.Request(message.INFORMATIONAL, nil)
	h.r.HandlePacket(req, vgw4500, cgw4500)
	h.takeSent()
	out, at := h.runFor(11 * time.Second)
	if len(out) != 1 || at[0] < 9900*time.Millisecond {
		t.Fatalf("probe at %v (%d)", at, len(out))
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
}

// Zero config: no DPD at all.
func TestNoDPDByDefault(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ChildLifetime, c.IKELifetime = 0, 0 })
	h.establish(newDefaultInitiator(), defaultOffer(0xc0000001, defaultESP))
	if out, _ := h.runFor(10 * time.Minute); len(out) != 0 {
		t.Fatalf("sent %d", len(out))
	}
}
