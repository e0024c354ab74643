package esp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vpgw/vpgw/esp/esptest"
)

// TestRemoveCurrentOutboundFallsBack: when the SA the tunnel sends on is
// removed while an older pair is still installed (the redundant pair of a
// rekey collision), traffic continues on the newest remaining SA instead of
// stopping.
func TestRemoveCurrentOutboundFallsBack(t *testing.T) {
	checkGoroutines(t)
	n := esptest.NewNet()
	gw := fakeSide(t, n, gwOutside, "vpn-1-t1", gwAllowed)
	cgw := fakeSide(t, n, cgwOutside, "cgw", cgwAllowed)
	defer cgw.ep.Close()
	defer gw.ep.Close()
	installPair(t, gw, cgw, allSuites[0], 0xc0000001, 0xd0000001, true) // first pair
	installPair(t, gw, cgw, allSuites[0], 0xc0000002, 0xd0000002, true) // second pair, now sent on
	gw.t.Remove(0xc0000002, 0xd0000002)

	ping := esptest.Ping(vpcHost, onPremHost, 1, 1, nil)
	gw.tun.Inbound <- ping
	select {
	case got := <-cgw.tun.Outbound:
		if string(got) != string(ping) {
			t.Fatalf("delivered %x, want %x", got, ping)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("removing the current outbound SA stopped the tunnel from sending on the remaining one")
	}
	gw.t.Remove(0xc0000001, 0xd0000001)
	if ob := gw.t.out.Load(); ob != nil {
		t.Errorf("all SAs removed but still sending on %v", ob.sa)
	}
}

// TestRekeyedOutboundWaitsForThePeer: after a rekey the new outbound SA is
// used only once the peer shows it has the new pair; until then packets
// still go out on the old one, which the peer can open.
func TestRekeyedOutboundWaitsForThePeer(t *testing.T) {
	checkGoroutines(t)
	n := esptest.NewNet()
	gw := fakeSide(t, n, gwOutside, "vpn-1-t1", gwAllowed)
	cgw := fakeSide(t, n, cgwOutside, "cgw", cgwAllowed)
	defer cgw.ep.Close()
	defer gw.ep.Close()
	installPair(t, gw, cgw, allSuites[0], 0xc0000001, 0xd0000001, true)

	// vpgw finished the rekey first; the peer has not installed it yet.
	newIn := randomConfig(t, 0xc0000002, allSuites[0], 128)  // peer → vpgw
	newOut := randomConfig(t, 0xd0000002, allSuites[0], 128) // vpgw → peer
	if err := gw.t.Install(newIn, newOut, netip.AddrPortFrom(cgwOutside, PortNATT), true); err != nil {
		t.Fatal(err)
	}
	ping := esptest.Ping(vpcHost, onPremHost, 1, 1, nil)
	gw.tun.Inbound <- ping
	select {
	case <-cgw.tun.Outbound:
	case <-time.After(5 * time.Second):
		t.Fatal("right after the rekey vpgw sent on an SA the peer does not have yet")
	}
	if spi := gw.t.out.Load().sa.spi; spi != 0xd0000001 {
		t.Fatalf("sending on %#x before the peer used the new pair", spi)
	}

	// The peer installs its side and sends on it at once (as strongSwan
	// does): vpgw follows.
	if err := cgw.t.Install(newOut, newIn, netip.AddrPortFrom(gwOutside, PortNATT), true); err != nil {
		t.Fatal(err)
	}
	cgw.t.mu.Lock()
	peerIn := cgw.t.in[newOut.SPI]
	cgw.t.mu.Unlock()
	cgw.t.promote(peerIn)
	cgw.tun.Inbound <- esptest.Ping(onPremHost, vpcHost, 1, 2, nil)
	select {
	case <-gw.tun.Outbound:
	case <-time.After(5 * time.Second):
		t.Fatal("the peer's packet on the new pair did not arrive")
	}
	if spi := gw.t.out.Load().sa.spi; spi != 0xd0000002 {
		t.Errorf("after the peer used the new pair vpgw still sends on %#x", spi)
	}
}
