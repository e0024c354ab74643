package v2

import (
	"log/slog"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

// pair wires two Responders back to back on one fake clock: a is vpgw
// (Local vgwAddr), b plays the customer gateway (Local cgwAddr). Packets
// wait on the wire until the test delivers them, so exchanges can cross.
// With nat, a sits behind a NAT: it believes it is natInside, b sees it as
// vgwAddr.
type pair struct {
	t      *testing.T
	clock  *fakeClock
	a, b   *Responder
	ea, eb chan ike.Event
	nat    bool

	mu   sync.Mutex
	wire []wirePkt
}

type wirePkt struct {
	pkt      []byte
	from, to netip.AddrPort // as the sender addressed it
	toB      bool
}

var natInside = netip.MustParseAddr("10.0.0.2")

func newPair(t *testing.T, nat bool, modA, modB func(*Config)) *pair {
	p := &pair{t: t, clock: newFakeClock(), ea: make(chan ike.Event, 200), eb: make(chan ike.Event, 200), nat: nat}
	log := func(who string) *slog.Logger {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("side", who)
	}
	ca := Config{
		Tunnel: "vpn-1-t1", Local: vgwAddr, Peer: cgwAddr, PSK: testPSK,
		IKE: awsPolicy(), ESP: awsPolicy(),
		IKELifetime: 8 * time.Hour, ChildLifetime: time.Hour,
	}
	ca.IKE.DHGroups = append([]suite.DHGroup{x25519}, ca.IKE.DHGroups...)
	ca.ESP.DHGroups = []suite.DHGroup{ecp256}
	if nat {
		ca.Local = natInside
	}
	cb := ca
	cb.Tunnel, cb.Local, cb.Peer = "cgw", cgwAddr, vgwAddr
	if modA != nil {
		modA(&ca)
	}
	if modB != nil {
		modB(&cb)
	}
	send := func(toB bool) SendFunc {
		return func(pkt []byte, local, remote netip.AddrPort) error {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.wire = append(p.wire, wirePkt{append([]byte(nil), pkt...), local, remote, toB})
			return nil
		}
	}
	p.a = NewResponder(ca, send(true), p.ea, p.clock, detRand(1), log("vgw"))
	p.b = NewResponder(cb, send(false), p.eb, p.clock, detRand(2), log("cgw"))
	return p
}

// take removes what is on the wire (one direction, or both with nil).
func (p *pair) take(toB *bool) []wirePkt {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out, keep []wirePkt
	for _, w := range p.wire {
		if toB == nil || w.toB == *toB {
			out = append(out, w)
		} else {
			keep = append(keep, w)
		}
	}
	p.wire = keep
	return out
}

var toA, toB = new(bool), func() *bool { b := true; return &b }()

// deliver hands packets to their receivers, translating for the NAT.
func (p *pair) deliver(ws []wirePkt) {
	for _, w := range ws {
		from, to := w.from, w.to
		if p.nat {
			if w.toB && from.Addr() == natInside {
				from = netip.AddrPortFrom(vgwAddr, from.Port())
			}
			if !w.toB && to.Addr() == vgwAddr {
				to = netip.AddrPortFrom(natInside, to.Port())
			}
		}
		if w.toB {
			if to.Addr() != cgwAddr {
				p.t.Fatalf("a sent to %v", to)
			}
			p.b.HandlePacket(w.pkt, to, from)
		} else {
			if p.nat && to.Addr() != natInside || !p.nat && to.Addr() != vgwAddr {
				p.t.Fatalf("b sent to %v", to)
			}
			p.a.HandlePacket(w.pkt, to, from)
		}
	}
}

// flush delivers until the wire stays empty.
func (p *pair) flush() {
	p.t.Helper()
	for i := 0; ; i++ {
		ws := p.take(nil)
		if len(ws) == 0 {
			return
		}
		if i > 100 {
			p.t.Fatal("packets keep flowing")
		}
		p.deliver(ws)
	}
}

// advance moves the clock in small steps, delivering as it goes.
func (p *pair) advance(d time.Duration) {
	p.t.Helper()
	for step := 100 * time.Millisecond; d > 0; d -= step {
		p.clock.Advance(min(step, d))
		p.flush()
	}
}

func drain(ch chan ike.Event) []ike.Event {
	var evs []ike.Event
	for {
		select {
		case e := <-ch:
			evs = append(evs, e)
		default:
			return evs
		}
	}
}

// up initiates from a and checks both sides came up with matching keys.
func (p *pair) up() (ca, cb ike.ChildSA) {
	p.t.Helper()
	if err := p.a.Initiate(); err != nil {
		p.t.Fatal(err)
	}
	p.flush()
	ea, eb := drain(p.ea), drain(p.eb)
	if len(ea) != 2 || len(eb) != 2 {
		p.t.Fatalf("events a %#v, b %#v", ea, eb)
	}
	if _, ok := ea[0].(ike.IKEUp); !ok {
		p.t.Fatalf("a: %#v", ea[0])
	}
	if _, ok := eb[0].(ike.IKEUp); !ok {
		p.t.Fatalf("b: %#v", eb[0])
	}
	ca, cb = ea[1].(ike.ChildUp).Child, eb[1].(ike.ChildUp).Child
	mirrored(p.t, ca, cb)
	return ca, cb
}

// mirrored checks that two ChildSAs are the two ends of one pair of ESP SAs.
func mirrored(t *testing.T, a, b ike.ChildSA) {
	t.Helper()
	if a.InSPI != b.OutSPI || a.OutSPI != b.InSPI || a.ESP != b.ESP ||
		!reflect.DeepEqual(a.InKeys, b.OutKeys) || !reflect.DeepEqual(a.OutKeys, b.InKeys) ||
		!reflect.DeepEqual(a.LocalTS, b.RemoteTS) || !reflect.DeepEqual(a.RemoteTS, b.LocalTS) {
		t.Fatalf("child SAs do not match:\n a %+v\n b %+v", a, b)
	}
	if len(a.InKeys.Encr) == 0 || reflect.DeepEqual(a.InKeys, a.OutKeys) {
		t.Fatalf("bad keys in %+v", a)
	}
}

// datapath replays events as the gateway applies them: ChildUp installs and
// makes the SA the outbound one, ChildDown removes. It fails the test when
// the current outbound SA is removed while others remain (traffic would
// stop) or when an event names an unknown SA.
type datapath struct {
	t         *testing.T
	name      string
	installed map[uint32]ike.ChildSA
	out       uint32 // InSPI of the child whose outbound SA is current
	ups       int
}

func newDatapath(t *testing.T, name string) *datapath {
	return &datapath{t: t, name: name, installed: map[uint32]ike.ChildSA{}}
}

func (d *datapath) apply(evs []ike.Event) {
	d.t.Helper()
	for _, e := range evs {
		switch e := e.(type) {
		case ike.ChildUp:
			if _, dup := d.installed[e.Child.InSPI]; dup {
				d.t.Errorf("%s: ChildUp twice for 0x%08x", d.name, e.Child.InSPI)
			}
			d.installed[e.Child.InSPI] = e.Child
			d.out = e.Child.InSPI
			d.ups++
		case ike.ChildDown:
			if _, ok := d.installed[e.InSPI]; !ok {
				d.t.Errorf("%s: ChildDown for unknown 0x%08x (%s)", d.name, e.InSPI, e.Reason)
			}
			delete(d.installed, e.InSPI)
			if e.InSPI == d.out && len(d.installed) > 0 {
				d.t.Errorf("%s: current outbound SA 0x%08x removed (%s) while others remain", d.name, e.InSPI, e.Reason)
			}
		case ike.IKEDown:
			d.installed = map[uint32]ike.ChildSA{}
		}
	}
}

// only returns the single installed child, which must be the current one.
func (d *datapath) only() ike.ChildSA {
	d.t.Helper()
	if len(d.installed) != 1 {
		d.t.Fatalf("%s: %d children installed: %+v", d.name, len(d.installed), d.installed)
	}
	c, ok := d.installed[d.out]
	if !ok {
		d.t.Fatalf("%s: installed child is not the current outbound one", d.name)
	}
	return c
}

// ikeSAs lists the established IKE SAs of r (test access under the lock).
func ikeSAs(r *Responder) []*ikeSA {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*ikeSA
	for _, sa := range r.sas {
		out = append(out, sa)
	}
	return out
}

// sameIKESA checks a and b hold exactly one IKE SA each, the same one.
func (p *pair) sameIKESA() (sa, sb *ikeSA) {
	p.t.Helper()
	as, bs := ikeSAs(p.a), ikeSAs(p.b)
	if len(as) != 1 || len(bs) != 1 {
		p.t.Fatalf("IKE SAs: a %d, b %d", len(as), len(bs))
	}
	sa, sb = as[0], bs[0]
	if sa.spii != sb.spii || sa.spir != sb.spir || sa.initiator == sb.initiator ||
		!reflect.DeepEqual(sa.keys, sb.keys) || sa.state != saEstablished || sb.state != saEstablished {
		p.t.Fatalf("IKE SAs differ: a %v init=%v state=%v, b %v init=%v state=%v", sa, sa.initiator, sa.state, sb, sb.initiator, sb.state)
	}
	return sa, sb
}

// ping checks the IKE SA works both ways: each side sends a liveness check.
func (p *pair) ping() {
	p.t.Helper()
	for _, r := range []*Responder{p.a, p.b} {
		r.mu.Lock()
		sa := r.newestEstablished()
		answered := false
		r.request(sa, &outReq{exchange: message.INFORMATIONAL, what: "test ping",
			onResponse: func(*ikeSA, message.Header, []message.Payload) { answered = true }})
		r.unlockAndFlush()
		p.flush()
		r.mu.Lock()
		ok := answered
		r.mu.Unlock()
		if !ok {
			p.t.Fatalf("%s: ping not answered", r.cfg.Tunnel)
		}
	}
}
