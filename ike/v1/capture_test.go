package v1

import (
	"bytes"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
	"github.com/vpgw/vpgw/suite"
)

// Known answers from the lab capture of strongSwan 5.9.8 (kernel-libipsec)
// talking IKEv1 to a strongSwan responder: 198.51.100.2 → 203.0.113.2,
// aes128-sha256-modp2048, NAT-T RFC 3947.

func captured(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/fuzz/FuzzHandlePacket/" + name)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 3)
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}

// The first NAT-D of strongSwan's MM3 hashes our address as it addressed us
// (SHA-256: the negotiated hash); the second its own, which kernel-libipsec
// fakes so that NAT is always "detected".
func TestNATDCapture(t *testing.T) {
	m, err := isakmp.Parse(captured(t, "seed-strongswan-frame03-mm3"))
	if err != nil {
		t.Fatal(err)
	}
	ds := isakmp.NATDs(m.Payloads)
	if len(ds) != 2 {
		t.Fatalf("%d NAT-D payloads", len(ds))
	}
	want, _ := hex.DecodeString("b5b32881af90e546e6ab0b70c9c34cb67618502cb3b94ff8f6288fbb724c01c2")
	got := ike.V1NATDHash(suite.PRFHMACSHA256, m.Header.ICookie, m.Header.RCookie, vgw500)
	if !bytes.Equal(got, want) || !bytes.Equal(ds[0].Hash, want) {
		t.Errorf("NAT-D hash %x", got)
	}
	res := checkNATD(ds, suite.PRFHMACSHA256, m.Header.ICookie, m.Header.RCookie, vgw500, cgw500)
	if !res.present || res.localNAT || !res.peerNAT || !res.detected() {
		t.Errorf("NAT-D result %+v", res)
	}
}

// strongSwan's real MM1 and MM3 are answered with a matching MM2 (the
// offered transform, RFC 3947 and DPD vendor IDs) and MM4.
func TestCapturedMainMode(t *testing.T) {
	h := newHarness(t, nil)
	mm2, err := isakmp.Parse(h.exchange(captured(t, "seed-strongswan-frame01-mm1"), vgw500, cgw500))
	if err != nil {
		t.Fatal(err)
	}
	sap, _ := find[*isakmp.SA](mm2.Payloads)
	if sap == nil || len(sap.Proposals) != 1 || len(sap.Proposals[0].Transforms) != 1 ||
		!isakmp.HasVendorID(mm2.Payloads, vidRFC3947) || !isakmp.HasVendorID(mm2.Payloads, vidDPD) ||
		isakmp.HasVendorID(mm2.Payloads, vidDraft02N) {
		t.Fatalf("MM2 %v", mm2)
	}
	if st := h.r.Status(); st.IKESAs != 1 {
		t.Errorf("status %+v", st)
	}
	if !strings.Contains(h.logBuf.String(), "chose aes128-sha2-256-modp2048 (lifetime 4h24m0s)") {
		t.Error("log lacks the choice")
	}
	// MM3 carries the capture's responder cookie: patch in ours.
	mm3 := captured(t, "seed-strongswan-frame03-mm3")
	copy(mm3[8:16], mm2.Raw[8:16])
	mm4, err := isakmp.Parse(h.exchange(mm3, vgw500, cgw500))
	if err != nil {
		t.Fatal(err)
	}
	ke, _ := find[*isakmp.KE](mm4.Payloads)
	if ke == nil || len(ke.Data) != 256 || len(isakmp.NATDs(mm4.Payloads)) != 2 {
		t.Errorf("MM4 %v", mm4)
	}
}
