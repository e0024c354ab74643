package v1

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/suite"
)

func TestRekeyAfterBounds(t *testing.T) {
	for _, tc := range []struct {
		margin     time.Duration
		fuzz       int
		life       time.Duration
		lo, hi     time.Duration
		wantSpread bool
	}{
		{9 * time.Minute, 100, time.Hour, 42 * time.Minute, 51 * time.Minute, true},
		{9 * time.Minute, 0, time.Hour, 51 * time.Minute, 51 * time.Minute, false},
		{3 * time.Minute, 50, 8 * time.Hour, 8*time.Hour - 4*time.Minute - 30*time.Second, 8*time.Hour - 3*time.Minute, true},
		{2 * time.Hour, 100, time.Hour, 6 * time.Minute, 6 * time.Minute, false}, // floor: a tenth of the lifetime
	} {
		h := newHarness(t, func(c *Config) { c.RekeyMargin, c.RekeyFuzz = tc.margin, tc.fuzz })
		lo, hi := tc.life, time.Duration(0)
		for i := 0; i < 2000; i++ {
			d := h.r.rekeyAfter(tc.life)
			if d < tc.lo || d > tc.hi {
				t.Fatalf("%+v: rekey after %v, outside [%v, %v]", tc, d, tc.lo, tc.hi)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// The draws cover the range (not all at one end).
		if spread := hi - lo; tc.wantSpread && spread < (tc.hi-tc.lo)*9/10 {
			t.Errorf("%+v: draws only span %v..%v", tc, lo, hi)
		}
	}
}

// Our Quick Mode rekey: ChildUp for the new SA on both sides, then after
// the grace our DELETE of the old one: ChildDown "rekeyed" here, "deleted
// by peer" there. The peer (b) does not rekey.
func TestOurQuickModeRekey(t *testing.T) {
	p := newPair(t, func(c *Config) { c.RekeyMargin, c.RekeyFuzz = 9*time.Minute, 0 }, nil)
	old, _ := p.up()
	p.advance(51*time.Minute - time.Second)
	if evs := append(p.takeA(), p.takeB()...); len(evs) != 0 {
		t.Fatalf("early events %#v", evs)
	}
	p.advance(time.Second)
	ea, eb := p.takeA(), p.takeB()
	if len(ea) != 1 || len(eb) != 1 {
		t.Fatalf("events a %#v b %#v", ea, eb)
	}
	na, nb := ea[0].(ike.ChildUp).Child, eb[0].(ike.ChildUp).Child
	p.checkMatch(na, nb)
	if na.InSPI == old.InSPI || !reflect.DeepEqual(na.LocalTS, old.LocalTS) || !reflect.DeepEqual(na.RemoteTS, old.RemoteTS) {
		t.Errorf("new %+v old %+v", na, old)
	}
	p.advance(rekeyGrace - time.Second)
	if evs := append(p.takeA(), p.takeB()...); len(evs) != 0 {
		t.Fatalf("old SA deleted before the grace: %#v", evs)
	}
	p.advance(time.Second)
	if evs := p.takeA(); !reflect.DeepEqual(evs, []ike.Event{ike.ChildDown{Tunnel: "vpn-1/1", InSPI: old.InSPI, OutSPI: old.OutSPI, Reason: "rekeyed"}}) {
		t.Errorf("a %#v", evs)
	}
	if evs := p.takeB(); !reflect.DeepEqual(evs, []ike.Event{ike.ChildDown{Tunnel: "cgw", InSPI: old.OutSPI, OutSPI: old.InSPI, Reason: "deleted by peer"}}) {
		t.Errorf("b %#v", evs)
	}
	if got := p.survivors(); got.InSPI != na.InSPI {
		t.Errorf("survivor %v", got)
	}
	// The new SA is rekeyed in turn.
	p.advance(51 * time.Minute)
	if evs := p.takeA(); len(evs) != 2 || evs[1].(ike.ChildDown).InSPI != na.InSPI {
		t.Errorf("second rekey: %#v", evs)
	}
	for _, want := range []string{
		"Quick Mode: initiating rekey of IPsec SA in=0x",
		"Quick Mode: IPsec SA rekeyed (replaces in=",
		" deleted: rekeyed",
	} {
		if !strings.Contains(p.logBuf.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// Our re-authentication: a new Main Mode (IKEUp on both sides), then the
// old ISAKMP SA is deleted; the IPsec SA is untouched.
func TestOurReauthenticationKeepsChildren(t *testing.T) {
	mod := func(c *Config) { c.IKELifetime = 30 * time.Minute }
	p := newPair(t, func(c *Config) { mod(c); c.RekeyMargin, c.RekeyFuzz = 5*time.Minute, 0 }, mod)
	child, _ := p.up()
	p.advance(25 * time.Minute)
	ea, eb := p.takeA(), p.takeB()
	if len(ea) != 1 || len(eb) != 1 {
		t.Fatalf("events a %#v b %#v", ea, eb)
	}
	if _, ok := ea[0].(ike.IKEUp); !ok {
		t.Errorf("a %#v", ea)
	}
	if _, ok := eb[0].(ike.IKEUp); !ok {
		t.Errorf("b %#v", eb)
	}
	for _, r := range []*Responder{p.a, p.b} {
		if st := r.Status(); !st.Established || st.IKESAs != 1 || st.ChildSAs != 1 {
			t.Errorf("status %+v", st)
		}
	}
	if got := p.survivors(); got.InSPI != child.InSPI {
		t.Errorf("IPsec SA changed: %+v", got)
	}
	logs := p.logBuf.String()
	if !strings.Contains(logs, "re-authenticating ISAKMP SA") || !strings.Contains(logs, "deleting the old one (1 IPsec SAs kept)") {
		t.Error("no re-authentication log")
	}
	// The new ISAKMP SA carries on: DPD, Quick Modes.
	if err := p.a.Rekey(false); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if evs := p.takeB(); len(evs) != 1 {
		t.Errorf("b %#v", evs)
	}
}

// The operator forces a rekey or a re-authentication.
func TestForcedRekey(t *testing.T) {
	p := newPair(t, nil, nil)
	if err := p.a.Rekey(false); err == nil {
		t.Error("rekey without an SA")
	}
	if err := p.a.Rekey(true); err == nil {
		t.Error("re-authentication without an SA")
	}
	old, _ := p.up()
	if err := p.a.Rekey(false); err != nil {
		t.Fatal(err)
	}
	if err := p.a.Rekey(false); err == nil || !strings.Contains(err.Error(), "already in progress") {
		t.Errorf("second rekey in flight: %v", err)
	}
	p.pump()
	if evs := p.takeA(); len(evs) != 1 {
		t.Fatalf("a %#v", evs)
	}
	p.advance(rekeyGrace)
	if evs := p.takeA(); len(evs) != 1 || evs[0].(ike.ChildDown).InSPI != old.InSPI {
		t.Errorf("a %#v", evs)
	}
	p.survivors()
	if err := p.a.Rekey(true); err != nil {
		t.Fatal(err)
	}
	if err := p.a.Rekey(true); err == nil {
		t.Error("second re-authentication in flight")
	}
	p.pump()
	if evs := p.takeA(); len(evs) != 1 {
		t.Fatalf("a %#v", evs)
	}
	if st := p.b.Status(); st.IKESAs != 1 {
		t.Errorf("b %+v", st)
	}
	p.survivors()
	p.a.Close()
	if err := p.a.Rekey(false); err == nil {
		t.Error("rekey after Close")
	}
}

// Both sides rekey the same IPsec SA at once: both Quick Modes complete,
// then the same redundant pair is deleted on both sides, exactly one new
// pair survives, and an SA is installed all along (pair.collect checks).
func TestRekeyCollision(t *testing.T) {
	for seed := 0; seed < 4; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			p := newPair(t, nil, nil)
			// Different randomness per run: which side wins changes.
			p.b.rand = detRand(byte(10 + seed))
			old, _ := p.up()
			if err := p.a.Rekey(false); err != nil {
				t.Fatal(err)
			}
			if err := p.b.Rekey(false); err != nil {
				t.Fatal(err)
			}
			p.pump()
			ea, eb := p.takeA(), p.takeB()
			if len(ea) != 2 || len(eb) != 2 {
				t.Fatalf("events a %#v b %#v", ea, eb)
			}
			for _, e := range append(ea, eb...) {
				if _, ok := e.(ike.ChildUp); !ok {
					t.Fatalf("event %#v", e)
				}
			}
			p.advance(rekeyGrace)
			ea, eb = p.takeA(), p.takeB()
			reasons := func(evs []ike.Event) map[string]int {
				m := map[string]int{}
				for _, e := range evs {
					m[e.(ike.ChildDown).Reason]++
				}
				return m
			}
			// Each side deleted the old SA and the redundant new one
			// itself, or followed the other's DELETE.
			if len(ea) != 2 || len(eb) != 2 {
				t.Fatalf("events a %#v b %#v", ea, eb)
			}
			ra := reasons(ea)
			if ra["rekeyed"]+ra["deleted by peer"] < 1 || ra["rekey collision resolved"]+ra["deleted by peer"] < 1 {
				t.Errorf("a reasons %v", ra)
			}
			got := p.survivors()
			if got.InSPI == old.InSPI {
				t.Error("old SA survived")
			}
			p.advance(time.Minute)
			if evs := append(p.takeA(), p.takeB()...); len(evs) != 0 {
				t.Errorf("late events %#v", evs)
			}
			if !strings.Contains(p.logBuf.String(), "rekey collision resolved") {
				t.Error("no collision log")
			}
		})
	}
}

// Both sides rekey by their timers, with fuzz; whatever the timing, one
// pair survives each round and traffic never lacks an SA.
func TestRekeyBothSidesOverTime(t *testing.T) {
	mod := func(c *Config) { c.RekeyMargin, c.RekeyFuzz = 9*time.Minute, 100 }
	p := newPair(t, mod, mod)
	p.up()
	p.advance(5 * time.Hour)
	p.survivors()
	for _, r := range []*Responder{p.a, p.b} {
		if st := r.Status(); !st.Established || st.IKESAs != 1 {
			t.Errorf("status %+v", st)
		}
	}
}

// Our Quick Mode goes unanswered: retransmits, then NegotiationFailed, and
// the rekey is tried again later; the old SA stays meanwhile.
func TestOurQuickModeGivesUp(t *testing.T) {
	p := newPair(t, nil, nil)
	p.up()
	p.drop = func(from *Responder, _ []byte) bool { return from == p.b }
	if err := p.a.Rekey(false); err != nil {
		t.Fatal(err)
	}
	p.pump()
	n := p.sentA
	p.advance(166 * time.Second)
	if p.sentA-n != retransmitTries {
		t.Errorf("%d retransmits", p.sentA-n)
	}
	want := []ike.Event{ike.NegotiationFailed{Tunnel: "vpn-1/1", Reason: "no response from the customer gateway to Quick Mode after 5 retransmits"}}
	if evs := p.takeA(); !reflect.DeepEqual(evs, want) {
		t.Fatalf("events %#v", evs)
	}
	// b got every QM1 and answered; it drops its half-open Quick Mode.
	p.takeB()
	p.drop = nil
	p.advance(rekeyRetryDelay)
	if evs := p.takeA(); len(evs) != 1 {
		t.Fatalf("retry: %#v", evs)
	}
	p.advance(rekeyGrace)
	p.survivors()
}

// The peer refuses our first Quick Mode: the ISAKMP SA stays, the operator
// learns why.
func TestOurQuickModeRefused(t *testing.T) {
	p := newPair(t, nil, func(c *Config) { c.ESP.DHGroups = []suite.DHGroup{19} })
	p.a.Initiate()
	p.pump()
	ea := p.takeA()
	if len(ea) != 2 {
		t.Fatalf("a %#v", ea)
	}
	f, ok := ea[1].(ike.NegotiationFailed)
	if !ok || !strings.HasPrefix(f.Reason, "IKEv1 Quick Mode: customer gateway accepts none of our proposals (NO_PROPOSAL_CHOSEN); we offered encryption aes128,aes256,aes128-gcm-16,aes256-gcm-16") {
		t.Errorf("a %#v", ea[1])
	}
	if st := p.a.Status(); !st.Established || st.ChildSAs != 0 {
		t.Errorf("status %+v", st)
	}
}
