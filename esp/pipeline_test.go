package esp

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/vpgw/vpgw/esp/esptest"
	"github.com/vpgw/vpgw/esp/mmsg"
	"github.com/vpgw/vpgw/suite"
)

// withWorkers runs the crypto workers of the Endpoints made after it with n
// workers each way; no Endpoint may be open.
func withWorkers(tb testing.TB, n int) {
	tb.Helper()
	workers.mu.Lock()
	open := workers.q != nil
	workers.mu.Unlock()
	if open {
		tb.Fatal("an Endpoint is still open: cannot change the crypto workers")
	}
	old := numWorkers
	numWorkers = n
	tb.Cleanup(func() { numWorkers = old })
}

// TestParallelSealKeepsOrder floods one tunnel with several encryption
// workers and checks that its ESP packets leave with consecutive sequence
// numbers, whatever order the workers finish in.
func TestParallelSealKeepsOrder(t *testing.T) {
	checkGoroutines(t)
	withWorkers(t, 4)
	for _, s := range []suite.ESP{allSuites[0], allSuites[3]} {
		t.Run(s.String(), func(t *testing.T) {
			n := esptest.NewNet()
			cgw := fakeSide(t, n, cgwOutside, "cgw", cgwAllowed)
			defer cgw.ep.Close()
			peer := n.Listen(netip.AddrPortFrom(gwOutside, PortNATT))
			defer peer.Close()
			if err := cgw.t.Install(randomConfig(t, 0xd0000001, s, 0), randomConfig(t, 0xc0000001, s, 0),
				netip.AddrPortFrom(gwOutside, PortNATT), true); err != nil {
				t.Fatal(err)
			}
			// Chunks of 512 packets, each read before the next is sent, so
			// that no queue of the fakes overflows (they drop when full).
			const total, chunk = 4096, 512
			next := make(chan struct{})
			go func() {
				for i := range total {
					if i > 0 && i%chunk == 0 {
						<-next
					}
					cgw.tun.Inbound <- esptest.Ping(onPremHost, vpcHost, 1, uint16(i), make([]byte, i%1300))
				}
			}()
			ms := make([]mmsg.Message, 64)
			for i := range ms {
				ms[i].Buf = make([]byte, 2048)
			}
			want := uint32(1)
			timeout := time.AfterFunc(10*time.Second, func() { peer.Close() })
			defer timeout.Stop()
			for want <= total {
				k, err := peer.ReadBatch(ms, nil)
				if err != nil {
					t.Fatalf("got %d of %d packets: %v", want-1, total, err)
				}
				for _, m := range ms[:k] {
					if seq := binary.BigEndian.Uint32(m.Buf[4:]); seq != want {
						t.Fatalf("sequence number %d, want %d", seq, want)
					}
					if want%chunk == 0 && want < total {
						next <- struct{}{}
					}
					want++
				}
			}
		})
	}
}

// TestParallelOpenReplayInOrder sends batches holding duplicates and
// out-of-order packets: with several decryption workers, the first copy of
// each packet is delivered, in arrival order, and every later copy is
// counted as a replay, never delivered twice.
func TestParallelOpenReplayInOrder(t *testing.T) {
	checkGoroutines(t)
	withWorkers(t, 4)
	n := esptest.NewNet()
	gw := fakeSide(t, n, gwOutside, "gw", gwAllowed)
	defer gw.ep.Close()
	in, out := randomConfig(t, 0xc0000001, allSuites[2], 0), randomConfig(t, 0xd0000001, allSuites[2], 0)
	if err := gw.t.Install(in, out, netip.AddrPortFrom(cgwOutside, PortNATT), true); err != nil {
		t.Fatal(err)
	}
	sealer, err := NewSA(in)
	if err != nil {
		t.Fatal(err)
	}
	const count = 40
	inner := make([][]byte, count)
	pkts := make([][]byte, count)
	for i := range pkts {
		inner[i] = esptest.Ping(onPremHost, vpcHost, 2, uint16(i), bytes.Repeat([]byte{byte(i)}, 100+i))
		pkts[i] = sealPacket(t, sealer, inner[i])
	}
	// Each packet, then it again and its predecessor again; one batch.
	var ms []mmsg.Message
	to := netip.AddrPortFrom(gwOutside, PortNATT)
	order := []int{}
	for i := range pkts {
		ms = append(ms, mmsg.Message{Buf: pkts[i], Addr: to}, mmsg.Message{Buf: pkts[i], Addr: to})
		order = append(order, i)
		if i > 0 {
			ms = append(ms, mmsg.Message{Buf: pkts[i-1], Addr: to})
		}
	}
	src := n.Listen(netip.AddrPortFrom(cgwOutside, PortNATT))
	defer src.Close()
	if _, err := src.WriteBatch(ms, nil); err != nil {
		t.Fatal(err)
	}
	for _, i := range order {
		expectPacket(t, gw.tun.Outbound, inner[i])
	}
	expectNoPacket(t, gw.tun.Outbound)
	eventually(t, "replay drops", func() bool { return gw.t.Stats().Drop(DropReplay) == 2*count-1 })
	if s := gw.t.Stats(); s.PacketsIn != count {
		t.Fatalf("stats %+v", s)
	}
}

// TestCloseUnderLoad closes both endpoints while traffic flows both ways
// through the crypto workers: nothing may hang, panic or leak.
func TestCloseUnderLoad(t *testing.T) {
	checkGoroutines(t)
	withWorkers(t, 3)
	for _, order := range []string{"tunnels first", "endpoints only"} {
		t.Run(order, func(t *testing.T) {
			n := esptest.NewNet()
			gw := fakeSide(t, n, gwOutside, "gw", gwAllowed)
			cgw := fakeSide(t, n, cgwOutside, "cgw", cgwAllowed)
			installPair(t, gw, cgw, allSuites[0], 0xc0000001, 0xd0000001, true)
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				a := esptest.Ping(onPremHost, vpcHost, 1, 1, make([]byte, 1000))
				b := esptest.Ping(vpcHost, onPremHost, 1, 1, make([]byte, 1000))
				for {
					select {
					case <-stop:
						return
					case cgw.tun.Inbound <- a:
					case gw.tun.Inbound <- b:
					case <-gw.tun.Outbound:
					case <-cgw.tun.Outbound:
					}
				}
			}()
			eventually(t, "traffic", func() bool { return gw.t.PacketsIn() > 100 && cgw.t.PacketsIn() > 100 })
			if order == "tunnels first" {
				go gw.t.Close() // concurrently with the Endpoint's Close
				cgw.t.Close()
			}
			gw.ep.Close()
			cgw.ep.Close()
			close(stop)
			<-done
		})
	}
}
