package v2

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
)

type constReader byte

func (c constReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(c)
	}
	return len(b), nil
}

func TestRekeyAfter(t *testing.T) {
	r := &Responder{cfg: Config{RekeyMargin: 270 * time.Second, RekeyFuzz: 100}}
	for _, tc := range []struct {
		rand io.Reader
		want time.Duration
	}{
		{constReader(0), time.Hour - 270*time.Second},    // no fuzz drawn
		{constReader(0xff), time.Hour - 540*time.Second}, // all of it
	} {
		r.rand = tc.rand
		if got := r.rekeyAfter(time.Hour); got != tc.want {
			t.Errorf("rekeyAfter = %v, want %v", got, tc.want)
		}
	}
	r.rand = detRand(7)
	var lo, hi time.Duration = time.Hour, 0
	for range 1000 {
		d := r.rekeyAfter(time.Hour)
		if d > time.Hour-270*time.Second || d < time.Hour-540*time.Second {
			t.Fatalf("rekeyAfter = %v out of bounds", d)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if hi-lo < 250*time.Second {
		t.Errorf("fuzz spread only %v", hi-lo)
	}
	// Deterministic for a given source.
	r1 := &Responder{cfg: r.cfg, rand: detRand(9)}
	r2 := &Responder{cfg: r.cfg, rand: detRand(9)}
	if r1.rekeyAfter(time.Hour) != r2.rekeyAfter(time.Hour) {
		t.Error("not deterministic")
	}
	// No fuzz: exactly the margin; a margin too large for the lifetime is
	// capped at a tenth of it.
	r.cfg.RekeyFuzz = 0
	if got := r.rekeyAfter(time.Hour); got != time.Hour-270*time.Second {
		t.Errorf("no fuzz: %v", got)
	}
	if got := r.rekeyAfter(5 * time.Minute); got != 30*time.Second {
		t.Errorf("short lifetime: %v", got)
	}
}

// rekeying turns on vpgw's own rekeys.
func rekeying(c *Config) { c.RekeyMargin, c.RekeyFuzz = 270*time.Second, 0 }

// CHILD_SA rekey by us, on its timer: ChildUp(new) on both sides, then 2 s
// later our DELETE of the old one, ChildDown(old) on both.
func TestChildRekeyByUs(t *testing.T) {
	p := newPair(t, false, rekeying, nil)
	old, _ := p.up()
	da, db := newDatapath(t, "a"), newDatapath(t, "b")
	da.apply([]ike.Event{ike.ChildUp{Child: old}})
	db.apply([]ike.Event{ike.ChildUp{Child: mirror(old)}})
	p.advance(time.Hour - 270*time.Second - time.Second)
	if len(drain(p.ea)) != 0 || len(drain(p.eb)) != 0 {
		t.Fatal("rekeyed early")
	}
	p.clock.Advance(time.Second)
	ws := p.take(toB)
	if len(ws) != 1 {
		t.Fatalf("sent %d", len(ws))
	}
	p.deliver(ws)
	p.flush()
	ea, eb := drain(p.ea), drain(p.eb)
	if len(ea) != 1 || len(eb) != 1 {
		t.Fatalf("events a %#v b %#v", ea, eb)
	}
	na, nb := ea[0].(ike.ChildUp).Child, eb[0].(ike.ChildUp).Child
	mirrored(t, na, nb)
	if na.InSPI == old.InSPI || bytes.Equal(na.InKeys.Encr, old.InKeys.Encr) || !strings.Contains(nb.ESP.String(), "") {
		t.Error("rekey reused SPI or keys")
	}
	da.apply(ea)
	db.apply(eb)
	p.advance(1900 * time.Millisecond)
	if len(drain(p.ea)) != 0 {
		t.Fatal("old deleted too early")
	}
	p.advance(200 * time.Millisecond)
	ea, eb = drain(p.ea), drain(p.eb)
	if len(ea) != 1 || ea[0] != (ike.ChildDown{Tunnel: "vpn-1-t1", InSPI: old.InSPI, OutSPI: old.OutSPI, Reason: "rekeyed"}) {
		t.Fatalf("events a %#v", ea)
	}
	if len(eb) != 1 || eb[0] != (ike.ChildDown{Tunnel: "cgw", InSPI: old.OutSPI, OutSPI: old.InSPI, Reason: "deleted by peer"}) {
		t.Fatalf("events b %#v", eb)
	}
	da.apply(ea)
	db.apply(eb)
	mirrored(t, da.only(), db.only())
	if da.only().InSPI != na.InSPI {
		t.Error("survivor is not the new child")
	}
	if st := p.a.Status(); st.ChildSAs != 1 || !strings.HasSuffix(st.ESPSuite, "ecp256") {
		t.Errorf("status %+v (PFS expected)", st)
	}
}

func mirror(c ike.ChildSA) ike.ChildSA {
	c.InSPI, c.OutSPI = c.OutSPI, c.InSPI
	c.InKeys, c.OutKeys = c.OutKeys, c.InKeys
	c.LocalTS, c.RemoteTS = c.RemoteTS, c.LocalTS
	return c
}

// CHILD_SA rekey by the peer (b, the IKE SA's responder, rekeys; vpgw
// answers as before).
func TestChildRekeyByPeer(t *testing.T) {
	p := newPair(t, false, nil, nil)
	old, _ := p.up()
	if err := p.b.Rekey(false); err != nil {
		t.Fatal(err)
	}
	p.flush()
	ea, eb := drain(p.ea), drain(p.eb)
	if len(ea) != 1 || len(eb) != 1 {
		t.Fatalf("events a %#v b %#v", ea, eb)
	}
	mirrored(t, ea[0].(ike.ChildUp).Child, eb[0].(ike.ChildUp).Child)
	p.advance(3 * time.Second)
	ea = drain(p.ea)
	if len(ea) != 1 || ea[0] != (ike.ChildDown{Tunnel: "vpn-1-t1", InSPI: old.InSPI, OutSPI: old.OutSPI, Reason: "deleted by peer"}) {
		t.Fatalf("events a %#v", ea)
	}
	if st := p.a.Status(); st.ChildSAs != 1 {
		t.Errorf("status %+v", st)
	}
}

// IKE SA rekey by us (the original initiator) and by the peer: no child
// events, one IKE SA left on each side with equal keys, children intact
// and the new SA works (ping, another CHILD_SA rekey on it).
func TestIKERekeyByEitherSide(t *testing.T) {
	for _, tc := range []struct {
		name string
		by   func(*pair) *Responder
	}{
		{"by us", func(p *pair) *Responder { return p.a }},
		{"by peer", func(p *pair) *Responder { return p.b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, false, nil, nil)
			p.up()
			oldA, _ := p.sameIKESA()
			by := tc.by(p)
			if err := by.Rekey(true); err != nil {
				t.Fatal(err)
			}
			if err := by.Rekey(true); err == nil {
				t.Error("second rekey accepted while one runs")
			}
			p.flush()
			if ea, eb := drain(p.ea), drain(p.eb); len(ea) != 0 || len(eb) != 0 {
				t.Fatalf("events a %#v b %#v", ea, eb)
			}
			sa, sb := p.sameIKESA()
			if sa.spii == oldA.spii || bytes.Equal(sa.keys.SKd, oldA.keys.SKd) {
				t.Error("IKE SA not replaced")
			}
			if (by == p.a) != sa.initiator {
				t.Errorf("a initiator=%v after rekey %s", sa.initiator, tc.name)
			}
			if len(sa.children) != 1 || len(sb.children) != 1 {
				t.Fatalf("children a %d b %d", len(sa.children), len(sb.children))
			}
			p.ping()
			if err := p.a.Rekey(false); err != nil {
				t.Fatal(err)
			}
			p.flush()
			ea, eb := drain(p.ea), drain(p.eb)
			if len(ea) != 1 || len(eb) != 1 {
				t.Fatalf("child rekey events a %#v b %#v", ea, eb)
			}
			mirrored(t, ea[0].(ike.ChildUp).Child, eb[0].(ike.ChildUp).Child)
		})
	}
}

func TestForcedRekeyErrors(t *testing.T) {
	p := newPair(t, false, nil, nil)
	if err := p.a.Rekey(false); err == nil {
		t.Error("rekey without SA")
	}
	if err := p.a.Rekey(true); err == nil {
		t.Error("IKE rekey without SA")
	}
	p.up()
	if err := p.a.Rekey(false); err != nil {
		t.Fatal(err)
	}
	if err := p.a.Rekey(false); err == nil {
		t.Error("rekey of a child being rekeyed")
	}
	p.flush()
	// Now the newest child is the new one: it can be rekeyed at once.
	if err := p.a.Rekey(false); err != nil {
		t.Fatal(err)
	}
	p.advance(5 * time.Second)
	if st := p.a.Status(); st.ChildSAs != 1 {
		t.Errorf("status %+v", st)
	}
}

// Both sides rekey the same CHILD_SA at once. order "crossed": both
// requests are on the wire before either answer; "answer first": a's
// exchange completes before b's request reaches a. Across seeds both
// outcomes (a wins, b wins) occur; every time exactly one new pair
// survives on both sides, the gateway never loses its outbound SA, and
// each side ends with the same pair.
func TestChildRekeyCollision(t *testing.T) {
	outcomes := map[string]int{}
	for _, order := range []string{"crossed", "answer first"} {
		for seed := byte(10); seed < 18; seed++ {
			p := newPair(t, false, nil, nil)
			p.b.rand = detRand(seed)
			old, _ := p.up()
			da, db := newDatapath(t, "a"), newDatapath(t, "b")
			da.apply([]ike.Event{ike.ChildUp{Child: old}})
			db.apply([]ike.Event{ike.ChildUp{Child: mirror(old)}})
			if err := p.a.Rekey(false); err != nil {
				t.Fatal(err)
			}
			if err := p.b.Rekey(false); err != nil {
				t.Fatal(err)
			}
			reqA, reqB := p.take(toB), p.take(toA)
			switch order {
			case "crossed":
				p.deliver(reqA)
				p.deliver(reqB)
			case "answer first":
				p.deliver(reqA)
				p.deliver(p.take(toA)) // b's answer to a
				p.deliver(reqB)
			}
			p.flush()
			t.Logf("%s seed %d", order, seed)
			da.apply(drain(p.ea))
			db.apply(drain(p.eb))
			p.advance(5 * time.Second)
			da.apply(drain(p.ea))
			db.apply(drain(p.eb))
			ca, cb := da.only(), db.only()
			mirrored(t, ca, cb)
			if ca.InSPI == old.InSPI {
				t.Fatal("old child survived")
			}
			if sa, sb := ikeSAs(p.a)[0], ikeSAs(p.b)[0]; len(sa.children) != 1 || len(sb.children) != 1 ||
				sa.children[ca.InSPI] == nil || sb.children[cb.InSPI] == nil {
				t.Fatalf("%s seed %d: children a %d b %d", order, seed, len(sa.children), len(sb.children))
			}
			winner := "b"
			if isOurs(p.a, ca.InSPI) {
				winner = "a"
			}
			outcomes[order+" "+winner]++
			if len(p.take(nil)) != 0 {
				t.Fatal("packets left")
			}
		}
	}
	t.Logf("outcomes %v", outcomes)
	for _, k := range []string{"crossed a", "crossed b", "answer first a", "answer first b"} {
		if outcomes[k] == 0 {
			t.Errorf("outcome %q never seen: %v", k, outcomes)
		}
	}
}

// isOurs reports whether r's child with inbound SPI in was created by r's
// own request (its ChildUp carries our keys as initiator: OutKeys = i→r).
func isOurs(r *Responder, in uint32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sa := range r.sas {
		if c := sa.children[in]; c != nil {
			return c.byUs
		}
	}
	return false
}

// Both sides rekey the IKE SA at once: one IKE SA survives on both sides,
// equal, holding the child; no child events.
func TestIKERekeyCollision(t *testing.T) {
	outcomes := map[bool]int{}
	for _, order := range []string{"crossed", "answer first"} {
		for seed := byte(10); seed < 16; seed++ {
			p := newPair(t, false, nil, nil)
			p.b.rand = detRand(seed)
			old, _ := p.up()
			if err := p.a.Rekey(true); err != nil {
				t.Fatal(err)
			}
			if err := p.b.Rekey(true); err != nil {
				t.Fatal(err)
			}
			reqA, reqB := p.take(toB), p.take(toA)
			p.deliver(reqA)
			if order == "answer first" {
				p.deliver(p.take(toA))
			}
			p.deliver(reqB)
			p.flush()
			p.advance(35 * time.Second)
			if ea, eb := drain(p.ea), drain(p.eb); len(ea) != 0 || len(eb) != 0 {
				t.Fatalf("%s seed %d: events a %#v b %#v", order, seed, ea, eb)
			}
			sa, sb := p.sameIKESA()
			outcomes[sa.initiator]++
			if len(sa.children) != 1 || len(sb.children) != 1 || sa.children[old.InSPI] == nil {
				t.Fatalf("children a %d b %d", len(sa.children), len(sb.children))
			}
			p.ping()
			if err := p.b.Rekey(false); err != nil {
				t.Fatal(err)
			}
			p.flush()
			ea, eb := drain(p.ea), drain(p.eb)
			if len(ea) != 1 || len(eb) != 1 {
				t.Fatalf("child rekey after IKE collision: a %#v b %#v", ea, eb)
			}
			mirrored(t, ea[0].(ike.ChildUp).Child, eb[0].(ike.ChildUp).Child)
		}
	}
	t.Logf("a's SA survived %d times, b's %d times", outcomes[true], outcomes[false])
	if outcomes[true] == 0 || outcomes[false] == 0 {
		t.Errorf("only one outcome seen: %v", outcomes)
	}
}

// With rekeying on, an IKE SA is rekeyed by its timer before its lifetime.
func TestIKERekeyTimer(t *testing.T) {
	p := newPair(t, false, func(c *Config) { rekeying(c); c.IKELifetime, c.ChildLifetime = time.Hour, 0 }, nil)
	p.up()
	old, _ := p.sameIKESA()
	p.advance(time.Hour - 269*time.Second)
	sa, _ := p.sameIKESA()
	if sa == old {
		t.Fatal("IKE SA not rekeyed")
	}
	if ea := drain(p.ea); len(ea) != 0 {
		t.Fatalf("events %#v", ea)
	}
}

// When we rekey ourselves, the lifetime is a hard limit: a peer that never
// answers our rekey loses the SA at the lifetime ("IKE SA expired"), before
// the rekey request would time out.
func TestIKEHardExpiry(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.RekeyMargin, c.IKELifetime, c.ChildLifetime = 60*time.Second, 10*time.Minute, 0
	})
	in := newDefaultInitiator()
	h.establish(in, defaultOffer(0xc0000001, defaultESP))
	h.takeEvents()
	out, at := h.runFor(9*time.Minute + 100*time.Millisecond)
	if len(out) != 1 || at[0] < 9*time.Minute-100*time.Millisecond {
		t.Fatalf("rekey sent %d at %v", len(out), at)
	}
	if hdr, ps, err := in.Open(out[0].pkt); err != nil || hdr.Exchange != message.CREATE_CHILD_SA ||
		ps[0].(*message.SA).Proposals[0].Protocol != message.ProtocolIKE {
		t.Fatalf("rekey request %v %v", hdr, err)
	}
	h.runFor(59 * time.Second)
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Fatalf("expired early: %#v", evs)
	}
	h.runFor(time.Second)
	evs := h.takeEvents()
	if len(evs) != 2 || evs[1] != (ike.IKEDown{Tunnel: "vpn-1-t1", Reason: "IKE SA expired"}) {
		t.Fatalf("events %#v", evs)
	}
}
