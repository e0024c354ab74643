package message

import (
	"testing"

	"github.com/vpgw/vpgw/internal/pcaptest"
)

// captureIKEv2 is a copy of /work/shared/captures/strongswan-ikev2.pcap, kept
// in testdata so the tests run anywhere.
const captureIKEv2 = "testdata/strongswan-ikev2.pcap"

// loadCapture returns the IKE messages of captureIKEv2.
func loadCapture(t testing.TB) []pcaptest.IKE {
	t.Helper()
	return pcaptest.LoadIKE(t, captureIKEv2)
}
