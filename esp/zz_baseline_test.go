package esp

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vpgw/vpgw/esp/esptest"
	"golang.org/x/net/ipv4"
)

type oldSink struct {
	sent chan int
	done chan struct{}
}

func (s *oldSink) ReadBatch(ms []ipv4.Message, _ int) (int, error) { <-s.done; return 0, net.ErrClosed }
func (s *oldSink) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	s.sent <- len(ms)
	return len(ms), nil
}
func (s *oldSink) Close() error {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	return nil
}

func BenchmarkBaselineOutbound(b *testing.B) {
	for _, udp := range []bool{false, true} {
		b.Run(map[bool]string{true: "udp-encap", false: "raw-esp"}[udp], func(b *testing.B) {
			mk := func() *oldSink { return &oldSink{sent: make(chan int, 1024), done: make(chan struct{})} }
			ike, natt, raw := mk(), mk(), mk()
			ep := NewEndpoint(gwOutside, Conns{IKE: ike, NATT: natt, ESP: raw}, nil, testLogger(b))
			defer ep.Close()
			dev := esptest.NewTUN("t", 64)
			tn, _ := ep.NewTunnel(TunnelConfig{Name: "t", AllowedDst: cgwAllowed, Device: dev}, testLogger(b))
			port := uint16(0)
			if udp {
				port = PortNATT
			}
			if err := tn.Install(randomConfig(b, 0x1001, allSuites[0], 0), randomConfig(b, 0x1002, allSuites[0], 0), netip.AddrPortFrom(cgwOutside, port), udp); err != nil {
				b.Fatal(err)
			}
			sink := raw
			if udp {
				sink = natt
			}
			p := esptest.Ping(dstA, srcA, 1, 1, make([]byte, benchPacketSize-28))
			pump(b, dev.Inbound, sink.sent, p, 1000, 256)
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			b.ResetTimer()
			pump(b, dev.Inbound, sink.sent, p, b.N, 256)
		})
	}
}
