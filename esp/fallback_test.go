package esp

import (
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
