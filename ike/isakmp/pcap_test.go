package isakmp

import (
	"testing"

	"github.com/vpgw/vpgw/internal/pcaptest"
)

// captureIKEv1 is a copy of /work/shared/captures/strongswan-ikev1.pcap, kept
// in testdata so the tests run anywhere.
const captureIKEv1 = "testdata/strongswan-ikev1.pcap"

// loadCapture returns the IKE messages of captureIKEv1.
func loadCapture(t testing.TB) []pcaptest.IKE {
	t.Helper()
	return pcaptest.LoadIKE(t, captureIKEv1)
}
