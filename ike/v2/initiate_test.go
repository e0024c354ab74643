package v2

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

// vpgw initiates against a Responder (no NAT): both derive the same keys,
// both emit IKEUp and ChildUp; the IKE SA then works both ways.
func TestInitiateHappyPath(t *testing.T) {
	p := newPair(t, false, nil, nil)
	if err := p.a.Initiate(); err != nil {
		t.Fatal(err)
	}
	init := p.take(toB)
	if len(init) != 1 || init[0].from != vgw500 || init[0].to != cgw500 {
		t.Fatalf("IKE_SA_INIT sent %+v", init)
	}
	m, err := message.Parse(init[0].pkt)
	if err != nil || m.Header.Exchange != message.IKE_SA_INIT || !m.Header.IsInitiator() || m.Header.SPIr != 0 {
		t.Fatalf("IKE_SA_INIT %v %v", m, err)
	}
	sap := m.Find(message.PayloadSA).(*message.SA)
	if len(sap.Proposals) != 2 || m.FindNotify(message.NAT_DETECTION_SOURCE_IP) == nil {
		t.Errorf("proposals %s", ike.ProposalsString(sap.Proposals))
	}
	if ke := m.Find(message.PayloadKE).(*message.KE); suite.DHGroup(ke.Group) != x25519 {
		t.Errorf("KE group %d", ke.Group)
	}
	// A second Initiate while one runs does nothing.
	if err := p.a.Initiate(); err != nil || len(p.take(toB)) != 0 {
		t.Fatal("second Initiate sent again")
	}
	p.deliver(init)
	ca, cb := p.up()
	if ca.UDPEncap || ca.Local != vgw500 || ca.Remote != cgw500 || cb.Remote != vgw500 {
		t.Errorf("child %+v", ca)
	}
	if ca.Lifetime != time.Hour || ca.LocalTS[0].String() != "0.0.0.0/0" {
		t.Errorf("child %+v", ca)
	}
	sa, sb := p.sameIKESA()
	if !sa.initiator || sb.initiator {
		t.Error("roles")
	}
	st := p.a.Status()
	if !st.Established || st.NATT || st.ChildSAs != 1 || !strings.HasSuffix(st.IKESuite, "curve25519") {
		t.Errorf("status %+v", st)
	}
	p.ping()
	// Initiate with an established SA does nothing either.
	if err := p.a.Initiate(); err != nil || len(p.take(nil)) != 0 {
		t.Fatal("Initiate with an SA up sent something")
	}
}

// Behind a NAT, the initiator moves to 4500 after IKE_SA_INIT and both sides
// use UDP encapsulation.
func TestInitiateBehindNAT(t *testing.T) {
	p := newPair(t, true, nil, nil)
	if err := p.a.Initiate(); err != nil {
		t.Fatal(err)
	}
	p.deliver(p.take(toB)) // IKE_SA_INIT
	p.deliver(p.take(toA))
	ca, _ := p.upOn4500(t, netip.AddrPortFrom(natInside, 4500))
	if ca.Local != netip.AddrPortFrom(natInside, 4500) {
		t.Errorf("child %+v", ca)
	}
}

// upOn4500 finishes an initiation whose IKE_SA_INIT was exchanged: IKE_AUTH
// must go from 4500 (from, as a sends it) to the responder's 4500, and both
// sides must come up with NAT-T and UDP-encapsulated children.
func (p *pair) upOn4500(t *testing.T, from netip.AddrPort) (ca, cb ike.ChildSA) {
	t.Helper()
	auth := p.take(toB)
	if len(auth) != 1 || auth[0].from != from || auth[0].to != cgw4500 {
		t.Fatalf("IKE_AUTH sent %+v, want %v → %v", auth, from, cgw4500)
	}
	p.deliver(auth)
	p.flush()
	ea, eb := drain(p.ea), drain(p.eb)
	if len(ea) != 2 || len(eb) != 2 {
		t.Fatalf("events %#v %#v", ea, eb)
	}
	if up := ea[0].(ike.IKEUp); !up.NATT || up.Remote != cgw4500 {
		t.Errorf("initiator %+v", up)
	}
	if up := eb[0].(ike.IKEUp); !up.NATT || up.Remote != vgw4500 {
		t.Errorf("responder %+v", up)
	}
	ca, cb = ea[1].(ike.ChildUp).Child, eb[1].(ike.ChildUp).Child
	mirrored(t, ca, cb)
	if !ca.UDPEncap || !cb.UDPEncap || ca.Remote != cgw4500 || cb.Remote != vgw4500 {
		t.Errorf("children not UDP-encapsulated on 4500:\n a %+v\n b %+v", ca, cb)
	}
	return ca, cb
}

// INVALID_KE_PAYLOAD: the initiator retries with the group asked for.
func TestInitiateInvalidKE(t *testing.T) {
	p := newPair(t, false, nil, func(c *Config) { c.IKE.DHGroups = []suite.DHGroup{modp2048} })
	if err := p.a.Initiate(); err != nil {
		t.Fatal(err)
	}
	first := p.take(toB)
	p.deliver(first)
	p.deliver(p.take(toA)) // INVALID_KE_PAYLOAD
	retry := p.take(toB)
	if len(retry) != 1 {
		t.Fatalf("sent %d", len(retry))
	}
	m0, _ := message.Parse(first[0].pkt)
	m1, _ := message.Parse(retry[0].pkt)
	if ke := m1.Find(message.PayloadKE).(*message.KE); suite.DHGroup(ke.Group) != modp2048 || m1.Header.SPIi != m0.Header.SPIi {
		t.Fatalf("retry KE %d SPI %x", ke.Group, m1.Header.SPIi)
	}
	p.deliver(retry)
	p.flush()
	if evs := drain(p.ea); len(evs) != 2 {
		t.Fatalf("events %#v", evs)
	}
	if st := p.a.Status(); !strings.HasSuffix(st.IKESuite, "modp2048") {
		t.Errorf("status %+v", st)
	}
	// A group the tunnel does not allow ends the attempt.
	q := newPair(t, false, func(c *Config) { c.IKE.DHGroups = []suite.DHGroup{x25519} }, nil)
	q.a.Initiate()
	m, _ := message.Parse(q.take(toB)[0].pkt)
	resp := message.Message{
		Header:   message.Header{SPIi: m.Header.SPIi, MajorVersion: 2, Exchange: message.IKE_SA_INIT, Flags: message.FlagResponse},
		Payloads: []message.Payload{&message.Notify{NotifyType: message.INVALID_KE_PAYLOAD, Data: []byte{0, 14}}},
	}
	pkt, _ := resp.Serialize()
	q.a.HandlePacket(pkt, vgw500, cgw500)
	evs := drain(q.ea)
	if len(evs) != 1 || !strings.Contains(evs[0].(ike.NegotiationFailed).Reason, "wants DH group modp2048") {
		t.Fatalf("events %#v", evs)
	}
	if len(q.take(toB)) != 0 {
		t.Error("retried with a group we do not allow")
	}
}

// A COOKIE is echoed as the first payload, everything else unchanged.
func TestInitiateCookie(t *testing.T) {
	p := newPair(t, false, nil, nil)
	p.a.Initiate()
	first := p.take(toB)
	m0, _ := message.Parse(first[0].pkt)
	resp := message.Message{
		Header:   message.Header{SPIi: m0.Header.SPIi, MajorVersion: 2, Exchange: message.IKE_SA_INIT, Flags: message.FlagResponse},
		Payloads: []message.Payload{&message.Notify{NotifyType: message.COOKIE, Data: []byte("cookie-0123456789")}},
	}
	pkt, _ := resp.Serialize()
	p.a.HandlePacket(pkt, vgw500, cgw500)
	retry := p.take(toB)
	if len(retry) != 1 {
		t.Fatalf("sent %d", len(retry))
	}
	m1, _ := message.Parse(retry[0].pkt)
	n, ok := m1.Payloads[0].(*message.Notify)
	if !ok || n.NotifyType != message.COOKIE || string(n.Data) != "cookie-0123456789" ||
		!bytes.Equal(m1.Find(message.PayloadNonce).(*message.Nonce).Data, m0.Find(message.PayloadNonce).(*message.Nonce).Data) {
		t.Fatalf("retry %v", m1)
	}
	p.deliver(retry)
	p.flush()
	if evs := drain(p.ea); len(evs) != 2 {
		t.Fatalf("events %#v", evs)
	}
}

// No answer: IKE_SA_INIT is retransmitted 5 times (4 s, ×1.8), then the
// attempt fails; with startup_action start the next one follows in 2 s,
// then 4 s, ...
func TestInitiateGivesUp(t *testing.T) {
	p := newPair(t, false, func(c *Config) { c.StartupAction = StartupStart }, nil)
	p.a.Initiate()
	var sent []wirePkt
	var at []time.Duration
	start := p.clock.Now()
	for range 1700 { // 170 s
		for _, w := range p.take(toB) {
			sent = append(sent, w)
			at = append(at, p.clock.Now().Sub(start))
		}
		p.clock.Advance(100 * time.Millisecond)
	}
	if len(sent) < 7 {
		t.Fatalf("sent %d", len(sent))
	}
	for i := 1; i < 6; i++ {
		if !bytes.Equal(sent[i].pkt, sent[0].pkt) {
			t.Errorf("retransmit %d differs", i)
		}
	}
	want := []time.Duration{0, 4000, 11200, 24160, 47480, 89460}
	for i, w := range want {
		if d := at[i] - w*time.Millisecond; d < -300*time.Millisecond || d > 300*time.Millisecond {
			t.Errorf("send %d at %v, want %v", i, at[i], w*time.Millisecond)
		}
	}
	evs := drain(p.ea)
	if len(evs) != 1 || evs[0] != (ike.NegotiationFailed{Tunnel: "vpn-1-t1",
		Reason: "no response from the customer gateway to IKE_SA_INIT after 5 retransmits"}) {
		t.Fatalf("events %#v", evs)
	}
	// Failed at ~165.5 s; the next attempt 2 s later, with a new SPI.
	if at[6] < 167*time.Second || at[6] > 168*time.Second {
		t.Errorf("next attempt at %v", at[6])
	}
	m0, _ := message.Parse(sent[0].pkt)
	m6, _ := message.Parse(sent[6].pkt)
	if m6.Header.SPIi == m0.Header.SPIi {
		t.Error("new attempt reuses the SPI")
	}
	// Once the peer answers, the tunnel comes up.
	p.deliver(sent[6:7])
	p.flush()
	if evs := drain(p.ea); len(evs) != 2 {
		t.Fatalf("events %#v", evs)
	}
}

// With startup_action start, an IKE SA deleted by the peer is initiated
// again after 2 s.
func TestKeepUpAfterPeerDelete(t *testing.T) {
	p := newPair(t, false, func(c *Config) { c.StartupAction = StartupStart }, nil)
	p.up()
	p.b.Close() // sends DELETE for the IKE SA
	p.flush()
	evs := drain(p.ea)
	if len(evs) != 2 || evs[1] != (ike.IKEDown{Tunnel: "vpn-1-t1", Reason: "deleted by peer"}) {
		t.Fatalf("events %#v", evs)
	}
	p.clock.Advance(1900 * time.Millisecond)
	if len(p.take(toB)) != 0 {
		t.Fatal("re-initiated too early")
	}
	p.clock.Advance(200 * time.Millisecond)
	if ws := p.take(toB); len(ws) != 1 || ws[0].to != cgw500 {
		t.Fatalf("re-initiation %+v", ws)
	}
}

// A PSK mismatch seen by the responder comes back as AUTHENTICATION_FAILED.
func TestInitiateWrongPSK(t *testing.T) {
	p := newPair(t, false, func(c *Config) { c.PSK = []byte("other.psk_0123456789") }, nil)
	p.a.Initiate()
	p.flush()
	evs := drain(p.ea)
	if len(evs) != 1 || evs[0].(ike.NegotiationFailed).Reason != "IKE authentication failed: customer gateway rejected our AUTH (PSK mismatch?)" {
		t.Fatalf("events %#v", evs)
	}
	if st := p.a.Status(); st.IKESAs != 0 {
		t.Errorf("status %+v", st)
	}
}

// ForceUDPEncap on either side, with no NAT: the initiator moves to 4500
// after IKE_SA_INIT and both sides encapsulate ESP in UDP, as with a NAT.
func TestForceUDPEncap(t *testing.T) {
	force := func(c *Config) { c.ForceUDPEncap = true }
	for _, tc := range []struct {
		name       string
		modA, modB func(*Config)
	}{
		{"initiator forces", force, nil},
		{"responder forces", nil, force},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, false, tc.modA, tc.modB)
			if err := p.a.Initiate(); err != nil {
				t.Fatal(err)
			}
			p.deliver(p.take(toB)) // IKE_SA_INIT
			p.deliver(p.take(toA))
			p.upOn4500(t, vgw4500)
		})
	}
}
