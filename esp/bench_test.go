package esp

import (
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
