package v1

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
)

// vpgw initiates toward another vpgw: both come up with the same keys.
func TestInitiateBackToBack(t *testing.T) {
	p := newPair(t, nil, nil)
	a, b := p.up()
	if a.UDPEncap || a.Remote != cgw500 || a.Local != vgw500 || b.Remote != vgw500 {
		t.Errorf("no NAT expected: %+v", a)
	}
	if !reflect.DeepEqual(a.LocalTS, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}) ||
		!reflect.DeepEqual(a.RemoteTS, []netip.Prefix{netip.MustParsePrefix("172.16.0.0/24")}) {
		t.Errorf("selectors %v === %v", a.LocalTS, a.RemoteTS)
	}
	if a.ESP.String() != "aes128-sha1" || a.Lifetime != time.Hour {
		t.Errorf("ESP %v lifetime %v", a.ESP, a.Lifetime)
	}
	sa, sb := p.a.Status(), p.b.Status()
	if !sa.Established || !sb.Established || sa.IKESuite != "aes128-sha1-modp1024" || sa.ESPSuite != "aes128-sha1-modp1024" {
		t.Errorf("status a %+v b %+v", sa, sb)
	}
	logs := p.logBuf.String()
	for _, want := range []string{
		"initiating Main Mode to 198.51.100.2:500: offering encryption aes128,aes256; integrity sha1,sha2-256,sha2-384,sha2-512; dh groups 2,14,15,16,17,18,19,20,21,22,23,24 (96 transforms)",
		"Main Mode to 198.51.100.2:500: peer chose aes128-sha1-modp1024 (lifetime 8h0m0s)",
		"ISAKMP SA established, no NAT, initiated by us",
		"Quick Mode: IPsec SA established (initiated by us) in=0x",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// Initiate again: nothing to do.
	if err := p.a.Initiate(); err != nil {
		t.Fatal(err)
	}
	p.pump()
	if p.sentA != 5 {
		t.Errorf("a sent %d packets, want MM1, MM3, MM5, QM1, QM3", p.sentA)
	}
}

// With a NAT in front of us, Main Mode floats to 4500 and ESP goes in UDP.
func TestInitiateBehindNAT(t *testing.T) {
	p := newPair(t, nil, func(c *Config) { c.Peer = natAddr })
	a, b := p.up()
	if !a.UDPEncap || a.Local != vgw4500 || a.Remote != cgw4500 || b.Remote != netip.AddrPortFrom(natAddr, 14500) {
		t.Errorf("a %+v\nb %+v", a, b)
	}
	if !strings.Contains(p.logBuf.String(), "NAT detected (we are behind NAT)") {
		t.Error("no NAT log")
	}
	if st := p.a.Status(); !st.NATT {
		t.Errorf("status %+v", st)
	}
}

// A retransmitted QM2 gets our cached QM3 again; a retransmitted MM6 is
// recognised and needs no answer.
func TestInitiatorAnswersRetransmits(t *testing.T) {
	p := newPair(t, nil, nil)
	var qm2, mm6 []byte
	p.drop = func(from *Responder, pkt []byte) bool {
		m, err := isakmp.Parse(bytes.Clone(pkt))
		if err == nil && from == p.b && m.Header.Exchange == isakmp.ExchangeQuickMode {
			qm2 = pkt
		}
		if err == nil && from == p.b && m.Header.Exchange == isakmp.ExchangeMainMode && m.Header.Encrypted() {
			mm6 = pkt
		}
		return false
	}
	p.up()
	before := p.sentA
	p.a.HandlePacket(qm2, vgw500, cgw500)
	p.a.HandlePacket(mm6, vgw500, cgw500)
	p.mu.Lock()
	w := p.wire
	p.mu.Unlock()
	if p.sentA != before+1 || len(w) != 1 {
		t.Fatalf("sent %d", p.sentA-before)
	}
	p.pump() // b recognises the QM3 duplicate
	if c := p.a.Counters(); c.Retransmits != 2 {
		t.Errorf("counters %+v", c)
	}
	if evs := append(p.takeA(), p.takeB()...); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
}

// Nobody answers: MM1 is retransmitted 5 times (4 s, ×1.8), then the
// attempt fails; with startup_action start a new one follows after 2 s,
// then 4 s after the next failure.
func TestInitiatorRetransmitAndGiveUp(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.StartupAction = StartupStart })
	if err := h.r.Initiate(); err != nil {
		t.Fatal(err)
	}
	first := h.takeSent()
	if len(first) != 1 || first[0].local != vgw500 || first[0].remote != cgw500 {
		t.Fatalf("sent %+v", first)
	}
	m, err := isakmp.Parse(bytes.Clone(first[0].pkt))
	if err != nil || m.Header.Exchange != isakmp.ExchangeMainMode || m.Header.RCookie != 0 {
		t.Fatalf("MM1 %v %v", m, err)
	}
	for _, v := range [][]byte{vidRFC3947, vidDraft02N, vidDPD} {
		if !isakmp.HasVendorID(m.Payloads, v) {
			t.Errorf("MM1 lacks vendor ID %x", v)
		}
	}
	w := retransmitBase
	for i := range retransmitTries {
		if i > 0 {
			w = time.Duration(float64(w) * retransmitFactor)
		}
		h.clock.Advance(w - time.Millisecond)
		if out := h.takeSent(); len(out) != 0 {
			t.Fatalf("retransmit %d early", i+1)
		}
		h.clock.Advance(time.Millisecond)
		out := h.takeSent()
		if len(out) != 1 || !bytes.Equal(out[0].pkt, first[0].pkt) {
			t.Fatalf("retransmit %d: %d packets", i+1, len(out))
		}
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Fatalf("early events %#v", evs)
	}
	h.clock.Advance(time.Duration(float64(w) * retransmitFactor))
	want := []ike.Event{ike.NegotiationFailed{Tunnel: "vpn-1/1", Reason: "no response from the customer gateway to Main Mode after 5 retransmits"}}
	if evs := h.takeEvents(); !reflect.DeepEqual(evs, want) {
		t.Fatalf("events %#v", evs)
	}
	h.clock.Advance(2*time.Second - time.Millisecond)
	if out := h.takeSent(); len(out) != 0 {
		t.Fatal("re-initiated early")
	}
	h.clock.Advance(time.Millisecond)
	out := h.takeSent()
	if len(out) != 1 || bytes.Equal(out[0].pkt[:8], first[0].pkt[:8]) {
		t.Fatalf("no new MM1 with a fresh cookie: %d", len(out))
	}
	giveUp := time.Duration(0)
	for i, w := 0, retransmitBase; i <= retransmitTries; i++ {
		giveUp += w
		w = time.Duration(float64(w) * retransmitFactor)
	}
	h.clock.Advance(giveUp)
	h.takeSent()
	h.clock.Advance(4*time.Second - time.Millisecond)
	if out := h.takeSent(); len(out) != 0 {
		t.Fatal("backoff: re-initiated early")
	}
	h.clock.Advance(time.Millisecond)
	if out := h.takeSent(); len(out) != 1 {
		t.Fatalf("backoff: %d packets after 4 s", len(out))
	}
	if !strings.Contains(h.logBuf.String(), "initiating a new Main Mode to 198.51.100.2 in 4s") {
		t.Error("no backoff log")
	}
	h.r.Close()
	h.clock.Advance(time.Hour)
	if out := h.takeSent(); len(out) != 0 {
		t.Errorf("sent %d after Close", len(out))
	}
}

// The peer refuses our MM1 with a clear notify: the attempt ends at once.
func TestInitiatorRefused(t *testing.T) {
	for _, tc := range []struct {
		notify isakmp.NotifyType
		reason string
	}{
		{isakmp.NO_PROPOSAL_CHOSEN, "IKEv1 Main Mode: customer gateway accepts none of our proposals (NO_PROPOSAL_CHOSEN); we offered encryption aes128,aes256; integrity sha1,sha2-256,sha2-384,sha2-512; dh groups 2,14,15,16,17,18,19,20,21,22,23,24"},
		{isakmp.INVALID_KEY_INFORMATION, "IKEv1 Main Mode: customer gateway answered INVALID_KEY_INFORMATION"},
	} {
		t.Run(tc.notify.String(), func(t *testing.T) {
			h := newHarness(t, nil)
			h.r.Initiate()
			mm1 := h.takeSent()[0]
			m, _ := isakmp.Parse(bytes.Clone(mm1.pkt))
			refusal := mustSerialize(&isakmp.Message{
				Header: isakmp.Header{ICookie: m.Header.ICookie, RCookie: 0x1234, Version: isakmp.Version,
					Exchange: isakmp.ExchangeInformational, MessageID: 7},
				Payloads: []isakmp.Payload{&isakmp.Notification{DOI: isakmp.DOIIPsec, ProtocolID: isakmp.ProtoISAKMP, NotifyType: tc.notify}},
			})
			h.r.HandlePacket(refusal, vgw500, cgw500)
			want := []ike.Event{ike.NegotiationFailed{Tunnel: "vpn-1/1", Reason: tc.reason}}
			if evs := h.takeEvents(); !reflect.DeepEqual(evs, want) {
				t.Errorf("events %#v", evs)
			}
			h.clock.Advance(10 * time.Minute)
			if out := h.takeSent(); len(out) != 0 {
				t.Errorf("still sending: %d", len(out))
			}
		})
	}
}

// Against another vpgw with no common phase-1 proposal.
func TestInitiatorNoProposalBackToBack(t *testing.T) {
	p := newPair(t, func(c *Config) {
		c.IKE.Ciphers, c.IKE.Integs, c.IKE.DHGroups = c.IKE.Ciphers[:1], c.IKE.Integs[:1], c.IKE.DHGroups[:1]
	}, func(c *Config) { c.IKE.DHGroups = c.IKE.DHGroups[1:] })
	p.a.Initiate()
	p.pump()
	ea, eb := p.takeA(), p.takeB()
	if len(ea) != 1 || len(eb) != 1 {
		t.Fatalf("events a %#v b %#v", ea, eb)
	}
	if f, ok := ea[0].(ike.NegotiationFailed); !ok || !strings.Contains(f.Reason, "NO_PROPOSAL_CHOSEN); we offered encryption aes128; integrity sha1; dh groups 2") {
		t.Errorf("a %#v", ea[0])
	}
}

// A PSK mismatch shows on both sides, as an authentication failure.
func TestInitiatorWrongPSK(t *testing.T) {
	p := newPair(t, nil, func(c *Config) { c.PSK = []byte("another.psk_0123456789") })
	p.a.Initiate()
	p.pump()
	ea, eb := p.takeA(), p.takeB()
	want := ike.NegotiationFailed{Tunnel: "vpn-1/1", Reason: "IKE authentication failed: customer gateway rejected our HASH_I (AUTHENTICATION_FAILED): PSK mismatch?"}
	if len(ea) != 1 || ea[0] != want {
		t.Errorf("a %#v", ea)
	}
	if len(eb) != 1 || eb[0].(ike.NegotiationFailed).Reason != "IKE authentication failed: PSK mismatch" {
		t.Errorf("b %#v", eb)
	}
}
