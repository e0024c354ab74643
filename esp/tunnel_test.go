package esp

import (
	"bytes"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpgw/vpgw/esp/esptest"
	"github.com/vpgw/vpgw/esp/mmsg"
	"github.com/vpgw/vpgw/suite"
)

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// checkGoroutines fails the test if goroutines started during it are still
// running once it ends (after a grace period for them to unwind).
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

var (
	gwOutside  = netip.MustParseAddr("192.0.2.1")
	cgwOutside = netip.MustParseAddr("198.51.100.2")
	vpcHost    = netip.MustParseAddr("10.0.1.7")
	onPremHost = netip.MustParseAddr("172.16.0.5")
	gwAllowed  = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("169.254.10.0/30")}
	cgwAllowed = []netip.Prefix{netip.MustParsePrefix("172.16.0.0/24"), netip.MustParsePrefix("169.254.10.0/30")}
)

// side is one end of a back-to-back setup.
type side struct {
	ep   *Endpoint
	tun  *esptest.TUN
	t    *Tunnel
	ikes chan ikeMsg
}

type ikeMsg struct {
	pkt           []byte
	local, remote netip.AddrPort
}

func newSide(t *testing.T, conns Conns, local netip.Addr, name string, allowed []netip.Prefix, dev *esptest.TUN) *side {
	s := &side{tun: dev, ikes: make(chan ikeMsg, 16)}
	s.ep = NewEndpoint(local, conns, func(pkt []byte, l, r netip.AddrPort) {
		s.ikes <- ikeMsg{bytes.Clone(pkt), l, r}
	}, testLogger(t))
	var err error
	s.t, err = s.ep.NewTunnel(TunnelConfig{Name: name, AllowedDst: allowed, Device: dev}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fakeSide(t *testing.T, n *esptest.Net, local netip.Addr, name string, allowed []netip.Prefix) *side {
	ike, natt, raw := n.Conns(local)
	return newSide(t, Conns{IKE: ike, NATT: natt, ESP: raw}, local, name, allowed, esptest.NewTUN(name, 8))
}

// installPair installs matching SAs on a (gateway) and b (customer).
func installPair(t testing.TB, a, b *side, s suite.ESP, aIn, bIn uint32, udpEncap bool) {
	t.Helper()
	cfgA := randomConfig(t, aIn, s, 128) // b → a
	cfgB := randomConfig(t, bIn, s, 128) // a → b
	port := uint16(0)
	if udpEncap {
		port = PortNATT
	}
	if err := a.t.Install(cfgA, cfgB, netip.AddrPortFrom(b.ep.Local(), port), udpEncap); err != nil {
		t.Fatal(err)
	}
	if err := b.t.Install(cfgB, cfgA, netip.AddrPortFrom(a.ep.Local(), port), udpEncap); err != nil {
		t.Fatal(err)
	}
}

func expectPacket(t *testing.T, ch <-chan []byte, want []byte) {
	t.Helper()
	select {
	case got := <-ch:
		if !bytes.Equal(got, want) {
			t.Fatalf("packet differs:\n got %x\nwant %x", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("packet did not come out of the other TUN")
	}
}

func expectNoPacket(t *testing.T, ch <-chan []byte) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("unexpected packet %x", got)
	case <-time.After(50 * time.Millisecond):
	}
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exchange sends pings both ways and checks they arrive byte for byte.
func exchange(t *testing.T, a, b *side, count int) {
	t.Helper()
	for i := 0; i < count; i++ {
		req := esptest.Ping(onPremHost, vpcHost, 7, uint16(i), bytes.Repeat([]byte{byte(i)}, i*13%1300))
		b.tun.Inbound <- req
		expectPacket(t, a.tun.Outbound, req)
		rep := esptest.Ping(vpcHost, onPremHost, 7, uint16(i), []byte("reply"))
		a.tun.Inbound <- rep
		expectPacket(t, b.tun.Outbound, rep)
	}
}

func TestBackToBack(t *testing.T) {
	checkGoroutines(t)
	for _, udp := range []bool{true, false} {
		for _, s := range []suite.ESP{allSuites[0], allSuites[2], allSuites[5]} {
			name := s.String() + map[bool]string{true: "/udp-encap", false: "/raw"}[udp]
			t.Run(name, func(t *testing.T) {
				n := esptest.NewNet()
				gw := fakeSide(t, n, gwOutside, "vpn-1-t1", gwAllowed)
				cgw := fakeSide(t, n, cgwOutside, "cgw", cgwAllowed)
				defer gw.ep.Close()
				defer cgw.ep.Close()
				installPair(t, gw, cgw, s, 0xc0000001, 0xd0000001, udp)
				exchange(t, gw, cgw, 20)

				st := gw.t.Stats()
				if st.PacketsIn != 20 || st.PacketsOut != 20 {
					t.Fatalf("gateway stats %+v", st)
				}
				for r, v := range st.Drops {
					if v != 0 {
						t.Fatalf("unexpected drop %s=%d", r, v)
					}
				}
				if len(st.SAs) != 2 || !st.SAs[0].Inbound || st.SAs[0].PacketsIn != 20 || st.SAs[1].PacketsOut != 20 {
					t.Fatalf("SA stats %+v", st.SAs)
				}
			})
		}
	}
}

func TestBackToBackPolicyRekeyAndDrops(t *testing.T) {
	checkGoroutines(t)
	n := esptest.NewNet()
	gw := fakeSide(t, n, gwOutside, "vpn-1-t1", gwAllowed)
	cgw := fakeSide(t, n, cgwOutside, "cgw", cgwAllowed)
	defer cgw.ep.Close()
	defer gw.ep.Close()

	// Nothing installed: the TUN reader drops with no_sa.
	gw.tun.Inbound <- esptest.Ping(vpcHost, onPremHost, 1, 1, nil)
	eventually(t, "no_sa drop", func() bool { return gw.t.Stats().Drop(DropNoSA) == 1 })

	installPair(t, gw, cgw, allSuites[0], 0xc0000001, 0xd0000001, true)
	exchange(t, gw, cgw, 1)

	// Inner destination outside the gateway's AllowedDst: policy drop.
	cgw.tun.Inbound <- esptest.Ping(onPremHost, netip.MustParseAddr("8.8.8.8"), 1, 1, nil)
	eventually(t, "policy drop", func() bool { return gw.t.Stats().Drop(DropPolicy) == 1 })
	expectNoPacket(t, gw.tun.Outbound)

	// IPv6 from the TUN on an IPv4-only tunnel never leaves.
	v6 := make([]byte, 48)
	v6[0] = 0x60
	v6[5] = 8
	gw.tun.Inbound <- v6
	eventually(t, "IPv6 policy drop", func() bool { return gw.t.Stats().Drop(DropPolicy) == 2 })

	// Unknown SPI and runt ESP: endpoint-level drops. Keepalive: ignored.
	raw := n.Listen(netip.AddrPortFrom(cgwOutside, 4501))
	send := func(p []byte) {
		raw.WriteBatch([]mmsg.Message{{Buf: p, Addr: netip.AddrPortFrom(gwOutside, PortNATT)}}, nil)
	}
	send([]byte{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 1, 2, 3, 4})
	send([]byte{0xff})
	send([]byte{1, 2, 3})
	eventually(t, "endpoint drops", func() bool {
		s := gw.ep.Stats()
		return s.Drop(DropNoSA) == 1 && s.Drop(DropMalformed) == 1
	})

	// Replay of a captured packet: count it as replay on the gateway.
	gwIn := gw.t.in[0xc0000001]
	pkt := sealPacket(t, cgw.t.out.Load().sa, esptest.Ping(onPremHost, vpcHost, 9, 9, nil))
	send(bytes.Clone(pkt))
	expectPacket(t, gw.tun.Outbound, esptest.Ping(onPremHost, vpcHost, 9, 9, nil))
	send(bytes.Clone(pkt))
	eventually(t, "replay drop", func() bool { return gwIn.Stats().Drop(DropReplay) == 1 })
	// Tampered (fresh sequence number, so not a replay): auth_failed.
	bad := sealPacket(t, cgw.t.out.Load().sa, esptest.Ping(onPremHost, vpcHost, 9, 10, nil))
	bad[len(bad)-3] ^= 0x80
	send(bad)
	eventually(t, "auth drop", func() bool { return gw.t.Stats().Drop(DropAuthFailed) == 1 })

	// IKE over 4500 reaches the handler without the marker.
	if err := cgw.ep.SendIKE([]byte("ike-message"), PortNATT, netip.AddrPortFrom(gwOutside, PortNATT)); err != nil {
		t.Fatal(err)
	}
	if err := cgw.ep.SendIKE([]byte("ike-on-500"), PortIKE, netip.AddrPortFrom(gwOutside, PortIKE)); err != nil {
		t.Fatal(err)
	}
	want := map[uint16]ikeMsg{
		PortNATT: {[]byte("ike-message"), netip.AddrPortFrom(gwOutside, PortNATT), netip.AddrPortFrom(cgwOutside, PortNATT)},
		PortIKE:  {[]byte("ike-on-500"), netip.AddrPortFrom(gwOutside, PortIKE), netip.AddrPortFrom(cgwOutside, PortIKE)},
	}
	for range 2 { // the two ports are read by different goroutines: any order
		select {
		case got := <-gw.ikes:
			w := want[got.local.Port()]
			if !bytes.Equal(got.pkt, w.pkt) || got.local != w.local || got.remote != w.remote {
				t.Fatalf("IKE got %q %v %v, want %q %v %v", got.pkt, got.local, got.remote, w.pkt, w.local, w.remote)
			}
			delete(want, got.local.Port())
		case <-time.After(5 * time.Second):
			t.Fatalf("IKE messages not delivered: %v", want)
		}
	}

	// Rekey: new pair installed, old inbound still accepted until Remove.
	oldOut := cgw.t.out.Load().sa
	installPair(t, gw, cgw, allSuites[2], 0xc0000002, 0xd0000002, true)
	exchange(t, gw, cgw, 2)
	late := esptest.Ping(onPremHost, vpcHost, 3, 3, []byte("late"))
	send(sealPacket(t, oldOut, late))
	expectPacket(t, gw.tun.Outbound, late)
	gw.t.Remove(0xc0000001, 0xd0000001)
	cgw.t.Remove(0xd0000001, 0xc0000001)
	send(sealPacket(t, oldOut, late))
	eventually(t, "old SPI gone", func() bool { return gw.ep.Stats().Drop(DropNoSA) == 2 })
	exchange(t, gw, cgw, 2)
	if got := len(gw.t.Stats().SAs); got != 2 {
		t.Fatalf("%d SAs after Remove, want 2", got)
	}
	// Removing the current outbound SA stops sending.
	gw.t.Remove(0, 0xd0000002)
	gw.tun.Inbound <- esptest.Ping(vpcHost, onPremHost, 1, 1, nil)
	eventually(t, "no_sa after remove", func() bool { return gw.t.Stats().Drop(DropNoSA) == 2 })

	// Duplicate inbound SPI across tunnels is refused.
	other, err := gw.ep.NewTunnel(TunnelConfig{Name: "t2", AllowedDst: gwAllowed, Device: esptest.NewTUN("t2", 1)}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Install(randomConfig(t, 0xc0000002, allSuites[0], 0), randomConfig(t, 0xe0000001, allSuites[0], 0),
		netip.AddrPortFrom(cgwOutside, 4500), true); err == nil {
		t.Fatal("duplicate inbound SPI accepted")
	}
}

// TestConcurrentTraffic pushes traffic both ways at once from several
// goroutines under -race.
func TestConcurrentTraffic(t *testing.T) {
	checkGoroutines(t)
	n := esptest.NewNet()
	gw := fakeSide(t, n, gwOutside, "vpn-1-t1", gwAllowed)
	cgw := fakeSide(t, n, cgwOutside, "cgw", cgwAllowed)
	defer cgw.ep.Close()
	defer gw.ep.Close()
	installPair(t, gw, cgw, allSuites[0], 0xc0000001, 0xd0000001, true)
	const per = 200
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < per; i++ {
			cgw.tun.Inbound <- esptest.Ping(onPremHost, vpcHost, 1, uint16(i), nil)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < per; i++ {
			gw.tun.Inbound <- esptest.Ping(vpcHost, onPremHost, 1, uint16(i), nil)
		}
	}()
	got := [2]int{}
	timeout := time.After(10 * time.Second)
	for got[0] < per || got[1] < per {
		select {
		case <-gw.tun.Outbound:
			got[0]++
		case <-cgw.tun.Outbound:
			got[1]++
		case <-timeout:
			t.Fatalf("received %v of %d each way", got, per)
		}
	}
	wg.Wait()
}

// TestLastInbound: a tunnel's last sign of life is zero until authentic
// ESP arrives, then the time of the batch that carried it; the sender's
// stays zero (it received nothing).
func TestLastInbound(t *testing.T) {
	gw, cgw := fakePair(t, false)
	if !gw.t.LastInbound().IsZero() {
		t.Fatalf("LastInbound before any traffic = %v", gw.t.LastInbound())
	}
	before := time.Now()
	p, pkt := newPump(t, cgw.tun.Inbound, gw.tun.Written), benchInner()
	p.run(pkt, 10, 4)
	if got := gw.t.LastInbound(); got.Before(before) || got.After(time.Now()) {
		t.Errorf("LastInbound = %v, want between %v and now", got, before)
	}
	if !cgw.t.LastInbound().IsZero() {
		t.Errorf("the sender's LastInbound = %v, it received nothing", cgw.t.LastInbound())
	}
}
