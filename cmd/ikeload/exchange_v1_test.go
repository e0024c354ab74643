package main

import (
	"bytes"
	"crypto/rand"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
	v1 "github.com/vpgw/vpgw/ike/v1"
	"github.com/vpgw/vpgw/suite"
)

const testPSK = "example.psk_0123456789"

// lockedBuffer is a log sink shared by the responder's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// v1Responder is vpgw's IKEv1 responder (one tunnel, AWS's default
// policy) on a UDP loopback socket, counting its events.
type v1Responder struct {
	r    *v1.Responder
	addr netip.AddrPort
	log  *lockedBuffer

	mu                   sync.Mutex
	ikeUp, childUp, down int
}

func startV1Responder(t *testing.T, mod func(*v1.Config)) *v1Responder {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	aws := ike.Policy{
		Ciphers: []suite.Cipher{{Encr: suite.EncrAESCBC, KeyBits: 128}, {Encr: suite.EncrAESCBC, KeyBits: 256},
			{Encr: suite.EncrAESGCM16, KeyBits: 128}, {Encr: suite.EncrAESGCM16, KeyBits: 256}},
		Integs:   []suite.Integ{suite.IntegHMACSHA1_96, suite.IntegHMACSHA256128, suite.IntegHMACSHA384192, suite.IntegHMACSHA512256},
		DHGroups: []suite.DHGroup{2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24},
	}
	cfg := v1.Config{
		Tunnel: "vpn-1/1", Local: local.Addr(), Peer: local.Addr(), PSK: []byte(testPSK),
		IKE: aws, ESP: aws, IKELifetime: 8 * time.Hour, ChildLifetime: time.Hour,
		AllowedLocalTS:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")},
		AllowedRemoteTS: []netip.Prefix{netip.MustParsePrefix("172.16.0.0/24")},
	}
	if mod != nil {
		mod(&cfg)
	}
	send := func(pkt []byte, _, remote netip.AddrPort) error {
		_, err := conn.WriteToUDPAddrPort(pkt, remote)
		return err
	}
	events := make(chan ike.Event, 64)
	lr := &v1Responder{addr: local, log: &lockedBuffer{}}
	log := slog.New(slog.NewTextHandler(lr.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	lr.r = v1.NewResponder(cfg, send, events, ike.SystemClock{}, rand.Reader, log)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ev := range events {
			lr.mu.Lock()
			switch ev.(type) {
			case ike.IKEUp:
				lr.ikeUp++
			case ike.ChildUp:
				lr.childUp++
			case ike.IKEDown:
				lr.down++
			}
			lr.mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			lr.r.HandlePacket(buf[:n], local, from)
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		lr.r.Close()
		close(events)
		wg.Wait()
	})
	return lr
}

func (lr *v1Responder) events() (ikeUp, childUp, down int) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return lr.ikeUp, lr.childUp, lr.down
}

// v1Jobs are n SAs from 127.0.0.1 to the responder.
func v1Jobs(t *testing.T, lr *v1Responder, n int, dh, esp string, pfs bool) []*params {
	t.Helper()
	base, err := buildParams(1, dh, "aes128/sha2-256", esp, "172.16.0.0/24", "10.0.0.0/16", pfs, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	base.port = lr.addr.Port()
	return makeJobs(base, []pair{{local: lr.addr.Addr(), target: lr.addr.Addr(), psk: testPSK}}, n)
}

// TestV1AgainstVPGWResponder runs the IKEv1 exchange against vpgw's own
// IKEv1 responder: the SAs come up, are held while the responder's DPD
// asks (and gets answers), and are deleted.
func TestV1AgainstVPGWResponder(t *testing.T) {
	lr := startV1Responder(t, func(c *v1.Config) {
		c.DPDDelay, c.DPDTimeout = 300*time.Millisecond, 5*time.Second
	})
	const n = 6
	res, sas := run(v1Jobs(t, lr, n, "modp2048", "aes128-gcm-16", true), establishV1, 0, 3, nil)
	if res.Established != n || res.Failed != 0 {
		t.Fatalf("%d of %d established, %d failed: %v", res.Established, n, res.Failed, res.Failures)
	}
	// QM3 is the last message: the responder installs the IPsec SA on it.
	var st v1.Status
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st = lr.r.Status()
		ikeUp, childUp, _ := lr.events()
		if st.IKESAs == n && ikeUp == n && childUp == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("responder: %d ISAKMP SAs, %d IKEUp, %d ChildUp; want %d each", st.IKESAs, ikeUp, childUp, n)
		}
	}
	t.Logf("responder: IKE %s, ESP %s", st.IKESuite, st.ESPSuite)
	if want := "aes128-gcm-16-modp2048"; !strings.Contains(st.ESPSuite, "gcm") || !strings.Contains(st.ESPSuite, "modp2048") {
		t.Errorf("responder's IPsec SA: %q, want %s (PFS with the --dh group)", st.ESPSuite, want)
	}

	// Hold: the responder's R-U-THEREs (after 300 ms idle) get ACKs.
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for _, sa := range sas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sa.serve(quit)
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(lr.log.String(), "R-U-THERE-ACK received") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	close(quit)
	wg.Wait()
	if !strings.Contains(lr.log.String(), "R-U-THERE-ACK received") {
		t.Errorf("the responder's R-U-THERE got no ACK during the hold")
	}

	deleteAll(sas, 3, &res)
	for _, sa := range sas {
		sa.close()
	}
	if res.Deleted+res.DeletedByPeer != n || res.DeleteFails != 0 {
		t.Errorf("deleted %d, by the responder %d, failed %d; want %d", res.Deleted, res.DeletedByPeer, res.DeleteFails, n)
	}
	deadline = time.Now().Add(3 * time.Second)
	for {
		st = lr.r.Status()
		_, _, down := lr.events()
		if st.IKESAs == 0 && st.ChildSAs == 0 && down == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the DELETEs the responder holds %d ISAKMP SAs and %d IPsec SAs (%d IKEDown)", st.IKESAs, st.ChildSAs, down)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c := st.Counters; c.DecryptFailed != 0 || c.Malformed != 0 {
		t.Errorf("responder counters: %+v", c)
	}
	if strings.Contains(lr.log.String(), testPSK) {
		t.Errorf("the responder's log shows the PSK")
	}
}

// TestV1NoPFSAndCBC: without PFS and with AES-CBC/SHA-1 ESP, which vpgw
// accepts as well.
func TestV1NoPFSAndCBC(t *testing.T) {
	lr := startV1Responder(t, nil)
	res, sas := run(v1Jobs(t, lr, 2, "ecp256", "aes256/sha1", false), establishV1, 0, 2, nil)
	if res.Established != 2 || res.Failed != 0 {
		t.Fatalf("%d of 2 established: %v", res.Established, res.Failures)
	}
	time.Sleep(100 * time.Millisecond) // QM3 on its way
	if st := lr.r.Status(); st.ESPSuite == "" || strings.Contains(st.ESPSuite, "ecp") {
		t.Errorf("responder's IPsec SA %q: want one without PFS", st.ESPSuite)
	}
	deleteAll(sas, 2, &res)
	for _, sa := range sas {
		sa.close()
	}
	if res.Deleted != 2 {
		t.Errorf("deleted %d of 2", res.Deleted)
	}
}

// TestV1WrongPSK fails in Main Mode, naming the step.
func TestV1WrongPSK(t *testing.T) {
	lr := startV1Responder(t, nil)
	jobs := v1Jobs(t, lr, 1, "modp2048", "aes128-gcm-16", true)
	jobs[0].psk = []byte("not.the.psk")
	res, sas := run(jobs, establishV1, 0, 1, nil)
	if res.Established != 0 || res.Failed != 1 || len(sas) != 0 {
		t.Fatalf("with a wrong PSK: %d established, failures %v", res.Established, res.Failures)
	}
	for k := range res.Failures {
		if !strings.HasPrefix(k, "MM") {
			t.Errorf("failure %q: want it in Main Mode", k)
		}
		if strings.Contains(k, "not.the.psk") || strings.Contains(k, testPSK) {
			t.Errorf("failure %q shows a PSK", k)
		}
	}
}

// TestV1Params refuses what IKEv1 cannot offer.
func TestV1Params(t *testing.T) {
	for _, c := range []struct{ ike, tsi string }{
		{"aes128-gcm-16/sha2-256", "172.16.0.0/24"},
		{"aes128/sha2-256", "172.16.0.0/24,172.17.0.0/24"},
	} {
		if _, err := buildParams(1, "modp2048", c.ike, "aes128-gcm-16", c.tsi, "10.0.0.0/16", true, time.Second); err == nil {
			t.Errorf("--ike-proposal %s --tsi %s accepted for IKEv1", c.ike, c.tsi)
		}
	}
	if _, err := buildParams(3, "modp2048", "aes128/sha2-256", "aes128-gcm-16", "172.16.0.0/24", "10.0.0.0/16", true, time.Second); err == nil {
		t.Error("--ike-version 3 accepted")
	}
}
