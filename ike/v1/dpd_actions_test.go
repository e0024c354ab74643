package v1

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
)

// dpd_timeout_action: clear, none (PeerDead, SAs kept, probing goes on)
// and restart (cleared, then a new Main Mode).
func TestDPDActions(t *testing.T) {
	dpd := func(action string) func(*Config) {
		return func(c *Config) { c.DPDDelay, c.DPDTimeout, c.DPDAction = 10*time.Second, 30*time.Second, action }
	}
	reason := "DPD timeout after 2 retransmits" // R-U-THEREs at 10 and 20 s of silence, dead at 30 s

	t.Run("clear", func(t *testing.T) {
		p := newPair(t, dpd(DPDActionClear), nil)
		c, _ := p.up()
		p.drop = func(*Responder, []byte) bool { return true }
		p.advance(40 * time.Second)
		want := []ike.Event{
			ike.ChildDown{Tunnel: "vpn-1/1", InSPI: c.InSPI, OutSPI: c.OutSPI, Reason: reason},
			ike.IKEDown{Tunnel: "vpn-1/1", Reason: reason},
		}
		if evs := p.takeA(); !reflect.DeepEqual(evs, want) {
			t.Errorf("events %#v", evs)
		}
		n := p.sentA
		p.advance(10 * time.Minute)
		if p.sentA != n {
			t.Error("sent after clearing")
		}
	})

	t.Run("none", func(t *testing.T) {
		p := newPair(t, dpd(DPDActionNone), nil)
		p.up()
		p.drop = func(*Responder, []byte) bool { return true }
		p.advance(40 * time.Second)
		want := []ike.Event{ike.PeerDead{Tunnel: "vpn-1/1", Reason: reason}}
		if evs := p.takeA(); !reflect.DeepEqual(evs, want) {
			t.Fatalf("events %#v", evs)
		}
		n := p.sentA
		p.advance(60 * time.Second)
		if evs := p.takeA(); len(evs) != 0 {
			t.Errorf("events %#v", evs)
		}
		if p.sentA-n != 6 {
			t.Errorf("%d probes in a minute", p.sentA-n)
		}
		if st := p.a.Status(); !st.Established || st.ChildSAs != 1 {
			t.Errorf("status %+v", st)
		}
		// The peer is back: its ACK ends the alarm; a later death is
		// reported again.
		p.drop = nil
		p.advance(10 * time.Second)
		if !strings.Contains(p.logBuf.String(), "DPD: peer 198.51.100.2 alive again") {
			t.Error("no alive log")
		}
		p.drop = func(*Responder, []byte) bool { return true }
		p.advance(50 * time.Second)
		if evs := p.takeA(); !reflect.DeepEqual(evs, want) {
			t.Errorf("second death: %#v", evs)
		}
	})

	t.Run("restart", func(t *testing.T) {
		p := newPair(t, dpd(DPDActionRestart), nil)
		c, _ := p.up()
		p.drop = func(*Responder, []byte) bool { return true }
		p.advance(40 * time.Second)
		want := []ike.Event{
			ike.ChildDown{Tunnel: "vpn-1/1", InSPI: c.InSPI, OutSPI: c.OutSPI, Reason: reason},
			ike.IKEDown{Tunnel: "vpn-1/1", Reason: reason},
		}
		if evs := p.takeA(); !reflect.DeepEqual(evs, want) {
			t.Fatalf("events %#v", evs)
		}
		// The peer is back before our MM1 retransmits run out.
		p.drop = nil
		p.advance(4 * time.Second)
		ea, eb := p.takeA(), p.takeB()
		if len(ea) != 2 {
			t.Fatalf("a %#v", ea)
		}
		if _, ok := ea[0].(ike.IKEUp); !ok {
			t.Errorf("a %#v", ea)
		}
		// b learns from INITIAL_CONTACT that the old SAs are gone.
		if len(eb) != 4 || eb[1].(ike.IKEDown).Reason != "replaced by a new IKE SA (INITIAL_CONTACT)" {
			t.Errorf("b %#v", eb)
		}
		p.survivors()
	})
}

// startup_action start: when the peer deletes everything, vpgw initiates
// again after 2 s.
func TestStartupStartReinitiates(t *testing.T) {
	p := newPair(t, func(c *Config) { c.StartupAction = StartupStart }, nil)
	p.up()
	p.b.Close()
	p.pump()
	ea := p.takeA()
	if len(ea) != 2 || ea[1].(ike.IKEDown).Reason != "deleted by peer" {
		t.Fatalf("a %#v", ea)
	}
	// A fresh b at the same address.
	fresh := newPair(t, nil, nil)
	p.b, p.evB = fresh.b, fresh.evB
	fresh.b.out.Send = p.sender(func() *Responder { return p.b })
	fresh.b.clock = p.clock
	p.installedB = map[uint32]ike.ChildSA{}
	p.advance(2 * time.Second)
	if evs := p.takeA(); len(evs) != 2 {
		t.Fatalf("a %#v", evs)
	}
	p.survivors()
}
