package v2

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

// spoofer builds syntactically valid IKE_SA_INIT requests that the
// responder accepts (x25519 keeps its DH cheap) from senders that never
// follow up.
type spoofer struct{ rng *rand.ChaCha8 }

func newSpoofer(seed byte) *spoofer { return &spoofer{rand.NewChaCha8([32]byte{0x5f, seed})} }

func (s *spoofer) bytes(n int) []byte {
	b := make([]byte, n)
	_, _ = io.ReadFull(s.rng, b)
	return b
}

func (s *spoofer) saInit(cookie []byte) (pkt []byte, spii uint64) {
	spii = binary.BigEndian.Uint64(s.bytes(8)) | 1
	var ps []message.Payload
	if cookie != nil {
		ps = append(ps, &message.Notify{NotifyType: message.COOKIE, Data: cookie})
	}
	ps = append(ps,
		&message.SA{Proposals: []message.Proposal{ikeProposal(1, cbc128, integSHA256, suite.PRFHMACSHA256, x25519)}},
		&message.KE{Group: uint16(x25519), Data: s.bytes(32)},
		&message.Nonce{Data: s.bytes(32)},
	)
	pkt, err := (&message.Message{
		Header:   message.Header{SPIi: spii, MajorVersion: 2, Exchange: message.IKE_SA_INIT, Flags: message.FlagInitiator},
		Payloads: ps,
	}).Serialize()
	if err != nil {
		panic(err)
	}
	return pkt, spii
}

// flood sends n spoofed IKE_SA_INITs from the customer gateway's address,
// each from a port of its own (from port when it is not 0) and returns how
// many got an SA (not a COOKIE) back.
func (h *harness) flood(s *spoofer, n int, port uint16) (accepted int) {
	h.t.Helper()
	for i := 0; i < n; i++ {
		pkt, _ := s.saInit(nil)
		p := port
		if p == 0 {
			p = uint16(10000 + h.r.Counters().Received%50000)
		}
		if isSAResponse(h.t, h.exchange(pkt, vgw500, netip.AddrPortFrom(cgwAddr, p))) {
			accepted++
		}
	}
	return accepted
}

// isSAResponse tells an accepting IKE_SA_INIT response from a COOKIE one.
func isSAResponse(t testing.TB, resp []byte) bool {
	t.Helper()
	if resp == nil {
		return false
	}
	m, err := message.Parse(bytes.Clone(resp))
	if err != nil {
		t.Fatal(err)
	}
	return m.Header.SPIr != 0 && m.Find(message.PayloadSA) != nil
}

// responseCookie returns the COOKIE of an IKE_SA_INIT response, nil if none.
func responseCookie(t testing.TB, resp []byte) []byte {
	t.Helper()
	if resp == nil {
		t.Fatal("no IKE_SA_INIT response")
	}
	m, err := message.Parse(bytes.Clone(resp))
	if err != nil {
		t.Fatal(err)
	}
	n := m.FindNotify(message.COOKIE)
	if n == nil {
		return nil
	}
	if m.Header.SPIr != 0 || len(m.Payloads) != 1 || !m.Header.IsResponse() {
		t.Fatalf("COOKIE response %v with %d payloads", m.Header, len(m.Payloads))
	}
	return n.Data
}

// withCookie makes in's IKE_SA_INIT the retry RFC 7296 §2.6 asks for: the
// cookie as first payload, everything else unchanged.
func withCookie(t testing.TB, in *initiator, cookie []byte) []byte {
	t.Helper()
	m, err := message.Parse(bytes.Clone(in.initReq))
	if err != nil {
		t.Fatal(err)
	}
	ps := m.Payloads
	if ps[0].Type() == message.PayloadNotify && ps[0].(*message.Notify).NotifyType == message.COOKIE {
		ps = ps[1:]
	}
	m.Payloads = append([]message.Payload{&message.Notify{NotifyType: message.COOKIE, Data: cookie}}, ps...)
	if in.initReq, err = m.Serialize(); err != nil {
		t.Fatal(err)
	}
	return in.initReq
}

// finish completes IKE_SA_INIT (with resp) and IKE_AUTH for in.
func (h *harness) finish(in *initiator, resp []byte) {
	h.t.Helper()
	if err := in.ProcessSAInit(resp); err != nil {
		h.t.Fatalf("IKE_SA_INIT: %v", err)
	}
	offer := defaultOffer(0xc0000001, defaultESP)
	req, err := in.Auth(offer)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := in.ProcessAuth(h.exchange(req, vgw4500, cgw4500), offer); err != nil {
		h.t.Fatalf("IKE_AUTH: %v", err)
	}
	if !h.r.Status().Established {
		h.t.Fatal("not established")
	}
}

func TestCookieNotDemandedBelowThreshold(t *testing.T) {
	h := newHarness(t, nil)
	if n := h.flood(newSpoofer(1), cookieThreshold-1, 0); n != cookieThreshold-1 {
		t.Fatalf("%d of %d spoofed IKE_SA_INITs accepted below the threshold", n, cookieThreshold-1)
	}
	in := newDefaultInitiator()
	req, _ := in.SAInit()
	resp := h.exchange(req, vgw500, cgw500)
	if c := responseCookie(t, resp); c != nil {
		t.Fatal("COOKIE demanded below the threshold")
	}
	h.finish(in, resp)
	if c := h.r.Counters(); c.CookiesSent != 0 || c.HalfOpenLimit != 0 {
		t.Errorf("counters %+v", c)
	}
}

func TestCookieDemandedAboveThreshold(t *testing.T) {
	h := newHarness(t, nil)
	h.flood(newSpoofer(1), cookieThreshold, 0)
	sas := len(h.r.sas)

	in := newDefaultInitiator()
	req, _ := in.SAInit()
	cookie := responseCookie(t, h.exchange(req, vgw500, cgw500))
	if len(cookie) != cookieLen {
		t.Fatalf("cookie %x, want %d bytes", cookie, cookieLen)
	}
	if len(h.r.sas) != sas || len(h.r.byInit) != sas {
		t.Fatalf("a COOKIE answer kept state: %d SAs, was %d", len(h.r.sas), sas)
	}

	// A wrong cookie, one for another SPIi and one from another address
	// are refused, with a fresh cookie.
	wrong := bytes.Clone(cookie)
	wrong[5] ^= 1
	for _, c := range []struct {
		name   string
		cookie []byte
		from   netip.AddrPort
	}{
		{"flipped bit", wrong, cgw500},
		{"truncated", cookie[:8], cgw500},
		{"other address", cookie, netip.MustParseAddrPort("198.51.100.9:500")},
	} {
		h.r.cfg.Peer = c.from.Addr() // the responder only listens to its peer
		resp := h.exchange(withCookie(t, in, c.cookie), vgw500, c.from)
		h.r.cfg.Peer = cgwAddr
		if got := responseCookie(t, resp); got == nil || isSAResponse(t, resp) {
			t.Fatalf("%s: accepted", c.name)
		}
	}
	other := newInitiator(in.ikeProposals, in.group)
	other.rand = detRand(9)
	other.SAInit()
	if responseCookie(t, h.exchange(withCookie(t, other, cookie), vgw500, cgw500)) == nil {
		t.Fatal("another initiator's cookie accepted")
	}
	if c := h.r.Counters(); c.BadCookies != 4 || c.CookiesSent != 5 || len(h.r.sas) != sas {
		t.Fatalf("after wrong cookies: %+v, %d SAs", c, len(h.r.sas))
	}

	resp := h.exchange(withCookie(t, in, cookie), vgw500, cgw500)
	if !isSAResponse(t, resp) {
		t.Fatal("right cookie refused")
	}
	h.finish(in, resp)
}

func TestCookieSecretRotation(t *testing.T) {
	rnd := detRand(3)
	var j cookieJar
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ni := bytes.Repeat([]byte{7}, 32)
	ip := cgwAddr
	c0, err := j.make(t0, rnd, ni, ip, 42)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at    time.Duration
		valid bool
	}{
		{0, true},
		{cookieSecretLifetime - time.Second, true},
		{cookieSecretLifetime + time.Second, true},    // the previous secret
		{2*cookieSecretLifetime + time.Second, false}, // two rotations later
		{10 * cookieSecretLifetime, false},
	} {
		if got := j.valid(t0.Add(tc.at), rnd, c0, ni, ip, 42); got != tc.valid {
			t.Errorf("cookie after %v: valid=%v, want %v", tc.at, got, tc.valid)
		}
	}
	// Idle for longer than two lifetimes: nothing from before survives.
	var k cookieJar
	c1, _ := k.make(t0, rnd, ni, ip, 42)
	if k.valid(t0.Add(3*cookieSecretLifetime), rnd, c1, ni, ip, 42) {
		t.Error("cookie valid after a long idle period")
	}
	c2, _ := k.make(t0.Add(3*cookieSecretLifetime), rnd, ni, ip, 42)
	if bytes.Equal(c1, c2) || c1[0] == c2[0] {
		t.Error("rotation kept the secret or its version")
	}
	for _, bad := range []struct {
		ni   []byte
		ip   netip.Addr
		spii uint64
	}{{bytes.Repeat([]byte{8}, 32), ip, 42}, {ni, vgwAddr, 42}, {ni, ip, 43}} {
		if k.valid(t0.Add(3*cookieSecretLifetime), rnd, c2, bad.ni, bad.ip, bad.spii) {
			t.Errorf("cookie valid for %x %v %d", bad.ni[:2], bad.ip, bad.spii)
		}
	}
}

// The Responder accepts a cookie made before a rotation, and refuses one
// two rotations old with a fresh cookie.
func TestCookieRotationResponder(t *testing.T) {
	h := newHarness(t, nil)
	s := newSpoofer(1)
	h.flood(s, cookieThreshold, 0)
	in := newDefaultInitiator()
	req, _ := in.SAInit()
	cookie := responseCookie(t, h.exchange(req, vgw500, cgw500))

	h.clock.Advance(cookieSecretLifetime + time.Second) // the spoofed SAs expire too
	h.flood(s, cookieThreshold, 0)
	resp := h.exchange(withCookie(t, in, cookie), vgw500, cgw500)
	if !isSAResponse(t, resp) {
		t.Fatal("cookie of the previous secret refused")
	}

	in2 := newDefaultInitiator()
	in2.rand = detRand(5)
	req, _ = in2.SAInit()
	cookie = responseCookie(t, h.exchange(req, vgw500, cgw500))
	h.clock.Advance(2*cookieSecretLifetime + time.Second)
	h.flood(s, cookieThreshold, 0)
	fresh := responseCookie(t, h.exchange(withCookie(t, in2, cookie), vgw500, cgw500))
	if fresh == nil || bytes.Equal(fresh, cookie) {
		t.Fatal("cookie two rotations old not refused with a fresh one")
	}
	resp = h.exchange(withCookie(t, in2, fresh), vgw500, cgw500)
	if !isSAResponse(t, resp) {
		t.Fatal("fresh cookie refused")
	}
	h.finish(in2, resp)
}

// One source (address and port) gets halfOpenPerSource half-open SAs
// without cookies; a verified request from it replaces the oldest one.
func TestHalfOpenPerSource(t *testing.T) {
	h := newHarness(t, nil)
	s := newSpoofer(1)
	if n := h.flood(s, halfOpenPerSource+4, 500); n != halfOpenPerSource {
		t.Fatalf("%d half-open SAs from one source, want %d", n, halfOpenPerSource)
	}
	if h.flood(s, 1, 501) != 1 {
		t.Fatal("another source's request refused")
	}
	in := newDefaultInitiator()
	req, _ := in.SAInit()
	cookie := responseCookie(t, h.exchange(req, vgw500, cgw500))
	if cookie == nil {
		t.Fatal("no COOKIE demanded from a source at its limit")
	}
	resp := h.exchange(withCookie(t, in, cookie), vgw500, cgw500)
	if !isSAResponse(t, resp) {
		t.Fatal("verified request refused")
	}
	if c := h.r.Counters(); c.HalfOpenEvicted != 1 || len(h.r.sas) != halfOpenPerSource+1 {
		t.Fatalf("counters %+v, %d SAs", c, len(h.r.sas))
	}
	h.finish(in, resp)
}

// verifiedSAInit runs a fresh initiator through the cookie round trip and
// returns the final response (nil if dropped).
func (h *harness) verifiedSAInit(seed byte, i int, from netip.AddrPort) []byte {
	h.t.Helper()
	in := newDefaultInitiator()
	in.group = x25519
	in.ikeProposals = []message.Proposal{ikeProposal(1, cbc128, integSHA256, suite.PRFHMACSHA256, x25519)}
	in.rand = rand.NewChaCha8([32]byte{seed, byte(i), byte(i >> 8)})
	req, _ := in.SAInit()
	resp := h.exchange(req, vgw500, from)
	if c := responseCookie(h.t, resp); c != nil {
		resp = h.exchange(withCookie(h.t, in, c), vgw500, from)
	}
	return resp
}

// The tunnel's cap holds even against initiators that return cookies:
// they first replace SAs that came without one, then are dropped.
func TestHalfOpenMax(t *testing.T) {
	h := newHarness(t, nil)
	h.flood(newSpoofer(1), cookieThreshold, 0)
	for i := 0; len(h.r.sas) < halfOpenMax; i++ {
		port := uint16(2000 + i/(halfOpenPerSource-1))
		if !isSAResponse(t, h.verifiedSAInit(1, i, netip.AddrPortFrom(cgwAddr, port))) {
			t.Fatalf("verified request %d refused with %d SAs", i, len(h.r.sas))
		}
	}
	for i := 0; i < cookieThreshold+1; i++ {
		ok := isSAResponse(t, h.verifiedSAInit(2, i, netip.AddrPortFrom(cgwAddr, uint16(30000+i))))
		if ok != (i < cookieThreshold) {
			t.Fatalf("verified request %d at the cap: accepted=%v", i, ok)
		}
	}
	c := h.r.Counters()
	if c.HalfOpenEvicted != cookieThreshold || c.HalfOpenLimit != 1 || len(h.r.sas) != halfOpenMax {
		t.Fatalf("counters %+v, %d SAs", c, len(h.r.sas))
	}
}

// Under pressure, half-open SAs without a cookie expire after
// halfOpenTimeoutPressure.
func TestHalfOpenPressureExpiry(t *testing.T) {
	h := newHarness(t, nil)
	s := newSpoofer(1)
	h.flood(s, cookieThreshold, 0)
	h.clock.Advance(halfOpenTimeoutPressure - time.Second)
	if h.flood(s, 1, 0) != 0 {
		t.Fatal("accepted without a cookie under pressure")
	}
	h.clock.Advance(time.Second)
	if h.flood(s, 1, 0) != 1 || len(h.r.sas) != 1 {
		t.Fatalf("after %v under pressure: %d SAs, want the old ones gone", halfOpenTimeoutPressure, len(h.r.sas))
	}
}

// TestFlood100k sends 100,000 spoofed IKE_SA_INITs from random addresses
// and ports, with time passing, and checks that state stays bounded and a
// real initiator still gets through with a cookie.
func TestFlood100k(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	h := newHarnessLog(t, nil, quiet)
	var legit []sent
	var others int
	h.r.out.Send = func(pkt []byte, local, remote netip.AddrPort) error {
		if remote == cgw500 || remote == cgw4500 {
			legit = append(legit, sent{bytes.Clone(pkt), local, remote})
		} else {
			others++
		}
		return nil
	}
	s := newSpoofer(7)
	rng := rand.New(rand.NewPCG(1, 2))
	maxSAs := 0
	for i := 0; i < n; i++ {
		pkt, _ := s.saInit(nil)
		if rng.IntN(10) == 0 && i%3 == 0 { // some with the wrong cookie
			pkt, _ = s.saInit(s.bytes(cookieLen))
		}
		var from netip.AddrPort
		switch rng.IntN(10) {
		case 0: // anywhere: not the customer gateway
			from = netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(rng.IntN(223) + 1), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))}), uint16(rng.IntN(65535)+1))
		case 1: // the customer gateway's own port
			from = cgw500
		default:
			from = netip.AddrPortFrom(cgwAddr, uint16(rng.IntN(64511)+1025))
		}
		h.r.HandlePacket(pkt, vgw500, from)
		if i%1000 == 0 {
			h.clock.Advance(200 * time.Millisecond) // 5,000 packets a second
			h.r.mu.Lock()
			maxSAs = max(maxSAs, len(h.r.sas), len(h.r.byInit), len(h.r.flood.halfOpen))
			h.r.mu.Unlock()
		}
	}
	if maxSAs > cookieThreshold {
		t.Errorf("up to %d half-open SAs during the flood, want at most %d", maxSAs, cookieThreshold)
	}
	legit = nil

	// The real initiator, amid the flood.
	in := newDefaultInitiator()
	req, _ := in.SAInit()
	h.r.HandlePacket(req, vgw500, cgw500)
	if len(legit) != 1 {
		t.Fatalf("%d answers to the initiator", len(legit))
	}
	cookie := responseCookie(t, legit[0].pkt)
	if cookie == nil {
		t.Fatal("no COOKIE demanded during the flood")
	}
	legit = nil
	h.r.HandlePacket(withCookie(t, in, cookie), vgw500, cgw500)
	if len(legit) != 1 || !isSAResponse(t, legit[0].pkt) {
		t.Fatal("initiator with the cookie refused")
	}
	if err := in.ProcessSAInit(legit[0].pkt); err != nil {
		t.Fatal(err)
	}
	offer := defaultOffer(0xc0000001, defaultESP)
	req, _ = in.Auth(offer)
	legit = nil
	h.r.HandlePacket(req, vgw4500, cgw4500)
	if len(legit) != 1 {
		t.Fatalf("%d answers to IKE_AUTH", len(legit))
	}
	if _, err := in.ProcessAuth(legit[0].pkt, offer); err != nil {
		t.Fatal(err)
	}
	st := h.r.Status()
	c := st.Counters
	t.Logf("%d spoofed IKE_SA_INITs: %d answers to them, at most %d half-open SAs; counters %+v", n, others, maxSAs, c)
	if !st.Established || st.IKESAs > cookieThreshold+1 {
		t.Errorf("status %+v", st)
	}
	if c.CookiesSent < uint64(n)/2 || c.WrongPeer < uint64(n)/20 || c.BadCookies == 0 {
		t.Errorf("counters %+v", c)
	}
}
