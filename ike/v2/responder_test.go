package v2

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

func defaultOffer(spi uint32, esp message.Proposal) childOffer {
	esp.SPI = binary.BigEndian.AppendUint32(nil, spi)
	return childOffer{proposals: []message.Proposal{esp}, tsi: anyTS, tsr: anyTS}
}

func TestHappyPath(t *testing.T) {
	prf1, prf256 := suite.PRFHMACSHA1, suite.PRFHMACSHA256
	for _, tc := range []struct {
		name  string
		ike   message.Proposal
		esp   message.Proposal
		want  suite.ESP
		suite string
	}{
		{"aes128-sha1-modp2048/aes128-sha1", ikeProposal(1, cbc128, integSHA1, prf1, modp2048),
			espProposal(1, 0, cbc128, integSHA1, 0), suite.ESP{Cipher: cbc128, Integ: integSHA1}, "aes128-sha1-prf-sha1-modp2048"},
		{"aes256gcm16-prfsha256-ecp256/aes256gcm16", ikeProposal(1, gcm256, suite.IntegNone, prf256, ecp256),
			espProposal(1, 0, gcm256, suite.IntegNone, 0), suite.ESP{Cipher: gcm256}, "aes256-gcm-16-prf-sha2-256-ecp256"},
		{"aes128-sha256-curve25519/aes128-sha256", ikeProposal(1, cbc128, integSHA256, prf256, x25519),
			espProposal(1, 0, cbc128, integSHA256, 0), suite.ESP{Cipher: cbc128, Integ: integSHA256}, "aes128-sha2-256-prf-sha2-256-curve25519"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			_, _, _, g := suiteOfProposal(tc.ike)
			in := newInitiator([]message.Proposal{tc.ike}, g)
			c := h.establish(in, defaultOffer(0xc0000001, tc.esp))

			if c.esp != tc.want || c.inSPI != 0xc0000001 {
				t.Errorf("initiator sees esp %v in=%x", c.esp, c.inSPI)
			}
			evs := h.takeEvents()
			if len(evs) != 2 {
				t.Fatalf("events %#v", evs)
			}
			up, ok := evs[0].(ike.IKEUp)
			if !ok || up.Remote != cgw4500 || !up.NATT || up.Version != ike.IKEv2 || up.Tunnel != "vpn-1-t1" {
				t.Errorf("first event %#v", evs[0])
			}
			cu, ok := evs[1].(ike.ChildUp)
			if !ok {
				t.Fatalf("second event %#v", evs[1])
			}
			ch := cu.Child
			any4 := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
			if ch.InSPI != c.outSPI || ch.OutSPI != c.inSPI || ch.ESP != tc.want ||
				ch.Local != vgw4500 || ch.Remote != cgw4500 || !ch.UDPEncap || ch.Lifetime != time.Hour ||
				!reflect.DeepEqual(ch.LocalTS, any4) || !reflect.DeepEqual(ch.RemoteTS, any4) {
				t.Errorf("ChildSA %+v", ch)
			}
			// Both sides derived the same keys: the responder's inbound is
			// the initiator's outbound.
			if !reflect.DeepEqual(ch.InKeys, c.iToR) || !reflect.DeepEqual(ch.OutKeys, c.rToI) {
				t.Error("child keys differ between initiator and responder")
			}
			if bytes.Equal(ch.InKeys.Encr, ch.OutKeys.Encr) || len(ch.InKeys.Encr) != tc.want.Cipher.KeyLen() {
				t.Errorf("bad key sizes %d", len(ch.InKeys.Encr))
			}
			st := h.r.Status()
			if !st.Established || !st.NATT || st.IKESuite != tc.suite || st.ESPSuite != tc.want.String() || st.ChildSAs != 1 {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// suiteOfProposal returns the proposal's suite pieces, for building an initiator.
func suiteOfProposal(p message.Proposal) (suite.Cipher, suite.Integ, suite.PRF, suite.DHGroup) {
	s, _ := suiteOf(p)
	return s.Cipher, s.Integ, s.PRF, s.DH
}

func TestNoNAT(t *testing.T) {
	h := newHarness(t, nil)
	in := newInitiator([]message.Proposal{ikeProposal(1, cbc128, integSHA256, suite.PRFHMACSHA256, modp2048)}, modp2048)
	in.claimedLocal = cgw500
	req, _ := in.SAInit()
	if err := in.ProcessSAInit(h.exchange(req, vgw500, cgw500)); err != nil {
		t.Fatal(err)
	}
	offer := defaultOffer(0xc0000002, espProposal(1, 0, gcm128, suite.IntegNone, 0))
	req, _ = in.Auth(offer)
	if _, err := in.ProcessAuth(h.exchange(req, vgw500, cgw500), offer); err != nil {
		t.Fatal(err)
	}
	evs := h.takeEvents()
	if up := evs[0].(ike.IKEUp); up.NATT {
		t.Error("NAT-T without NAT")
	}
	if ch := evs[1].(ike.ChildUp).Child; ch.UDPEncap || ch.Remote != cgw500 {
		t.Errorf("ChildSA %+v", ch)
	}
}

func newDefaultInitiator() *initiator {
	return newInitiator([]message.Proposal{ikeProposal(1, cbc128, integSHA256, suite.PRFHMACSHA256, modp2048)}, modp2048)
}

var defaultESP = espProposal(1, 0, gcm128, suite.IntegNone, 0)

func TestWrongPSK(t *testing.T) {
	h := newHarness(t, nil)
	in := newDefaultInitiator()
	in.psk = []byte("not.the.psk_0123")
	req, _ := in.SAInit()
	if err := in.ProcessSAInit(h.exchange(req, vgw500, cgw500)); err != nil {
		t.Fatal(err)
	}
	offer := defaultOffer(0xc0000001, defaultESP)
	auth, _ := in.Auth(offer)
	resp := h.exchange(auth, vgw4500, cgw4500)
	_, err := in.ProcessAuth(resp, offer)
	wantNotify(t, err, message.AUTHENTICATION_FAILED)
	evs := h.takeEvents()
	want := []ike.Event{ike.NegotiationFailed{Tunnel: "vpn-1-t1", Reason: "IKE authentication failed: PSK mismatch"}}
	if !reflect.DeepEqual(evs, want) {
		t.Errorf("events %#v", evs)
	}
	// A retransmit gets the same answer, and no second event.
	if again := h.exchange(auth, vgw4500, cgw4500); !bytes.Equal(again, resp) {
		t.Error("retransmitted IKE_AUTH not answered from cache")
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
	if st := h.r.Status(); st.Established {
		t.Error("established after PSK mismatch")
	}
	h.clock.Advance(halfOpenTimeout)
	if st := h.r.Status(); st.IKESAs != 0 {
		t.Errorf("refused SA kept: %+v", st)
	}
}

func TestNoProposalChosen(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.IKE = ike.Policy{Ciphers: []suite.Cipher{cbc128}, Integs: []suite.Integ{integSHA1}, DHGroups: []suite.DHGroup{modp2048}}
	})
	in := newInitiator([]message.Proposal{ikeProposal(1, cbc256, suite.IntegHMACSHA512256, suite.PRFHMACSHA512, modp2048)}, modp2048)
	req, _ := in.SAInit()
	err := in.ProcessSAInit(h.exchange(req, vgw500, cgw500))
	wantNotify(t, err, message.NO_PROPOSAL_CHOSEN)
	evs := h.takeEvents()
	if len(evs) != 1 {
		t.Fatalf("events %#v", evs)
	}
	nf, ok := evs[0].(ike.NegotiationFailed)
	if !ok || !strings.HasPrefix(nf.Reason, "IKE_SA_INIT: no proposal chosen: ") || !strings.Contains(nf.Reason, "aes256") {
		t.Errorf("event %#v", evs[0])
	}
	if st := h.r.Status(); st.IKESAs != 0 {
		t.Errorf("state kept: %+v", st)
	}
}

func TestInvalidKEThenRetry(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.IKE.DHGroups = []suite.DHGroup{modp2048} })
	p := ikeProposal(1, cbc128, integSHA256, suite.PRFHMACSHA256, ecp256)
	p.Transforms = append(p.Transforms, message.Transform{Type: message.TransformDH, ID: uint16(modp2048)})
	in := newInitiator([]message.Proposal{p}, ecp256)
	req, _ := in.SAInit()
	err := in.ProcessSAInit(h.exchange(req, vgw500, cgw500))
	en := wantNotify(t, err, message.INVALID_KE_PAYLOAD)
	if !bytes.Equal(en.data, []byte{0, 14}) || in.group != modp2048 {
		t.Fatalf("INVALID_KE_PAYLOAD data %x", en.data)
	}
	if st := h.r.Status(); st.IKESAs != 0 {
		t.Errorf("state kept: %+v", st)
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
	// The retry, with the group the responder asked for, succeeds.
	h.establish(in, defaultOffer(0xc0000001, defaultESP))
	if st := h.r.Status(); !st.Established || !strings.HasSuffix(st.IKESuite, "modp2048") {
		t.Errorf("status %+v", st)
	}
}

func TestRetransmits(t *testing.T) {
	h := newHarness(t, nil)
	in := newDefaultInitiator()
	init, _ := in.SAInit()
	resp1 := h.exchange(init, vgw500, cgw500)
	if resp2 := h.exchange(init, vgw500, cgw500); !bytes.Equal(resp1, resp2) {
		t.Fatal("IKE_SA_INIT retransmit not answered identically")
	}
	if st := h.r.Status(); st.IKESAs != 1 {
		t.Fatalf("retransmit created another SA: %+v", st)
	}
	if err := in.ProcessSAInit(resp1); err != nil {
		t.Fatal(err)
	}
	offer := defaultOffer(0xc0000001, defaultESP)
	auth, _ := in.Auth(offer)
	a1 := h.exchange(auth, vgw4500, cgw4500)
	a2 := h.exchange(auth, vgw4500, cgw4500)
	if !bytes.Equal(a1, a2) {
		t.Fatal("IKE_AUTH retransmit not answered identically")
	}
	if _, err := in.ProcessAuth(a2, offer); err != nil {
		t.Fatal(err)
	}
	if evs := h.takeEvents(); len(evs) != 2 {
		t.Errorf("events %#v", evs)
	}
	if c := h.r.Counters(); c.Retransmits != 2 {
		t.Errorf("counters %+v", c)
	}
	// An old message ID (0) is ignored.
	old := append([]byte(nil), auth...)
	binary.BigEndian.PutUint32(old[20:], 0)
	if r := h.exchange(old, vgw4500, cgw4500); r != nil {
		t.Error("answered an old message ID")
	}
	if c := h.r.Counters(); c.BadMessageID != 1 {
		t.Errorf("counters %+v", c)
	}
}

func TestWrongPeerDropped(t *testing.T) {
	h := newHarness(t, nil)
	in := newDefaultInitiator()
	req, _ := in.SAInit()
	if r := h.exchange(req, vgw500, netip.MustParseAddrPort("198.51.100.99:500")); r != nil {
		t.Fatal("answered a stranger")
	}
	if c := h.r.Counters(); c.WrongPeer != 1 || c.Received != 1 {
		t.Errorf("counters %+v", c)
	}
	// Same IP, other port (a NAT's choice) is the peer.
	if r := h.exchange(req, vgw500, netip.AddrPortFrom(cgwAddr, 31000)); r == nil {
		t.Fatal("peer on another port not answered")
	}
}

func TestEmptyInformational(t *testing.T) {
	h := newHarness(t, nil)
	in := newDefaultInitiator()
	h.establish(in, defaultOffer(0xc0000001, defaultESP))
	h.takeEvents()
	req, _ := in.Request(message.INFORMATIONAL, nil)
	hdr, ps, err := in.Open(h.exchange(req, vgw4500, cgw4500))
	if err != nil || len(ps) != 0 || !hdr.IsResponse() || hdr.IsInitiator() || hdr.MessageID != 2 {
		t.Fatalf("liveness answer %v %v %v", hdr, ps, err)
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
}

func TestDeleteIKE(t *testing.T) {
	h := newHarness(t, nil)
	in := newDefaultInitiator()
	c := h.establish(in, defaultOffer(0xc0000001, defaultESP))
	h.takeEvents()
	req, _ := in.Request(message.INFORMATIONAL, []message.Payload{&message.Delete{Protocol: message.ProtocolIKE}})
	_, ps, err := in.Open(h.exchange(req, vgw4500, cgw4500))
	if err != nil || len(ps) != 0 {
		t.Fatalf("delete answer %v %v", ps, err)
	}
	want := []ike.Event{
		ike.ChildDown{Tunnel: "vpn-1-t1", InSPI: c.outSPI, OutSPI: c.inSPI, Reason: "deleted by peer"},
		ike.IKEDown{Tunnel: "vpn-1-t1", Reason: "deleted by peer"},
	}
	if evs := h.takeEvents(); !reflect.DeepEqual(evs, want) {
		t.Errorf("events %#v", evs)
	}
	if st := h.r.Status(); st.Established || st.IKESAs != 0 {
		t.Errorf("status %+v", st)
	}
	// The SA is gone: further requests are unknown.
	req, _ = in.Request(message.INFORMATIONAL, nil)
	if h.exchange(req, vgw4500, cgw4500) != nil {
		t.Error("answered on a deleted SA")
	}
}

func TestChildRekeyThenDeleteOld(t *testing.T) {
	for _, pfs := range []suite.DHGroup{0, modp2048} {
		t.Run(groupName(pfs), func(t *testing.T) {
			h := newHarness(t, nil)
			in := newDefaultInitiator()
			esp := espProposal(1, 0, cbc128, integSHA1, pfs)
			old := h.establish(in, defaultOffer(0xc0000001, espProposal(1, 0, cbc128, integSHA1, 0)))
			h.takeEvents()

			offer := defaultOffer(0xc0000002, esp)
			offer.notifies = []message.Payload{&message.Notify{Protocol: message.ProtocolESP,
				SPI: binary.BigEndian.AppendUint32(nil, old.inSPI), NotifyType: message.REKEY_SA}}
			req, pc, err := in.CreateChild(offer, pfs)
			if err != nil {
				t.Fatal(err)
			}
			nc, err := in.ProcessCreateChild(h.exchange(req, vgw4500, cgw4500), pc)
			if err != nil {
				t.Fatal(err)
			}
			evs := h.takeEvents()
			if len(evs) != 1 {
				t.Fatalf("events %#v", evs)
			}
			ch := evs[0].(ike.ChildUp).Child
			if ch.InSPI != nc.outSPI || ch.OutSPI != 0xc0000002 || !reflect.DeepEqual(ch.InKeys, nc.iToR) || !reflect.DeepEqual(ch.OutKeys, nc.rToI) {
				t.Errorf("rekeyed child %+v", ch)
			}
			if ch.InSPI == old.outSPI || bytes.Equal(ch.InKeys.Encr, old.iToR.Encr) {
				t.Error("rekey reused SPI or keys")
			}
			// The peer deletes the old child; we answer with our old inbound SPI.
			req, _ = in.Request(message.INFORMATIONAL, []message.Payload{message.DeleteESP(old.inSPI)})
			_, ps, err := in.Open(h.exchange(req, vgw4500, cgw4500))
			if err != nil || len(ps) != 1 {
				t.Fatalf("delete answer %v %v", ps, err)
			}
			if d, ok := ps[0].(*message.Delete); !ok || !reflect.DeepEqual(d.SPIs32(), []uint32{old.outSPI}) {
				t.Errorf("delete answer %#v", ps[0])
			}
			want := []ike.Event{ike.ChildDown{Tunnel: "vpn-1-t1", InSPI: old.outSPI, OutSPI: old.inSPI, Reason: "deleted by peer"}}
			if evs := h.takeEvents(); !reflect.DeepEqual(evs, want) {
				t.Errorf("events %#v", evs)
			}
			if st := h.r.Status(); st.ChildSAs != 1 || !st.Established {
				t.Errorf("status %+v", st)
			}
		})
	}
}

func TestRekeyUnknownChild(t *testing.T) {
	h := newHarness(t, nil)
	in := newDefaultInitiator()
	h.establish(in, defaultOffer(0xc0000001, defaultESP))
	h.takeEvents()
	offer := defaultOffer(0xc0000002, defaultESP)
	offer.notifies = []message.Payload{&message.Notify{Protocol: message.ProtocolESP, SPI: []byte{9, 9, 9, 9}, NotifyType: message.REKEY_SA}}
	req, pc, _ := in.CreateChild(offer, 0)
	_, err := in.ProcessCreateChild(h.exchange(req, vgw4500, cgw4500), pc)
	wantNotify(t, err, message.CHILD_SA_NOT_FOUND)
}

func TestInitialContactReplacesOlderSA(t *testing.T) {
	h := newHarness(t, nil)
	a := newDefaultInitiator()
	ca := h.establish(a, defaultOffer(0xc0000001, defaultESP))
	h.takeEvents()

	b := newDefaultInitiator()
	b.rand = detRand(3) // another SPIi, nonces and keys
	offer := defaultOffer(0xc0000002, defaultESP)
	offer.notifies = []message.Payload{&message.Notify{NotifyType: message.INITIAL_CONTACT}}
	h.establish(b, offer)
	evs := h.takeEvents()
	if len(evs) != 4 {
		t.Fatalf("events %#v", evs)
	}
	reason := "replaced by a new IKE SA (INITIAL_CONTACT)"
	if evs[0] != (ike.ChildDown{Tunnel: "vpn-1-t1", InSPI: ca.outSPI, OutSPI: ca.inSPI, Reason: reason}) ||
		evs[1] != (ike.IKEDown{Tunnel: "vpn-1-t1", Reason: reason}) {
		t.Errorf("old SA events %#v", evs[:2])
	}
	if _, ok := evs[2].(ike.IKEUp); !ok {
		t.Errorf("event %#v", evs[2])
	}
	if cu, ok := evs[3].(ike.ChildUp); !ok || cu.Child.OutSPI != 0xc0000002 {
		t.Errorf("event %#v", evs[3])
	}
	if st := h.r.Status(); st.IKESAs != 1 || st.ChildSAs != 1 {
		t.Errorf("status %+v", st)
	}
	req, _ := a.Request(message.INFORMATIONAL, nil)
	if h.exchange(req, vgw4500, cgw4500) != nil {
		t.Error("old SA still answers")
	}
}

func TestSecondSAWithoutInitialContact(t *testing.T) {
	h := newHarness(t, nil)
	a := newDefaultInitiator()
	h.establish(a, defaultOffer(0xc0000001, defaultESP))
	b := newDefaultInitiator()
	b.rand = detRand(3)
	h.establish(b, defaultOffer(0xc0000002, defaultESP))
	h.takeEvents()
	// Deleting one of two IKE SAs takes its child down, not the tunnel's IKE.
	req, _ := a.Request(message.INFORMATIONAL, []message.Payload{&message.Delete{Protocol: message.ProtocolIKE}})
	h.exchange(req, vgw4500, cgw4500)
	evs := h.takeEvents()
	if len(evs) != 1 {
		t.Fatalf("events %#v", evs)
	}
	if _, ok := evs[0].(ike.ChildDown); !ok {
		t.Errorf("event %#v", evs[0])
	}
}

func TestIKERekey(t *testing.T) {
	h := newHarness(t, nil)
	in := newDefaultInitiator()
	c := h.establish(in, defaultOffer(0xc0000001, defaultESP))
	h.takeEvents()

	req, next, err := in.RekeyIKE(ikeProposal(1, gcm256, suite.IntegNone, suite.PRFHMACSHA384, ecp256))
	if err != nil {
		t.Fatal(err)
	}
	if err := in.ProcessRekeyIKE(h.exchange(req, vgw4500, cgw4500), next); err != nil {
		t.Fatal(err)
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
	// The old SA is deleted by the peer: no events, the child lives on.
	req, _ = in.Request(message.INFORMATIONAL, []message.Payload{&message.Delete{Protocol: message.ProtocolIKE}})
	if _, _, err := in.Open(h.exchange(req, vgw4500, cgw4500)); err != nil {
		t.Fatal(err)
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
	st := h.r.Status()
	if st.IKESAs != 1 || st.ChildSAs != 1 || st.IKESuite != "aes256-gcm-16-prf-sha2-384-ecp256" {
		t.Errorf("status %+v", st)
	}
	// The new SA works and owns the child: delete it there.
	req, _ = next.Request(message.INFORMATIONAL, []message.Payload{message.DeleteESP(c.inSPI)})
	_, ps, err := next.Open(h.exchange(req, vgw4500, cgw4500))
	if err != nil || len(ps) != 1 {
		t.Fatalf("delete on new SA: %v %v", ps, err)
	}
	if evs := h.takeEvents(); len(evs) != 1 {
		t.Errorf("events %#v", evs)
	}
}

func TestChildExpiresWithoutRekey(t *testing.T) {
	h := newHarness(t, nil)
	in := newDefaultInitiator()
	c := h.establish(in, defaultOffer(0xc0000001, defaultESP))
	h.takeEvents()
	h.clock.Advance(time.Hour)
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Fatalf("expired early: %#v", evs)
	}
	h.clock.Advance(6 * time.Minute)
	want := []ike.Event{ike.ChildDown{Tunnel: "vpn-1-t1", InSPI: c.outSPI, OutSPI: c.inSPI, Reason: "expired"}}
	if evs := h.takeEvents(); !reflect.DeepEqual(evs, want) {
		t.Errorf("events %#v", evs)
	}
	out := h.takeSent()
	if len(out) != 1 || out[0].remote != cgw4500 || out[0].local != vgw4500 {
		t.Fatalf("sent %+v", out)
	}
	hdr, ps, err := in.Open(out[0].pkt)
	if err != nil || hdr.IsResponse() || hdr.IsInitiator() || hdr.MessageID != 0 || len(ps) != 1 {
		t.Fatalf("delete request %v %v %v", hdr, ps, err)
	}
	if d := ps[0].(*message.Delete); !reflect.DeepEqual(d.SPIs32(), []uint32{c.outSPI}) {
		t.Errorf("delete %#v", d)
	}
}

func TestIKEExpires(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ChildLifetime = 0 })
	in := newDefaultInitiator()
	h.establish(in, defaultOffer(0xc0000001, defaultESP))
	h.takeEvents()
	h.clock.Advance(8*time.Hour + 5*time.Minute)
	evs := h.takeEvents()
	if len(evs) != 2 || evs[1] != (ike.IKEDown{Tunnel: "vpn-1-t1", Reason: "expired"}) {
		t.Errorf("events %#v", evs)
	}
}

func TestTrafficSelectors(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.AllowedLocalTS = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}
		c.AllowedRemoteTS = []netip.Prefix{netip.MustParsePrefix("172.16.0.0/24")}
	})
	in := newDefaultInitiator()
	c := h.establish(in, defaultOffer(0xc0000001, defaultESP))
	if !reflect.DeepEqual(c.tsi, prefixTS("172.16.0.0/24")) || !reflect.DeepEqual(c.tsr, prefixTS("10.0.0.0/16")) {
		t.Errorf("narrowed to %v === %v", c.tsi, c.tsr)
	}
	ch := h.takeEvents()[1].(ike.ChildUp).Child
	if ch.LocalTS[0].String() != "10.0.0.0/16" || ch.RemoteTS[0].String() != "172.16.0.0/24" {
		t.Errorf("child TS %v %v", ch.LocalTS, ch.RemoteTS)
	}

	// Selectors outside the policy: IKE comes up, the child does not.
	offer := defaultOffer(0xc0000002, defaultESP)
	offer.tsi = prefixTS("192.168.0.0/24")
	req, pc, _ := in.CreateChild(offer, 0)
	_, err := in.ProcessCreateChild(h.exchange(req, vgw4500, cgw4500), pc)
	wantNotify(t, err, message.TS_UNACCEPTABLE)
	evs := h.takeEvents()
	if len(evs) != 1 || !strings.Contains(evs[0].(ike.NegotiationFailed).Reason, "traffic selectors unacceptable") {
		t.Errorf("events %#v", evs)
	}
}

func TestAuthWithFailingChild(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.ESP = ike.Policy{Ciphers: []suite.Cipher{gcm256}}
	})
	in := newDefaultInitiator()
	req, _ := in.SAInit()
	in.ProcessSAInit(h.exchange(req, vgw500, cgw500))
	offer := defaultOffer(0xc0000001, espProposal(1, 0, cbc128, integSHA1, 0))
	req, _ = in.Auth(offer)
	_, err := in.ProcessAuth(h.exchange(req, vgw4500, cgw4500), offer)
	wantNotify(t, err, message.NO_PROPOSAL_CHOSEN)
	evs := h.takeEvents()
	if len(evs) != 2 {
		t.Fatalf("events %#v", evs)
	}
	if _, ok := evs[0].(ike.IKEUp); !ok {
		t.Errorf("event %#v", evs[0])
	}
	if nf, ok := evs[1].(ike.NegotiationFailed); !ok || !strings.HasPrefix(nf.Reason, "IKE_AUTH: CHILD_SA: no proposal chosen") {
		t.Errorf("event %#v", evs[1])
	}
	if st := h.r.Status(); !st.Established || st.ChildSAs != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestClose(t *testing.T) {
	h := newHarness(t, nil)
	in := newDefaultInitiator()
	h.establish(in, defaultOffer(0xc0000001, defaultESP))
	h.takeEvents()
	h.r.Close()
	out := h.takeSent()
	if len(out) != 1 || out[0].remote != cgw4500 {
		t.Fatalf("sent %+v", out)
	}
	hdr, ps, err := in.Open(out[0].pkt)
	if err != nil || hdr.Flags != 0 || hdr.MessageID != 0 || hdr.Exchange != message.INFORMATIONAL || len(ps) != 1 {
		t.Fatalf("close sent %v %v %v", hdr, ps, err)
	}
	if d := ps[0].(*message.Delete); d.Protocol != message.ProtocolIKE {
		t.Errorf("delete %#v", d)
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
	req, _ := in.Request(message.INFORMATIONAL, nil)
	if h.exchange(req, vgw4500, cgw4500) != nil {
		t.Error("answered after Close")
	}
	h.clock.Advance(10 * time.Hour) // no timers left to fire
	if len(h.takeSent()) != 0 || len(h.takeEvents()) != 0 {
		t.Error("activity after Close")
	}
}

// TestStrongSwanSAInit answers a captured strongSwan 5.9.8 IKE_SA_INIT
// (IKE aes128-sha256-modp2048 among its default proposals).
func TestStrongSwanSAInit(t *testing.T) {
	pkt, err := os.ReadFile("testdata/strongswan-ike-sa-init.bin")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, nil)
	resp := h.exchange(pkt, vgw500, cgw500)
	m, err := message.Parse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.SPIr == 0 || m.Find(message.PayloadKE) == nil || m.Find(message.PayloadNonce) == nil ||
		m.FindNotify(message.NAT_DETECTION_SOURCE_IP) == nil || m.FindNotify(message.NAT_DETECTION_DESTINATION_IP) == nil {
		t.Errorf("response %v", m)
	}
	if st := h.r.Status(); st.IKESAs != 1 {
		t.Errorf("status %+v", st)
	}
}
