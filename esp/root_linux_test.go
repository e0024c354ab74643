package esp

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/esp/esptest"
	"github.com/vpgw/vpgw/esp/mmsg"
)

// requireRoot fails (never skips) when not root: these tests are the only
// ones that exercise the kernel paths.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test needs root (raw IPPROTO_ESP socket, UDP port 500, TUN devices, netns); run go test as root")
	}
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func realSide(t testing.TB, local netip.Addr) *side {
	t.Helper()
	s := &side{ikes: make(chan ikeMsg, 16)}
	ep, err := Listen(local, func(pkt []byte, l, r netip.AddrPort) {
		s.ikes <- ikeMsg{bytes.Clone(pkt), l, r}
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s.ep = ep
	t.Cleanup(func() { ep.Close() })
	return s
}

var (
	loA = netip.MustParseAddr("127.0.0.1")
	loB = netip.MustParseAddr("127.0.0.2")
)

// TestRootLoopbackESP runs two Endpoints with real sockets on 127.0.0.1 and
// 127.0.0.2 and fake TUNs, over raw ESP (protocol 50) and ESP-in-UDP 4500,
// and passes IKE over 500 and 4500 (marker stripped).
func TestRootLoopbackESP(t *testing.T) {
	requireRoot(t)
	checkGoroutines(t)
	for _, udp := range []bool{false, true} {
		t.Run(encapNames[udp], func(t *testing.T) {
			a, b := realSide(t, loA), realSide(t, loB)
			var err error
			a.tun, b.tun = esptest.NewTUN("a", 8), esptest.NewTUN("b", 8)
			if a.t, err = a.ep.NewTunnel(TunnelConfig{Name: "a", AllowedDst: gwAllowed, Device: a.tun}, testLogger(t)); err != nil {
				t.Fatal(err)
			}
			if b.t, err = b.ep.NewTunnel(TunnelConfig{Name: "b", AllowedDst: cgwAllowed, Device: b.tun}, testLogger(t)); err != nil {
				t.Fatal(err)
			}
			installPair(t, a, b, allSuites[0], 0xa0000001, 0xb0000001, udp)
			exchange(t, a, b, 20)
			if s := a.t.Stats(); s.PacketsIn != 20 || s.PacketsOut != 20 {
				t.Fatalf("stats %+v", s)
			}
			installPair(t, a, b, allSuites[2], 0xa0000002, 0xb0000002, udp)
			exchange(t, a, b, 5)

			for _, port := range []uint16{PortIKE, PortNATT} {
				msg := []byte(fmt.Sprintf("ike via %d", port))
				if err := b.ep.SendIKE(msg, port, netip.AddrPortFrom(loA, port)); err != nil {
					t.Fatal(err)
				}
				select {
				case got := <-a.ikes:
					if !bytes.Equal(got.pkt, msg) || got.local != netip.AddrPortFrom(loA, port) || got.remote != netip.AddrPortFrom(loB, port) {
						t.Fatalf("IKE %q %v %v", got.pkt, got.local, got.remote)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("IKE on %d not delivered", port)
				}
			}
			if err := a.ep.Close(); err != nil {
				t.Fatal(err)
			}
			if err := b.ep.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRootRealTUNPing puts real TUNs on both ends: vpgwesp0 (10.99.0.1/30)
// in this namespace, vpgwesp1 (10.99.0.2/30) moved into a fresh netns, and
// pings across the tunnel with /usr/bin/ping, so echo request and reply each
// cross both datapaths and the kernel.
func TestRootRealTUNPing(t *testing.T) {
	requireRoot(t)
	checkGoroutines(t)
	inside := []netip.Prefix{netip.MustParsePrefix("10.99.0.0/30")}
	for _, udp := range []bool{false, true} {
		t.Run(encapNames[udp], func(t *testing.T) {
			ns := fmt.Sprintf("vpgw-esp-%d", os.Getpid())
			run(t, "ip", "netns", "add", ns)
			t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })

			a, b := realSide(t, loA), realSide(t, loB)
			var err error
			if a.t, err = a.ep.NewTunnel(TunnelConfig{Name: "vpgwesp0", AllowedDst: inside}, testLogger(t)); err != nil {
				t.Fatal(err)
			}
			if b.t, err = b.ep.NewTunnel(TunnelConfig{Name: "vpgwesp1", AllowedDst: inside}, testLogger(t)); err != nil {
				t.Fatal(err)
			}
			run(t, "ip", "addr", "add", "10.99.0.1/30", "dev", "vpgwesp0")
			run(t, "ip", "link", "set", "vpgwesp0", "up")
			run(t, "ip", "link", "set", "vpgwesp1", "netns", ns)
			run(t, "ip", "-n", ns, "addr", "add", "10.99.0.2/30", "dev", "vpgwesp1")
			run(t, "ip", "-n", ns, "link", "set", "vpgwesp1", "up")
			installPair(t, a, b, allSuites[0], 0xa0000001, 0xb0000001, udp)

			out, err := exec.Command("ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", "vpgwesp0", "10.99.0.2").CombinedOutput()
			if err != nil {
				t.Fatalf("ping across the tunnel: %v\n%s\ngw %+v\ncgw %+v", err, out, a.t.Stats(), b.t.Stats())
			}
			sa, sb := a.t.Stats(), b.t.Stats()
			if sa.PacketsOut < 3 || sa.PacketsIn < 3 || sb.PacketsIn < 3 || sb.PacketsOut < 3 {
				t.Fatalf("stats gw %+v cgw %+v", sa, sb)
			}
			if err := a.ep.Close(); err != nil {
				t.Fatal(err)
			}
			if err := b.ep.Close(); err != nil {
				t.Fatal(err)
			}
			if err := exec.Command("ip", "link", "show", "vpgwesp0").Run(); err == nil {
				t.Fatal("TUN vpgwesp0 still exists after Close")
			}
		})
	}
}

// loopbackPair is a sender (b, whose fake TUN is read) and a receiver (a,
// whose TUN is a sink) with real sockets on loopback and SAs installed.
func loopbackPair(tb testing.TB, udpEncap bool) (a, b *side) {
	a, b = realSide(tb, loA), realSide(tb, loB)
	var err error
	a.tun, b.tun = esptest.NewSinkTUN("a", 64), esptest.NewTUN("b", 64)
	if a.t, err = a.ep.NewTunnel(TunnelConfig{Name: "a", AllowedDst: gwAllowed, Device: a.tun}, testLogger(tb)); err != nil {
		tb.Fatal(err)
	}
	if b.t, err = b.ep.NewTunnel(TunnelConfig{Name: "b", AllowedDst: cgwAllowed, Device: b.tun}, testLogger(tb)); err != nil {
		tb.Fatal(err)
	}
	installPair(tb, a, b, allSuites[0], 0xa0000001, 0xb0000001, udpEncap)
	return a, b
}

// TestRootReceiveAllocs measures allocations per packet on real sockets over
// loopback: fake TUN read, seal, sendmmsg (raw ESP or UDP 4500), kernel,
// recvmmsg, SPI lookup, open, policy, TUN write. The count is process-wide,
// so it covers both endpoints' goroutines; the steady state allocates
// nothing (see checkNoAllocs for the slack).
func TestRootReceiveAllocs(t *testing.T) {
	requireRoot(t)
	checkGoroutines(t)
	for _, udp := range []bool{false, true} {
		t.Run(encapNames[udp], func(t *testing.T) {
			a, b := loopbackPair(t, udp)
			defer b.ep.Close()
			defer a.ep.Close()
			p, pkt := newPump(t, b.tun.Inbound, a.tun.Written), benchInner()
			p.run(pkt, 1000, 64) // warm up: pools, scratch, socket buffers
			p.checkNoAllocs(pkt)
			if s := a.t.Stats(); s.PacketsIn != 1000+2*allocPackets {
				t.Fatalf("receiver stats %+v", s)
			}
			if udp {
				// ESP in UDP goes with the kernel's offloads: GSO sends
				// from the sender, GRO reads at the receiver.
				if !b.ep.conns.NATT.(*mmsg.Conn).GSO() {
					t.Error("sender's UDP 4500 socket has GSO off")
				}
				if !a.ep.conns.NATT.(*mmsg.Conn).GRO() {
					t.Error("receiver's UDP 4500 socket did not turn GRO on")
				}
			}
		})
	}
}

// BenchmarkRootLoopback sends 1400-byte packets over real sockets on
// loopback, end to end as in TestRootReceiveAllocs; one op is one packet.
func BenchmarkRootLoopback(b *testing.B) {
	requireRoot(b)
	for _, udp := range []bool{false, true} {
		b.Run(encapNames[udp], func(b *testing.B) {
			rx, tx := loopbackPair(b, udp)
			defer tx.ep.Close()
			defer rx.ep.Close()
			p, pkt := newPump(b, tx.tun.Inbound, rx.tun.Written), benchInner()
			p.run(pkt, 1000, 256)
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			b.ResetTimer()
			p.run(pkt, b.N, 256)
		})
	}
}
