package v1

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
)

// established runs Main Mode and one Quick Mode and drops their events.
func established(t *testing.T, mod func(*Config)) (*harness, *initiator, qmOffer, *initChild) {
	h := newHarness(t, mod)
	in, offer := awsDefault()
	h.mainMode(in)
	c := h.quickMode(in, offer)
	if evs := h.takeEvents(); len(evs) != 2 {
		t.Fatalf("events %#v", evs)
	}
	return h, in, offer, c
}

// dpdNotify opens a responder informational and returns its DPD notify.
func dpdNotify(t *testing.T, in *initiator, s sent) *isakmp.Notification {
	t.Helper()
	if s.local != vgw4500 || s.remote != cgw4500 {
		t.Errorf("sent %v→%v", s.local, s.remote)
	}
	ps, err := in.OpenInfo(s.pkt)
	if err != nil {
		t.Fatal(err)
	}
	n, ok := find[*isakmp.Notification](ps)
	if !ok {
		t.Fatalf("payloads %v", isakmp.PayloadsString(ps))
	}
	if i, r, ok := n.Cookies(); !ok || i != in.ckyI || r != in.ckyR {
		t.Errorf("DPD SPI %x", n.SPI)
	}
	return n
}

func TestDPDAnswered(t *testing.T) {
	h, in, _, _ := established(t, nil)
	resp := h.exchange(in.Info(isakmp.NewDPD(isakmp.R_U_THERE, in.ckyI, in.ckyR, 0x1234)), vgw4500, cgw4500)
	n := dpdNotify(t, in, sent{resp, vgw4500, cgw4500})
	if seq, _ := n.DPDSequence(); n.NotifyType != isakmp.R_U_THERE_ACK || seq != 0x1234 {
		t.Errorf("answer %v seq %x", n.NotifyType, seq)
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
}

func TestDPDDeadPeer(t *testing.T) {
	h, in, _, c := established(t, func(c *Config) { c.DPDDelay, c.DPDTimeout = 10*time.Second, 30*time.Second })
	// Idle for DPDDelay: R-U-THERE; the ACK keeps the tunnel up.
	h.clock.Advance(10 * time.Second)
	out := h.takeSent()
	if len(out) != 1 {
		t.Fatalf("sent %d", len(out))
	}
	n := dpdNotify(t, in, out[0])
	seq, _ := n.DPDSequence()
	if n.NotifyType != isakmp.R_U_THERE {
		t.Fatalf("sent %v", n.NotifyType)
	}
	// A wrong sequence number does not count.
	h.exchange(in.Info(isakmp.NewDPD(isakmp.R_U_THERE_ACK, in.ckyI, in.ckyR, seq+7)), vgw4500, cgw4500)
	if h.r.dpd.outstanding != 1 {
		t.Error("stale ACK accepted")
	}
	h.exchange(in.Info(isakmp.NewDPD(isakmp.R_U_THERE_ACK, in.ckyI, in.ckyR, seq)), vgw4500, cgw4500)
	if h.r.dpd.outstanding != 0 {
		t.Error("ACK not accepted")
	}
	// Then silence: R-U-THERE every 10 s, dead 30 s after the last ACK.
	var seqs []uint32
	for i := 0; i < 2; i++ {
		h.clock.Advance(10 * time.Second)
		out := h.takeSent()
		if len(out) != 1 {
			t.Fatalf("step %d: sent %d", i, len(out))
		}
		s, _ := dpdNotify(t, in, out[0]).DPDSequence()
		seqs = append(seqs, s)
	}
	if seqs[0] != seq+1 || seqs[1] != seq+2 {
		t.Errorf("sequence numbers %v after %d", seqs, seq)
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Fatalf("early events %#v", evs)
	}
	h.clock.Advance(10 * time.Second)
	reason := "DPD timeout after 2 retransmits"
	want := []ike.Event{
		ike.ChildDown{Tunnel: "vpn-1/1", InSPI: c.outSPI, OutSPI: c.inSPI, Reason: reason},
		ike.IKEDown{Tunnel: "vpn-1/1", Reason: reason},
	}
	if evs := h.takeEvents(); !reflect.DeepEqual(evs, want) {
		t.Errorf("events %#v", evs)
	}
	if st := h.r.Status(); st.Established || st.IKESAs != 0 || st.ChildSAs != 0 {
		t.Errorf("status %+v", st)
	}
	h.clock.Advance(time.Hour)
	if out := h.takeSent(); len(out) != 0 {
		t.Errorf("still sending after dead: %d", len(out))
	}
}

// Inbound ESP proves the peer alive: no R-U-THERE while traffic flows.
func TestDPDQuietWithTraffic(t *testing.T) {
	h, _, _, _ := established(t, func(c *Config) { c.DPDDelay, c.DPDTimeout = 10*time.Second, 30*time.Second })
	for i := 0; i < 10; i++ {
		h.clock.Advance(5 * time.Second)
		h.lastInbound = h.clock.Now()
	}
	if out := h.takeSent(); len(out) != 0 {
		t.Errorf("sent %d R-U-THEREs while traffic flowed", len(out))
	}
	// Traffic stops: one probe. Traffic resumes: the probe needs no answer.
	h.clock.Advance(10 * time.Second)
	if out := h.takeSent(); len(out) != 1 {
		t.Fatalf("sent %d", len(out))
	}
	for i := 0; i < 12; i++ {
		h.clock.Advance(5 * time.Second)
		h.lastInbound = h.clock.Now()
	}
	if out := h.takeSent(); len(out) != 0 {
		t.Errorf("sent %d more", len(out))
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
}

// The peer rekeys with a new Quick Mode, then deletes the old IPsec SA.
func TestQuickModeRekeyThenDelete(t *testing.T) {
	h, in, offer, old := established(t, nil)
	offer.spi = 0xc0000002
	nc := h.quickMode(in, offer)
	evs := h.takeEvents()
	if len(evs) != 1 || evs[0].(ike.ChildUp).Child.OutSPI != 0xc0000002 {
		t.Fatalf("events %#v", evs)
	}
	if !strings.Contains(h.logBuf.String(), "IPsec SA rekeyed (replaces in=") {
		t.Error("no rekey log")
	}
	// strongSwan deletes its old inbound SPI: our old outbound.
	if resp := h.exchange(in.Info(isakmp.DeleteESP(old.inSPI)), vgw4500, cgw4500); resp != nil {
		t.Error("DELETE answered")
	}
	want := []ike.Event{ike.ChildDown{Tunnel: "vpn-1/1", InSPI: old.outSPI, OutSPI: old.inSPI, Reason: "deleted by peer"}}
	if evs := h.takeEvents(); !reflect.DeepEqual(evs, want) {
		t.Errorf("events %#v", evs)
	}
	if st := h.r.Status(); !st.Established || st.ChildSAs != 1 {
		t.Errorf("status %+v", st)
	}
	_ = nc
}

// Re-authentication: a second Main Mode while the first ISAKMP SA lives,
// a Quick Mode on it, then the peer deletes the old IPsec and ISAKMP SAs.
// Traffic never stops: no IKEDown, the new IPsec SA stays.
func TestReauthenticationKeepsChildren(t *testing.T) {
	h, in, offer, old := established(t, nil)
	in2 := in.fresh()
	h.mainMode(in2)
	offer.spi = 0xc0000002
	h.quickMode(in2, offer)
	evs := h.takeEvents()
	if len(evs) != 2 {
		t.Fatalf("events %#v", evs)
	}
	if _, ok := evs[0].(ike.IKEUp); !ok {
		t.Errorf("event %#v", evs[0])
	}
	h.exchange(in.Info(isakmp.DeleteESP(old.inSPI)), vgw4500, cgw4500)
	h.exchange(in.Info(isakmp.DeleteISAKMP(in.ckyI, in.ckyR)), vgw4500, cgw4500)
	want := []ike.Event{ike.ChildDown{Tunnel: "vpn-1/1", InSPI: old.outSPI, OutSPI: old.inSPI, Reason: "deleted by peer"}}
	if evs := h.takeEvents(); !reflect.DeepEqual(evs, want) {
		t.Errorf("events %#v", evs)
	}
	if st := h.r.Status(); !st.Established || st.IKESAs != 1 || st.ChildSAs != 1 {
		t.Errorf("status %+v", st)
	}
	// The old SA is gone: its messages are unknown now.
	h.exchange(in.Info(isakmp.NewDPD(isakmp.R_U_THERE, in.ckyI, in.ckyR, 1)), vgw4500, cgw4500)
	if c := h.r.Counters(); c.UnknownSPI != 1 {
		t.Errorf("counters %+v", c)
	}
}

// Deleting the ISAKMP SA alone keeps the IPsec SAs (IKEv1 semantics);
// IKEDown comes when the last of them goes.
func TestISAKMPDeleteKeepsIPsecSAs(t *testing.T) {
	h, in, _, c := established(t, nil)
	h.exchange(in.Info(isakmp.DeleteISAKMP(in.ckyI, in.ckyR)), vgw4500, cgw4500)
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
	if st := h.r.Status(); st.Established || st.ChildSAs != 1 {
		t.Errorf("status %+v", st)
	}
	h.clock.Advance(expiry(time.Hour))
	want := []ike.Event{
		ike.ChildDown{Tunnel: "vpn-1/1", InSPI: c.outSPI, OutSPI: c.inSPI, Reason: "expired"},
		ike.IKEDown{Tunnel: "vpn-1/1", Reason: "expired"},
	}
	if evs := h.takeEvents(); !reflect.DeepEqual(evs, want) {
		t.Errorf("events %#v", evs)
	}
}

// strongSwan's own teardown: DELETE of the IPsec SA, then of the ISAKMP SA.
func TestPeerDeletesAll(t *testing.T) {
	h, in, _, c := established(t, nil)
	h.exchange(in.Info(isakmp.DeleteESP(c.inSPI)), vgw4500, cgw4500)
	h.exchange(in.Info(isakmp.DeleteISAKMP(in.ckyI, in.ckyR)), vgw4500, cgw4500)
	want := []ike.Event{
		ike.ChildDown{Tunnel: "vpn-1/1", InSPI: c.outSPI, OutSPI: c.inSPI, Reason: "deleted by peer"},
		ike.IKEDown{Tunnel: "vpn-1/1", Reason: "deleted by peer"},
	}
	if evs := h.takeEvents(); !reflect.DeepEqual(evs, want) {
		t.Errorf("events %#v", evs)
	}
	if st := h.r.Status(); st.IKESAs != 0 || st.ChildSAs != 0 {
		t.Errorf("status %+v", st)
	}
}

// A replayed informational (same message ID) is not acted on twice.
func TestInformationalReplay(t *testing.T) {
	h, in, _, _ := established(t, nil)
	ping := in.Info(isakmp.NewDPD(isakmp.R_U_THERE, in.ckyI, in.ckyR, 5))
	if h.exchange(ping, vgw4500, cgw4500) == nil {
		t.Fatal("no ACK")
	}
	if h.exchange(ping, vgw4500, cgw4500) != nil {
		t.Error("replay answered")
	}
}

// A rebooted peer: new Main Mode with INITIAL_CONTACT replaces everything.
func TestInitialContact(t *testing.T) {
	h, in, _, c := established(t, nil)
	in2 := in.fresh()
	in2.initialContact = true
	h.mainMode(in2)
	evs := h.takeEvents()
	want := []ike.Event{
		ike.ChildDown{Tunnel: "vpn-1/1", InSPI: c.outSPI, OutSPI: c.inSPI, Reason: "replaced by a new IKE SA (INITIAL_CONTACT)"},
		ike.IKEDown{Tunnel: "vpn-1/1", Reason: "replaced by a new IKE SA (INITIAL_CONTACT)"},
	}
	if len(evs) != 3 || !reflect.DeepEqual(evs[:2], want) {
		t.Fatalf("events %#v", evs)
	}
	if _, ok := evs[2].(ike.IKEUp); !ok {
		t.Errorf("event %#v", evs[2])
	}
	if st := h.r.Status(); st.IKESAs != 1 || st.ChildSAs != 0 || !st.Established {
		t.Errorf("status %+v", st)
	}
}

// Lifetimes: the peer asked for 1h, capped to our 30m; expiry sends a DELETE.
func TestChildExpiry(t *testing.T) {
	h, in, _, c := established(t, func(c *Config) { c.ChildLifetime = 30 * time.Minute })
	h.clock.Advance(expiry(30*time.Minute) - time.Second)
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Fatalf("early events %#v", evs)
	}
	h.clock.Advance(time.Second)
	want := []ike.Event{ike.ChildDown{Tunnel: "vpn-1/1", InSPI: c.outSPI, OutSPI: c.inSPI, Reason: "expired"}}
	if evs := h.takeEvents(); !reflect.DeepEqual(evs, want) {
		t.Errorf("events %#v", evs)
	}
	out := h.takeSent()
	if len(out) != 1 {
		t.Fatalf("sent %d", len(out))
	}
	ps, err := in.OpenInfo(out[0].pkt)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := find[*isakmp.Delete](ps); !ok || d.SPIs32()[0] != c.outSPI {
		t.Errorf("payloads %v", isakmp.PayloadsString(ps))
	}
	if st := h.r.Status(); !st.Established {
		t.Error("ISAKMP SA gone with the IPsec SA")
	}
}

func TestISAKMPExpiry(t *testing.T) {
	h, _, _, _ := established(t, func(c *Config) { c.IKELifetime = 30 * time.Minute })
	h.clock.Advance(expiry(30 * time.Minute))
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v (IPsec SA must stay)", evs)
	}
	if out := h.takeSent(); len(out) != 1 {
		t.Errorf("sent %d, want a DELETE", len(out))
	}
	if st := h.r.Status(); st.Established || st.ChildSAs != 1 {
		t.Errorf("status %+v", st)
	}
}

func TestClose(t *testing.T) {
	h, in, _, c := established(t, nil)
	h.r.Close()
	out := h.takeSent()
	if len(out) != 2 {
		t.Fatalf("sent %d", len(out))
	}
	ps, err := in.OpenInfo(out[0].pkt)
	if d, ok := find[*isakmp.Delete](ps); err != nil || !ok || d.ProtocolID != isakmp.ProtoIPsecESP || d.SPIs32()[0] != c.outSPI {
		t.Errorf("first DELETE %v %v", err, isakmp.PayloadsString(ps))
	}
	ps, err = in.OpenInfo(out[1].pkt)
	if d, ok := find[*isakmp.Delete](ps); err != nil || !ok || d.ProtocolID != isakmp.ProtoISAKMP {
		t.Errorf("second DELETE %v %v", err, isakmp.PayloadsString(ps))
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
	h.r.HandlePacket(in.Info(isakmp.NewDPD(isakmp.R_U_THERE, in.ckyI, in.ckyR, 1)), vgw4500, cgw4500)
	if out := h.takeSent(); len(out) != 0 {
		t.Error("answered after Close")
	}
	h.r.Close()
}

// A peer that did not announce DPD is never sent R-U-THERE.
func TestNoDPDWithoutVendorID(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.DPDDelay, c.DPDTimeout = 10*time.Second, 30*time.Second })
	in, offer := awsDefault()
	in.vids = [][]byte{vidRFC3947}
	h.mainMode(in)
	h.quickMode(in, offer)
	h.takeEvents()
	h.clock.Advance(5 * time.Minute)
	if out := h.takeSent(); len(out) != 0 {
		t.Errorf("sent %d", len(out))
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
}

// After a refused Aggressive Mode, Main Mode with the same cookie works.
func TestMainModeAfterAggressive(t *testing.T) {
	h := newHarness(t, nil)
	in, offer := awsDefault()
	in.MM1()
	am := mustSerialize(&isakmp.Message{Header: in.header(isakmp.ExchangeAggressive, 0), Payloads: []isakmp.Payload{
		&isakmp.Nonce{Data: make([]byte, 32)}}})
	h.exchange(am, vgw500, cgw500)
	h.mainMode(in)
	h.quickMode(in, offer)
	if evs := h.takeEvents(); len(evs) != 3 {
		t.Errorf("events %#v", evs)
	}
}
