package esp

import (
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"testing"

	"github.com/vpgw/vpgw/esp/esptest"
	"github.com/vpgw/vpgw/suite"
)

var benchSuites = []suite.ESP{
	{Cipher: suite.Cipher{Encr: suite.EncrAESGCM16, KeyBits: 128}},
	{Cipher: suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 128}, Integ: suite.IntegHMACSHA1_96},
}

const benchPacketSize = 1400

func benchInner() []byte {
	return esptest.Ping(srcA, dstA, 1, 1, make([]byte, benchPacketSize-28))
}

// BenchmarkSeal seals a 1400-byte packet in place per op.
func BenchmarkSeal(b *testing.B) {
	for _, s := range benchSuites {
		b.Run(s.String(), func(b *testing.B) {
			sa, _ := pair(b, s, 0)
			inner := benchInner()
			buf := make([]byte, bufSize)
			copy(buf[headroom:], inner)
			b.SetBytes(int64(len(inner)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				buf[headroom] = 0x45 // the previous op encrypted it
				if _, _, err := sa.Seal(buf, headroom, len(inner)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen opens a 1400-byte packet per op. Each op restores the
// ciphertext (a 1.4 kB copy) and rewinds the replay window, since Open
// decrypts in place and refuses a sequence number twice.
func BenchmarkOpen(b *testing.B) {
	for _, s := range benchSuites {
		b.Run(s.String(), func(b *testing.B) {
			sealer, opener := pair(b, s, 0)
			pkt := sealPacket(b, sealer, benchInner())
			work := make([]byte, len(pkt))
			b.SetBytes(benchPacketSize)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				copy(work, pkt)
				opener.rp.reset(opener.window)
				if _, err := opener.Open(work); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// pump feeds packets into a tunnel's TUN (in) and counts them out of a sink
// (done: a sink TUN's Written or a Sink conn's Sent). Once made it
// allocates nothing, so benchmarks and AllocsPerRun measure only the
// datapath.
type pump struct {
	tb    testing.TB
	in    chan<- []byte
	done  <-chan int
	timer *time.Timer
}

func newPump(tb testing.TB, in chan<- []byte, done <-chan int) *pump {
	p := &pump{tb: tb, in: in, done: done, timer: time.NewTimer(time.Hour)}
	tb.Cleanup(func() { p.timer.Stop() })
	return p
}

// run pushes n copies of pkt, keeping at most window packets in flight, and
// waits until all n have come out; a lost packet fails after 5 s.
func (p *pump) run(pkt []byte, n, window int) {
	sent, got := 0, 0
	for got < n {
		if sent < n && sent-got < window {
			select {
			case p.in <- pkt:
				sent++
			case k := <-p.done:
				got += k
			}
			continue
		}
		p.timer.Reset(5 * time.Second)
		select {
		case k := <-p.done:
			got += k
		case <-p.timer.C:
			p.tb.Fatalf("only %d of %d packets came out", got, n)
		}
	}
}

// allocPackets is how many packets checkNoAllocs sends, and allocSlack how
// many heap allocations it tolerates among them: fewer than one per 1000
// packets, so allocating per packet or per batch (64) fails, but a refill
// of the runtime's own caches (the sudogs of channel operations, emptied
// by a garbage collection) does not make the test flaky.
const (
	allocPackets = 10000
	allocSlack   = allocPackets / 1000
)

// checkNoAllocs sends allocPackets packets through a warmed-up datapath and
// fails if they cause more than allocSlack heap allocations in the whole
// process, so on every goroutine of the datapath.
func (p *pump) checkNoAllocs(pkt []byte) {
	p.tb.Helper()
	runtime.GC() // so that none runs, emptying caches, while measuring
	allocs := testing.AllocsPerRun(1, func() { p.run(pkt, allocPackets, 64) })
	p.tb.Logf("%v heap allocations for %d packets", allocs, allocPackets)
	if allocs > allocSlack {
		p.tb.Fatalf("datapath allocates: %v heap allocations for %d packets", allocs, allocPackets)
	}
}

// fakePair is a sender (cgw, whose fake TUN is read) and a receiver (gw, whose
// TUN is a sink) on an esptest.Net, with SAs installed.
func fakePair(tb testing.TB, udpEncap bool) (gw, cgw *side) {
	return fakePairSuite(tb, udpEncap, allSuites[0])
}

func fakePairSuite(tb testing.TB, udpEncap bool, s suite.ESP) (gw, cgw *side) {
	n := esptest.NewNet()
	gw, cgw = &side{tun: esptest.NewSinkTUN("gw", 64)}, &side{tun: esptest.NewTUN("cgw", 64)}
	for _, s := range []struct {
		side    *side
		local   netip.Addr
		allowed []netip.Prefix
	}{{gw, gwOutside, gwAllowed}, {cgw, cgwOutside, cgwAllowed}} {
		ike, natt, raw := n.Conns(s.local)
		s.side.ep = NewEndpoint(s.local, Conns{IKE: ike, NATT: natt, ESP: raw}, nil, testLogger(tb))
		tb.Cleanup(func() { s.side.ep.Close() })
		var err error
		if s.side.t, err = s.side.ep.NewTunnel(TunnelConfig{Name: s.local.String(), AllowedDst: s.allowed, Device: s.side.tun}, testLogger(tb)); err != nil {
			tb.Fatal(err)
		}
	}
	installPair(tb, gw, cgw, s, 0xc0000001, 0xd0000001, udpEncap)
	return gw, cgw
}

var encapNames = map[bool]string{true: "udp-encap", false: "raw-esp"}

// TestReceiveAllocs is TestRootReceiveAllocs on the esptest fakes, without
// root: TUN read, seal, fake send, fake receive, open, policy, TUN write,
// with no heap allocation in the steady state.
func TestReceiveAllocs(t *testing.T) {
	for _, udp := range []bool{false, true} {
		t.Run(encapNames[udp], func(t *testing.T) {
			gw, cgw := fakePair(t, udp)
			p, pkt := newPump(t, cgw.tun.Inbound, gw.tun.Written), benchInner()
			p.run(pkt, 1000, 64)
			p.checkNoAllocs(pkt)
		})
	}
}

// BenchmarkBackToBack runs 1400-byte packets from one tunnel to another over
// the esptest fakes: TUN read, seal, send, receive, open, TUN write. One op
// is one packet.
func BenchmarkBackToBack(b *testing.B) {
	for _, udp := range []bool{false, true} {
		b.Run(encapNames[udp], func(b *testing.B) {
			gw, cgw := fakePair(b, udp)
			p, pkt := newPump(b, cgw.tun.Inbound, gw.tun.Written), benchInner()
			p.run(pkt, 1000, 256)
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			b.ResetTimer()
			p.run(pkt, b.N, 256)
		})
	}
}

// BenchmarkOutbound measures the outbound path alone: fake TUN read, seal
// and WriteBatch into an esptest.Sink. One op is one 1400-byte packet.
func BenchmarkOutbound(b *testing.B) {
	for _, udp := range []bool{false, true} {
		b.Run(encapNames[udp], func(b *testing.B) {
			p, pkt := outboundSetup(b, udp, allSuites[0]), benchInner()
			p.run(pkt, 1000, 256)
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			b.ResetTimer()
			p.run(pkt, b.N, 256)
		})
	}
}

// outboundSetup is one tunnel whose ESP packets go into an esptest.Sink,
// and a pump from its TUN to the sink.
func outboundSetup(b *testing.B, udp bool, s suite.ESP) *pump {
	ike, natt, raw := esptest.NewSink(), esptest.NewSink(), esptest.NewSink()
	ep := NewEndpoint(cgwOutside, Conns{IKE: ike, NATT: natt, ESP: raw}, nil, testLogger(b))
	b.Cleanup(func() { ep.Close() })
	dev := esptest.NewTUN("cgw", 64)
	tn, err := ep.NewTunnel(TunnelConfig{Name: "cgw", AllowedDst: cgwAllowed, Device: dev}, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	port, sink := uint16(0), raw
	if udp {
		port, sink = PortNATT, natt
	}
	if err := tn.Install(randomConfig(b, 0xd0000001, s, 0), randomConfig(b, 0xc0000001, s, 0),
		netip.AddrPortFrom(gwOutside, port), udp); err != nil {
		b.Fatal(err)
	}
	return newPump(b, dev.Inbound, sink.Sent)
}

// BenchmarkWorkers shows how one tunnel's throughput scales with the
// number of crypto workers (each way), on the fakes: "outbound" is TUN →
// seal → sink, "back-to-back" is TUN → seal → fake net → open → sink TUN,
// both directions' crypto on the shared workers. The TUN reader, the
// sequential stages and the pump run on their own goroutines, so compare
// workers=1 (all crypto of the tunnel on one core, as before the
// pipeline) with workers=GOMAXPROCS; run with -cpu to vary GOMAXPROCS.
// One op is one 1400-byte packet; 0 allocs/op.
func BenchmarkWorkers(b *testing.B) {
	counts := []int{1, 2}
	if n := runtime.NumCPU(); n > 2 {
		counts = append(counts, n)
	}
	for _, s := range benchSuites {
		for _, path := range []string{"outbound", "back-to-back"} {
			for _, w := range counts {
				b.Run(fmt.Sprintf("%v/%s/workers=%d", s, path, w), func(b *testing.B) {
					withWorkers(b, w)
					var p *pump
					if path == "outbound" {
						p = outboundSetup(b, true, s)
					} else {
						gw, cgw := fakePairSuite(b, true, s)
						p = newPump(b, cgw.tun.Inbound, gw.tun.Written)
					}
					pkt := benchInner()
					p.run(pkt, 1000, 512)
					b.SetBytes(int64(len(pkt)))
					b.ReportAllocs()
					b.ResetTimer()
					p.run(pkt, b.N, 512)
				})
			}
		}
	}
}
