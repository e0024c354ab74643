package v1

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
	"github.com/vpgw/vpgw/suite"
)

var anyIDs = []*isakmp.ID{
	isakmp.IDFromPrefix(netip.MustParsePrefix("172.16.0.0/24")),
	isakmp.IDFromPrefix(netip.MustParsePrefix("10.0.0.0/16")),
}

// awsDefault is AWS's default IKEv1 proposal pair as strongSwan offers it:
// aes128-sha1-modp1024 and ESP aes128-sha1 with PFS modp1024, NAT-T.
func awsDefault() (*initiator, qmOffer) {
	in := newInitiator(p1Transform(1, cbc128, isakmp.HashSHA1, modp1024, 8*time.Hour))
	return in, qmOffer{spi: 0xc0000001, pfs: modp1024, ids: anyIDs,
		transforms: []isakmp.Transform{espTransform(1, cbc128, isakmp.AuthAlgHMACSHA1, modp1024, isakmp.EncapUDPTunnel, time.Hour)}}
}

func wantNotify(t testing.TB, err error, nt isakmp.NotifyType) {
	t.Helper()
	var en *errNotify
	if !errors.As(err, &en) || en.t != nt {
		t.Fatalf("got %v, want notify %v", err, nt)
	}
}

func TestHappyPath(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p1      isakmp.Transform
		esp     isakmp.Transform
		pfs     suite.DHGroup
		want    suite.ESP
		ikeName string
		log     []string
	}{
		{"aws-default", p1Transform(1, cbc128, isakmp.HashSHA1, modp1024, 8*time.Hour),
			espTransform(1, cbc128, isakmp.AuthAlgHMACSHA1, modp1024, isakmp.EncapUDPTunnel, time.Hour), modp1024,
			suite.ESP{Cipher: cbc128, Integ: integSHA1}, "aes128-sha1-modp1024",
			[]string{
				"Main Mode from 198.51.100.2:500: chose aes128-sha1-modp1024 (lifetime 8h0m0s)",
				"Main Mode: peer 198.51.100.2 authenticated with PSK, ISAKMP SA established, NAT-T (RFC 3947)",
				"Quick Mode: IPsec SA established in=0x",
				"aes128-sha1 PFS modp1024, TS 172.16.0.0/24 === 10.0.0.0/16",
			}},
		{"aes256-sha256-modp2048/aes256gcm16-nopfs", p1Transform(1, cbc256, isakmp.HashSHA256, modp2048, 4*time.Hour),
			espTransform(1, gcm256, 0, 0, isakmp.EncapUDPTunnel, 30*time.Minute), 0,
			suite.ESP{Cipher: gcm256}, "aes256-sha2-256-modp2048",
			[]string{"chose aes256-sha2-256-modp2048 (lifetime 4h0m0s)", "aes256-gcm-16 no PFS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			in := newInitiator(tc.p1)
			h.mainMode(in)
			offer := qmOffer{spi: 0xc0000001, pfs: tc.pfs, ids: anyIDs, transforms: []isakmp.Transform{tc.esp}}
			c := h.quickMode(in, offer)
			if c.esp != tc.want || len(c.ids) != 2 {
				t.Errorf("initiator sees esp %v, %d IDs", c.esp, len(c.ids))
			}
			evs := h.takeEvents()
			if len(evs) != 2 {
				t.Fatalf("events %#v", evs)
			}
			up, ok := evs[0].(ike.IKEUp)
			if !ok || up.Remote != cgw4500 || !up.NATT || up.Version != ike.IKEv1 || up.Tunnel != "vpn-1/1" {
				t.Errorf("first event %#v", evs[0])
			}
			cu, ok := evs[1].(ike.ChildUp)
			if !ok {
				t.Fatalf("second event %#v", evs[1])
			}
			ch := cu.Child
			wantLife := time.Hour
			if tc.pfs == 0 {
				wantLife = 30 * time.Minute
			}
			if ch.IKEVersion != ike.IKEv1 || ch.InSPI != c.outSPI || ch.OutSPI != c.inSPI || ch.ESP != tc.want ||
				ch.Local != vgw4500 || ch.Remote != cgw4500 || !ch.UDPEncap || ch.Lifetime != wantLife ||
				!reflect.DeepEqual(ch.LocalTS, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}) ||
				!reflect.DeepEqual(ch.RemoteTS, []netip.Prefix{netip.MustParsePrefix("172.16.0.0/24")}) {
				t.Errorf("ChildSA %+v", ch)
			}
			// Both sides derived the same keys: the responder's inbound is the
			// initiator's outbound.
			if !reflect.DeepEqual(ch.InKeys, c.out) || !reflect.DeepEqual(ch.OutKeys, c.in) {
				t.Error("ESP keys differ between initiator and responder")
			}
			if bytes.Equal(ch.InKeys.Encr, ch.OutKeys.Encr) || len(ch.InKeys.Encr) != tc.want.Cipher.KeyLen() ||
				len(ch.InKeys.Integ) != tc.want.Integ.KeyLen() {
				t.Errorf("bad key sizes %d/%d", len(ch.InKeys.Encr), len(ch.InKeys.Integ))
			}
			st := h.r.Status()
			if !st.Established || !st.NATT || st.IKESuite != tc.ikeName || st.ESPSuite != espSuiteName(tc.want, tc.pfs) ||
				st.ChildSAs != 1 || st.IKESAs != 1 || st.Remote != cgw4500 {
				t.Errorf("status %+v", st)
			}
			logs := h.logBuf.String()
			for _, want := range tc.log {
				if !strings.Contains(logs, want) {
					t.Errorf("log lacks %q", want)
				}
			}
			if strings.Contains(logs, string(testPSK)) {
				t.Error("PSK in logs")
			}
		})
	}
}

func TestNoNAT(t *testing.T) {
	h := newHarness(t, nil)
	in, offer := awsDefault()
	in.claimedLocal = cgw500
	if err := in.ProcessMM2(h.exchange(in.MM1(), vgw500, cgw500)); err != nil {
		t.Fatal(err)
	}
	if err := in.ProcessMM4(h.exchange(in.MM3(), vgw500, cgw500)); err != nil {
		t.Fatal(err)
	}
	if err := in.ProcessMM6(h.exchange(in.MM5(), vgw500, cgw500)); err != nil {
		t.Fatal(err)
	}
	offer.transforms = []isakmp.Transform{espTransform(1, cbc128, isakmp.AuthAlgHMACSHA1, modp1024, isakmp.EncapTunnel, time.Hour)}
	qm1, pq := in.QM1(offer)
	if _, err := in.ProcessQM2(h.exchange(qm1, vgw500, cgw500), pq); err != nil {
		t.Fatal(err)
	}
	h.exchange(in.QM3(pq), vgw500, cgw500)
	evs := h.takeEvents()
	if up := evs[0].(ike.IKEUp); up.NATT {
		t.Error("NAT-T without NAT")
	}
	if ch := evs[1].(ike.ChildUp).Child; ch.UDPEncap || ch.Remote != cgw500 {
		t.Errorf("ChildSA %+v", ch)
	}
}

// A peer without NAT-T support gets no NAT-T vendor ID and no NAT-D; a
// draft-only peer gets the draft flavour back.
func TestNATTFlavours(t *testing.T) {
	for _, tc := range []struct {
		name    string
		vids    [][]byte
		wantVID []byte
		natT    bool
	}{
		{"none", [][]byte{vidDPD}, nil, false},
		{"draft-02n", [][]byte{vidDraft02N, vidDraft02}, vidDraft02N, true},
		{"rfc-preferred", [][]byte{vidDraft03, vidRFC3947}, vidRFC3947, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			in, _ := awsDefault()
			in.vids = tc.vids
			mm2 := h.exchange(in.MM1(), vgw500, cgw500)
			m, _ := isakmp.Parse(mm2)
			for _, v := range [][]byte{vidRFC3947, vidDraft02N, vidDraft02, vidDraft03} {
				if isakmp.HasVendorID(m.Payloads, v) != bytes.Equal(v, tc.wantVID) {
					t.Errorf("vendor ID %x in MM2: %v", v, !bytes.Equal(v, tc.wantVID))
				}
			}
			// DPD is announced back only to a peer that announced it.
			if isakmp.HasVendorID(m.Payloads, vidDPD) != (tc.name == "none") {
				t.Error("DPD vendor ID answered wrongly")
			}
			in.ProcessMM2(mm2)
			in.natT = tc.natT
			mm4, _ := isakmp.Parse(h.exchange(in.MM3(), vgw500, cgw500))
			ds := findAll[*isakmp.NATD](mm4.Payloads)
			if (len(ds) == 2) != tc.natT || (tc.natT && ds[0].Draft != !bytes.Equal(tc.wantVID, vidRFC3947)) {
				t.Errorf("NAT-D %+v", ds)
			}
		})
	}
}

func TestWrongPSK(t *testing.T) {
	h := newHarness(t, nil)
	in, _ := awsDefault()
	in.psk = []byte("not.the.psk_0123")
	in.ProcessMM2(h.exchange(in.MM1(), vgw500, cgw500))
	if err := in.ProcessMM4(h.exchange(in.MM3(), vgw500, cgw500)); err != nil {
		t.Fatal(err)
	}
	mm5 := in.MM5()
	resp := h.exchange(mm5, vgw4500, cgw4500)
	wantNotify(t, in.ProcessMM6(resp), isakmp.AUTHENTICATION_FAILED)
	want := []ike.Event{ike.NegotiationFailed{Tunnel: "vpn-1/1", Reason: "IKE authentication failed: PSK mismatch"}}
	if evs := h.takeEvents(); !reflect.DeepEqual(evs, want) {
		t.Errorf("events %#v", evs)
	}
	// A retransmit gets the same answer, and no second event.
	if again := h.exchange(mm5, vgw4500, cgw4500); !bytes.Equal(again, resp) {
		t.Error("retransmitted MM5 not answered from cache")
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
	if strings.Contains(h.logBuf.String(), string(testPSK)) || strings.Contains(h.logBuf.String(), "not.the.psk") {
		t.Error("PSK in logs")
	}
}

func TestNoProposalChosen(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.IKE = ike.Policy{Ciphers: []suite.Cipher{cbc128}, Integs: []suite.Integ{integSHA256}, DHGroups: []suite.DHGroup{modp2048}}
	})
	in := newInitiator(p1Transform(1, cbc256, isakmp.HashSHA1, modp1024, 8*time.Hour))
	mm1 := in.MM1()
	resp := h.exchange(mm1, vgw500, cgw500)
	wantNotify(t, in.ProcessMM2(resp), isakmp.NO_PROPOSAL_CHOSEN)
	evs := h.takeEvents()
	if len(evs) != 1 {
		t.Fatalf("events %#v", evs)
	}
	nf, ok := evs[0].(ike.NegotiationFailed)
	if !ok || !strings.HasPrefix(nf.Reason, "IKEv1 Main Mode: no proposal chosen: ") || !strings.Contains(nf.Reason, "aes256") {
		t.Errorf("event %#v", evs[0])
	}
	if again := h.exchange(mm1, vgw500, cgw500); !bytes.Equal(again, resp) {
		t.Error("retransmitted MM1 not answered identically")
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("duplicate events %#v", evs)
	}
	h.clock.Advance(halfOpenTimeout)
	if st := h.r.Status(); st.IKESAs != 0 || st.Established {
		t.Errorf("state kept: %+v", st)
	}
}

func TestAggressiveModeRefused(t *testing.T) {
	h := newHarness(t, nil)
	in, _ := awsDefault()
	in.MM1()
	am := mustSerialize(&isakmp.Message{Header: in.header(isakmp.ExchangeAggressive, 0), Payloads: []isakmp.Payload{
		&isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SitIdentityOnly, Proposals: []isakmp.Proposal{
			{Number: 1, ProtocolID: isakmp.ProtoISAKMP, Transforms: in.transforms}}},
		&isakmp.KE{Data: make([]byte, 128)}, &isakmp.Nonce{Data: make([]byte, 32)}, in.id,
	}})
	resp := h.exchange(am, vgw500, cgw500)
	m, err := in.parse(resp)
	if m != nil || err == nil {
		t.Fatalf("no refusal: %v", err)
	}
	wantNotify(t, err, isakmp.NO_PROPOSAL_CHOSEN)
	want := []ike.Event{ike.NegotiationFailed{Tunnel: "vpn-1/1", Reason: "IKEv1 Aggressive Mode refused (Main Mode only)"}}
	if evs := h.takeEvents(); !reflect.DeepEqual(evs, want) {
		t.Errorf("events %#v", evs)
	}
	if !strings.Contains(h.logBuf.String(), "Aggressive Mode refused: AWS accepts Main Mode only") {
		t.Error("no log line")
	}
	h.exchange(am, vgw500, cgw500)
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("duplicate events %#v", evs)
	}
	if c := h.r.Counters(); c.Refused != 2 || c.Retransmits != 1 {
		t.Errorf("counters %+v", c)
	}
}

func TestWrongPeerDropped(t *testing.T) {
	h := newHarness(t, nil)
	in, _ := awsDefault()
	if resp := h.exchange(in.MM1(), vgw500, netip.MustParseAddrPort("192.0.2.9:500")); resp != nil {
		t.Error("answered a stranger")
	}
	if c := h.r.Counters(); c.WrongPeer != 1 || c.Received != 1 {
		t.Errorf("counters %+v", c)
	}
	if st := h.r.Status(); st.IKESAs != 0 {
		t.Errorf("state for a stranger: %+v", st)
	}
}

// Every retransmitted request is answered with the identical response and
// triggers no second event.
func TestRetransmits(t *testing.T) {
	h := newHarness(t, nil)
	in, offer := awsDefault()
	mm1 := in.MM1()
	mm2 := h.exchange(mm1, vgw500, cgw500)
	if again := h.exchange(mm1, vgw500, cgw500); !bytes.Equal(again, mm2) {
		t.Error("MM1 retransmit")
	}
	in.ProcessMM2(mm2)
	mm3 := in.MM3()
	mm4 := h.exchange(mm3, vgw500, cgw500)
	if again := h.exchange(mm3, vgw500, cgw500); !bytes.Equal(again, mm4) {
		t.Error("MM3 retransmit")
	}
	in.ProcessMM4(mm4)
	mm5 := in.MM5()
	mm6 := h.exchange(mm5, vgw4500, cgw4500)
	if again := h.exchange(mm5, vgw4500, cgw4500); !bytes.Equal(again, mm6) {
		t.Error("MM5 retransmit")
	}
	if err := in.ProcessMM6(mm6); err != nil {
		t.Fatal(err)
	}
	// A late MM1 duplicate neither answers nor disturbs the SA.
	if again := h.exchange(mm1, vgw500, cgw500); again != nil {
		t.Error("late MM1 answered")
	}
	qm1, pq := in.QM1(offer)
	qm2 := h.exchange(qm1, vgw4500, cgw4500)
	if again := h.exchange(qm1, vgw4500, cgw4500); !bytes.Equal(again, qm2) {
		t.Error("QM1 retransmit")
	}
	if _, err := in.ProcessQM2(qm2, pq); err != nil {
		t.Fatal(err)
	}
	qm3 := in.QM3(pq)
	h.exchange(qm3, vgw4500, cgw4500)
	h.exchange(qm3, vgw4500, cgw4500)
	if again := h.exchange(qm1, vgw4500, cgw4500); again != nil {
		t.Error("QM1 answered after QM3")
	}
	evs := h.takeEvents()
	if len(evs) != 2 {
		t.Fatalf("events %#v", evs)
	}
	if c := h.r.Counters(); c.Retransmits != 7 {
		t.Errorf("counters %+v", c)
	}
}

func TestQuickModeSelectorsRefused(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.AllowedRemoteTS = []netip.Prefix{netip.MustParsePrefix("172.16.0.0/16")}
		c.AllowedLocalTS = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}
	})
	in, offer := awsDefault()
	h.mainMode(in)
	h.takeEvents()
	offer.ids = []*isakmp.ID{isakmp.IDFromPrefix(netip.MustParsePrefix("192.168.0.0/24")), anyIDs[1]}
	qm1, pq := in.QM1(offer)
	_, err := in.ProcessQM2(h.exchange(qm1, vgw4500, cgw4500), pq)
	wantNotify(t, err, isakmp.INVALID_ID_INFORMATION)
	evs := h.takeEvents()
	if len(evs) != 1 || !strings.Contains(evs[0].(ike.NegotiationFailed).Reason, "traffic selectors unacceptable: peer proposed 192.168.0.0/24 === 10.0.0.0/16") {
		t.Errorf("events %#v", evs)
	}
	// Inside the allowed prefixes it works.
	offer.ids = []*isakmp.ID{isakmp.IDFromPrefix(netip.MustParsePrefix("172.16.5.0/24")), isakmp.IDFromAddr(netip.MustParseAddr("10.0.1.1"))}
	h.quickMode(in, offer)
	if st := h.r.Status(); st.ChildSAs != 1 {
		t.Errorf("status %+v", st)
	}
}

func TestQuickModeNoProposal(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ESP.DHGroups = []suite.DHGroup{modp2048} })
	in, offer := awsDefault() // PFS modp1024, not allowed
	h.mainMode(in)
	h.takeEvents()
	qm1, pq := in.QM1(offer)
	_, err := in.ProcessQM2(h.exchange(qm1, vgw4500, cgw4500), pq)
	wantNotify(t, err, isakmp.NO_PROPOSAL_CHOSEN)
	evs := h.takeEvents()
	if len(evs) != 1 || !strings.HasPrefix(evs[0].(ike.NegotiationFailed).Reason, "IKEv1 Quick Mode: no proposal chosen: ") {
		t.Errorf("events %#v", evs)
	}
	// The same request again: no second event, no second notify.
	if resp := h.exchange(qm1, vgw4500, cgw4500); resp != nil {
		t.Error("refused QM1 retransmit answered")
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Errorf("events %#v", evs)
	}
}

// Without IDs, the selectors are the ISAKMP peers' own addresses.
func TestQuickModeWithoutIDs(t *testing.T) {
	h := newHarness(t, nil)
	in, offer := awsDefault()
	offer.ids = nil
	h.mainMode(in)
	h.quickMode(in, offer)
	ch := h.takeEvents()[1].(ike.ChildUp).Child
	if !reflect.DeepEqual(ch.LocalTS, []netip.Prefix{netip.MustParsePrefix("203.0.113.2/32")}) ||
		!reflect.DeepEqual(ch.RemoteTS, []netip.Prefix{netip.MustParsePrefix("198.51.100.2/32")}) {
		t.Errorf("TS %v === %v", ch.RemoteTS, ch.LocalTS)
	}
}

// Two Quick Modes in flight at once, completed in reverse order.
func TestConcurrentQuickModes(t *testing.T) {
	h := newHarness(t, nil)
	in, offer := awsDefault()
	h.mainMode(in)
	h.takeEvents()
	qa, pa := in.QM1(offer)
	offer2 := offer
	offer2.spi = 0xc0000002
	qb, pb := in.QM1(offer2)
	ra := h.exchange(qa, vgw4500, cgw4500)
	rb := h.exchange(qb, vgw4500, cgw4500)
	cb, err := in.ProcessQM2(rb, pb)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := in.ProcessQM2(ra, pa)
	if err != nil {
		t.Fatal(err)
	}
	h.exchange(in.QM3(pb), vgw4500, cgw4500)
	h.exchange(in.QM3(pa), vgw4500, cgw4500)
	evs := h.takeEvents()
	if len(evs) != 2 || evs[0].(ike.ChildUp).Child.OutSPI != cb.inSPI || evs[1].(ike.ChildUp).Child.OutSPI != ca.inSPI {
		t.Errorf("events %#v", evs)
	}
}
