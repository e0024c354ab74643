package v1

import (
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
)

// pair runs two Responders back to back on one fake clock: a is the VGW
// (vgwAddr, the side under test), b plays the customer gateway (cgwAddr).
// logBuf holds both sides' logs (side=a, side=b).
// Packets go through a wire that pump delivers; drop and nat can meddle.
type pair struct {
	t        testing.TB
	clock    *fakeClock
	a, b     *Responder
	evA, evB chan ike.Event
	logBuf   *syncBuffer

	mu   sync.Mutex
	wire []wirePkt
	// drop, if set, decides whether a packet sent by from is lost.
	drop func(from *Responder, pkt []byte) bool
	// nat, if set, translates a's addresses as b sees them (a behind NAT).
	nat bool
	// sent counts what each side sent.
	sentA, sentB int

	installedA, installedB map[uint32]ike.ChildSA // by InSPI, from events
	eventsA, eventsB       []ike.Event            // everything seen by takeEvents
}

type wirePkt struct {
	from          *Responder
	pkt           []byte
	local, remote netip.AddrPort // as the sender passed them
}

var natAddr = netip.MustParseAddr("192.0.2.77") // a's public address when p.nat

func (p *pair) natOut(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(natAddr, ap.Port()+10000)
}

func (p *pair) natIn(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(vgwAddr, ap.Port()-10000)
}

// newPair builds both sides; mod changes a's and b's configurations.
func newPair(t testing.TB, modA, modB func(*Config)) *pair {
	p := &pair{t: t, clock: newFakeClock(), evA: make(chan ike.Event, 1000), evB: make(chan ike.Event, 1000),
		installedA: map[uint32]ike.ChildSA{}, installedB: map[uint32]ike.ChildSA{}, logBuf: &syncBuffer{}}
	logA := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, p.logBuf), &slog.HandlerOptions{Level: slog.LevelDebug})).With("side", "a")
	logB := slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, p.logBuf), &slog.HandlerOptions{Level: slog.LevelDebug})).With("side", "b")
	cfgA := Config{
		Tunnel: "vpn-1/1", Local: vgwAddr, Peer: cgwAddr, PSK: testPSK,
		IKE: awsPolicy(), ESP: awsPolicy(),
		IKELifetime: 8 * time.Hour, ChildLifetime: time.Hour,
		AllowedLocalTS:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")},
		AllowedRemoteTS: []netip.Prefix{netip.MustParsePrefix("172.16.0.0/24")},
	}
	cfgB := cfgA
	cfgB.Tunnel, cfgB.Local, cfgB.Peer = "cgw", cgwAddr, vgwAddr
	cfgB.AllowedLocalTS, cfgB.AllowedRemoteTS = cfgA.AllowedRemoteTS, cfgA.AllowedLocalTS
	if modA != nil {
		modA(&cfgA)
	}
	if modB != nil {
		modB(&cfgB)
	}
	if p.nat || cfgB.Peer == natAddr {
		p.nat = true
	}
	p.a = NewResponder(cfgA, p.sender(func() *Responder { return p.a }), p.evA, p.clock, detRand(1), logA)
	p.b = NewResponder(cfgB, p.sender(func() *Responder { return p.b }), p.evB, p.clock, detRand(2), logB)
	return p
}

func (p *pair) sender(self func() *Responder) SendFunc {
	return func(pkt []byte, local, remote netip.AddrPort) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		from := self()
		if from == p.a {
			p.sentA++
		} else {
			p.sentB++
		}
		p.wire = append(p.wire, wirePkt{from: from, pkt: append([]byte(nil), pkt...), local: local, remote: remote})
		return nil
	}
}

// pump delivers packets until the wire is quiet.
func (p *pair) pump() {
	p.t.Helper()
	for i := 0; ; i++ {
		if i > 1000 {
			p.t.Fatal("packets keep flowing")
		}
		p.mu.Lock()
		q := p.wire
		p.wire = nil
		drop := p.drop
		p.mu.Unlock()
		if len(q) == 0 {
			p.collect()
			return
		}
		for _, w := range q {
			if drop != nil && drop(w.from, w.pkt) {
				continue
			}
			if w.from == p.a {
				src := w.local
				if p.nat {
					src = p.natOut(src)
				}
				p.b.HandlePacket(w.pkt, w.remote, src)
			} else {
				dst := w.remote
				if p.nat {
					dst = p.natIn(dst)
				}
				p.a.HandlePacket(w.pkt, dst, w.local)
			}
			// Both sides always hold an installed SA once they had one.
			p.collect()
		}
	}
}

// advance moves the clock on in steps of at most a second, pumping the
// wire after each.
func (p *pair) advance(d time.Duration) {
	p.t.Helper()
	for d > 0 {
		step := min(d, time.Second)
		p.clock.Advance(step)
		p.pump()
		d -= step
	}
}

// collect moves new events into the logs and the installed sets, and checks
// that a side never goes from some installed SA to none while it still has
// an ISAKMP SA (no window without an installed SA during rekeys).
func (p *pair) collect() {
	p.t.Helper()
	for _, side := range []struct {
		ch        chan ike.Event
		installed map[uint32]ike.ChildSA
		log       *[]ike.Event
		name      string
	}{{p.evA, p.installedA, &p.eventsA, "a"}, {p.evB, p.installedB, &p.eventsB, "b"}} {
		for {
			var e ike.Event
			select {
			case e = <-side.ch:
			default:
			}
			if e == nil {
				break
			}
			*side.log = append(*side.log, e)
			switch e := e.(type) {
			case ike.ChildUp:
				side.installed[e.Child.InSPI] = e.Child
			case ike.ChildDown:
				delete(side.installed, e.InSPI)
				if len(side.installed) == 0 && !strings.HasPrefix(e.Reason, "DPD timeout") &&
					e.Reason != "deleted by peer" && e.Reason != "replaced by a new IKE SA (INITIAL_CONTACT)" {
					p.t.Errorf("%s: no IPsec SA installed after ChildDown %+v", side.name, e)
				}
			}
		}
	}
}

// takeA and takeB return the events seen since the last call.
func (p *pair) takeA() []ike.Event {
	p.collect()
	e := p.eventsA
	p.eventsA = nil
	return e
}

func (p *pair) takeB() []ike.Event {
	p.collect()
	e := p.eventsB
	p.eventsB = nil
	return e
}

// up has a initiate and checks both sides came up with matching keys.
func (p *pair) up() (ike.ChildSA, ike.ChildSA) {
	p.t.Helper()
	if err := p.a.Initiate(); err != nil {
		p.t.Fatal(err)
	}
	p.pump()
	ea, eb := p.takeA(), p.takeB()
	if len(ea) != 2 || len(eb) != 2 {
		p.t.Fatalf("events a %#v b %#v", ea, eb)
	}
	for _, evs := range [][]ike.Event{ea, eb} {
		if up, ok := evs[0].(ike.IKEUp); !ok || up.Version != ike.IKEv1 {
			p.t.Fatalf("first event %#v", evs[0])
		}
	}
	ca, ok1 := ea[1].(ike.ChildUp)
	cb, ok2 := eb[1].(ike.ChildUp)
	if !ok1 || !ok2 {
		p.t.Fatalf("second events %#v %#v", ea[1], eb[1])
	}
	p.checkMatch(ca.Child, cb.Child)
	return ca.Child, cb.Child
}

// checkMatch checks that a's and b's views of one SA pair agree.
func (p *pair) checkMatch(a, b ike.ChildSA) {
	p.t.Helper()
	if a.InSPI != b.OutSPI || a.OutSPI != b.InSPI || a.ESP != b.ESP ||
		!reflect.DeepEqual(a.InKeys, b.OutKeys) || !reflect.DeepEqual(a.OutKeys, b.InKeys) ||
		!reflect.DeepEqual(a.LocalTS, b.RemoteTS) || !reflect.DeepEqual(a.RemoteTS, b.LocalTS) ||
		a.UDPEncap != b.UDPEncap || a.Lifetime != b.Lifetime {
		p.t.Errorf("SA views differ:\n a %+v\n b %+v", a, b)
	}
}

// survivors checks that each side has exactly one installed SA, the same
// pair, and returns a's view.
func (p *pair) survivors() ike.ChildSA {
	p.t.Helper()
	p.collect()
	if len(p.installedA) != 1 || len(p.installedB) != 1 {
		p.t.Fatalf("installed: a %d, b %d", len(p.installedA), len(p.installedB))
	}
	var a, b ike.ChildSA
	for _, c := range p.installedA {
		a = c
	}
	for _, c := range p.installedB {
		b = c
	}
	p.checkMatch(a, b)
	if st := p.a.Status(); st.ChildSAs != 1 {
		p.t.Errorf("a status %+v", st)
	}
	if st := p.b.Status(); st.ChildSAs != 1 {
		p.t.Errorf("b status %+v", st)
	}
	return a
}
