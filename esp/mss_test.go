package esp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpgw/vpgw/esp/esptest"
	"github.com/vpgw/vpgw/esp/mmsg"
	"github.com/vpgw/vpgw/suite"
)

// tcpSpec describes an IPv4 TCP packet for tcpPacket.
type tcpSpec struct {
	src, dst netip.Addr // zero: onPremHost → vpcHost
	ipOpts   []byte     // IPv4 options, a multiple of 4 bytes
	frag     uint16     // flags and fragment offset (DF is 0x4000)
	flags    byte       // TCP flags
	opts     []byte     // TCP options, padded with EOL to 4 bytes
	payload  []byte
}

const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

// tcpPacket builds an IPv4 TCP packet with valid IP and TCP checksums.
func tcpPacket(s tcpSpec) []byte {
	if !s.src.IsValid() {
		s.src, s.dst = onPremHost, vpcHost
	}
	opts := s.opts
	for len(opts)%4 != 0 {
		opts = append(bytes.Clone(opts), tcpOptEOL)
	}
	ihl := 20 + len(s.ipOpts)
	doff := 20 + len(opts)
	p := make([]byte, ihl+doff+len(s.payload))
	p[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:], 0x1234)
	binary.BigEndian.PutUint16(p[6:], s.frag)
	p[8], p[9] = 64, protoTCP
	s4, d4 := s.src.As4(), s.dst.As4()
	copy(p[12:], s4[:])
	copy(p[16:], d4[:])
	copy(p[20:], s.ipOpts)
	binary.BigEndian.PutUint16(p[10:], ^onesSum(0, p[:ihl]))
	tcp := p[ihl:]
	binary.BigEndian.PutUint16(tcp[0:], 49152)
	binary.BigEndian.PutUint16(tcp[2:], 443)
	binary.BigEndian.PutUint32(tcp[4:], 0x01020304)
	if s.flags&flagACK != 0 {
		binary.BigEndian.PutUint32(tcp[8:], 0x0a0b0c0d)
	}
	tcp[12] = byte(doff/4) << 4
	tcp[13] = s.flags
	binary.BigEndian.PutUint16(tcp[14:], 64240)
	copy(tcp[20:], opts)
	copy(tcp[doff:], s.payload)
	binary.BigEndian.PutUint16(tcp[16:], ^tcpSum(p))
	return p
}

// onesSum adds b as big-endian 16-bit words to the one's complement sum s.
func onesSum(s uint32, b []byte) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// tcpSum is the one's complement sum of the pseudo-header and the segment
// of an IPv4 packet (its checksum field included, as it stands).
func tcpSum(p []byte) uint16 {
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:]))
	var ph [12]byte
	copy(ph[:8], p[12:20])
	ph[9] = protoTCP
	binary.BigEndian.PutUint16(ph[10:], uint16(total-ihl))
	return onesSum(uint32(onesSum(0, ph[:])), p[ihl:total])
}

// tcpChecksumOK recomputes the TCP checksum of p in full.
func tcpChecksumOK(p []byte) bool { return tcpSum(p) == 0xffff }

// tcpParses reports whether p is structurally an IPv4 TCP packet whose
// checksum tcpSum can compute.
func tcpParses(p []byte) bool {
	if len(p) < 20 || p[0]>>4 != 4 || p[9] != protoTCP {
		return false
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:]))
	return ihl >= 20 && total >= ihl+20 && total <= len(p)
}

func mssOpt(v uint16) []byte { return []byte{tcpOptMSS, 4, byte(v >> 8), byte(v)} }

// linuxSYNOpts is what Linux sends: MSS, SACK permitted, timestamps, NOP,
// window scale 7.
func linuxSYNOpts(mss uint16) []byte {
	return append(mssOpt(mss), 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, tcpOptNOP, 3, 3, 7)
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestClampMSS(t *testing.T) {
	const clamp = 1360
	syn := func(opts ...[]byte) []byte { return tcpPacket(tcpSpec{flags: flagSYN, opts: cat(opts...)}) }
	// mutate returns a SYN with MSS 1460 changed by f after it was built
	// (checksums are left as built).
	mutate := func(p []byte, f func(p []byte) []byte) []byte { return f(bytes.Clone(p)) }
	base := syn(mssOpt(1460))
	nopNop := syn([]byte{tcpOptNOP, tcpOptNOP}, mssOpt(1460))

	tests := []struct {
		name    string
		pkt     []byte
		mss     int // 0: clamp; -1: 0, which disables clamping
		changed bool
	}{
		{"syn without options", syn(), 0, false},
		{"syn mss smaller", syn(mssOpt(1300)), 0, false},
		{"syn mss equal", syn(mssOpt(clamp)), 0, false},
		{"syn mss 1460", base, 0, true},
		{"syn mss 65535", syn(mssOpt(0xffff)), 0, true},
		{"syn linux options", syn(linuxSYNOpts(1460)), 0, true},
		{"syn-ack", tcpPacket(tcpSpec{flags: flagSYN | flagACK, opts: linuxSYNOpts(1460)}), 0, true},
		{"syn with data", tcpPacket(tcpSpec{flags: flagSYN, opts: mssOpt(1460), payload: []byte("fast open")}), 0, true},
		{"ack untouched", tcpPacket(tcpSpec{flags: flagACK, opts: mssOpt(1460)}), 0, false},
		{"fin untouched", tcpPacket(tcpSpec{flags: flagFIN | flagACK, opts: mssOpt(1460)}), 0, false},
		{"rst untouched", tcpPacket(tcpSpec{flags: flagRST, opts: mssOpt(1460)}), 0, false},
		{"mss 0 disables", base, -1, false},
		{"clamp to 536", syn(linuxSYNOpts(1460)), 536, true},
		{"mss after two nops (even offset)", nopNop, 0, true},
		{"mss after one nop (odd offset)", syn([]byte{tcpOptNOP}, mssOpt(1460)), 0, true},
		{"mss after sack-perm and nop (odd offset)", syn([]byte{4, 2, tcpOptNOP}, mssOpt(0xfedc)), 0, true},
		{"mss after window scale (odd offset)", syn([]byte{3, 3, 7}, mssOpt(1460)), 0, true},
		{"mss behind eol", syn([]byte{tcpOptEOL, tcpOptNOP, tcpOptNOP, tcpOptNOP}, mssOpt(1460)), 0, false},
		{"eol then garbage after mss", syn(mssOpt(1460), []byte{tcpOptEOL, 0xff, 0, 9}), 0, true},
		{"option length 0", syn([]byte{8, 0, 0, 0}, mssOpt(1460)), 0, false},
		{"option length 1", syn([]byte{8, 1, 0, 0}, mssOpt(1460)), 0, false},
		{"option runs past data offset", syn(mssOpt(1460), []byte{8, 10, 0, 0}), 0, false},
		{"option kind without length", syn(mssOpt(1460), []byte{tcpOptNOP, tcpOptNOP, tcpOptNOP, 8}), 0, false},
		{"mss option length 3", syn([]byte{tcpOptMSS, 3, 0x05, tcpOptNOP}), 0, false},
		{"mss option length 6", syn([]byte{tcpOptMSS, 6, 0x05, 0xb4, 0, 0}), 0, false},
		{"mss cut by data offset", syn([]byte{tcpOptNOP, tcpOptNOP, tcpOptMSS, 4}, []byte{0x05, 0xb4, 0, 0}[:0]), 0, false},
		{"two mss options", syn(mssOpt(1460), mssOpt(1460)), 0, false},
		{"ip options (ihl 6)", tcpPacket(tcpSpec{flags: flagSYN, ipOpts: []byte{1, 1, 1, 0}, opts: mssOpt(1460)}), 0, true},
		{"ip options (ihl 15)", tcpPacket(tcpSpec{flags: flagSYN, ipOpts: bytes.Repeat([]byte{1}, 40), opts: linuxSYNOpts(1460)}), 0, true},
		{"df set", tcpPacket(tcpSpec{flags: flagSYN, frag: 0x4000, opts: mssOpt(1460)}), 0, true},
		{"first fragment (mf)", tcpPacket(tcpSpec{flags: flagSYN, frag: 0x2000, opts: mssOpt(1460)}), 0, false},
		{"later fragment", tcpPacket(tcpSpec{flags: flagSYN, frag: 0x0010, opts: mssOpt(1460)}), 0, false},
		{"trailing bytes after total length", append(bytes.Clone(base), 0xee, 0xee, 0xee), 0, true},
		{"udp", mutate(base, func(p []byte) []byte { p[9] = 17; return p }), 0, false},
		{"ipv6", mutate(base, func(p []byte) []byte { p[0] = 0x65; return p }), 0, false},
		{"ihl below 5", mutate(base, func(p []byte) []byte { p[0] = 0x44; return p }), 0, false},
		{"ihl past packet", mutate(base, func(p []byte) []byte { p[0] = 0x4f; return p }), 0, false},
		{"total length past packet", mutate(base, func(p []byte) []byte { p[3]++; return p }), 0, false},
		{"total length below headers", mutate(base, func(p []byte) []byte { p[2], p[3] = 0, 39; return p }), 0, false},
		{"data offset below 5", mutate(base, func(p []byte) []byte { p[32] = 0x40; return p }), 0, false},
		{"data offset past segment", mutate(base, func(p []byte) []byte { p[32] = 0xf0; return p }), 0, false},
		{"truncated in options", base[:42], 0, false},
		{"truncated in tcp header", base[:39], 0, false},
		{"truncated in ip header", base[:12], 0, false},
		{"empty", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mss := uint16(clamp)
			if tt.mss != 0 {
				mss = uint16(max(tt.mss, 0))
			}
			pkt := bytes.Clone(tt.pkt)
			if got := clampMSS(pkt, mss); got != tt.changed {
				t.Fatalf("clampMSS = %v, want %v", got, tt.changed)
			}
			if !tt.changed {
				if !bytes.Equal(pkt, tt.pkt) {
					t.Fatalf("packet changed although clampMSS returned false:\n got %x\nwant %x", pkt, tt.pkt)
				}
				return
			}
			checkClamped(t, tt.pkt, pkt, mss)
			if clampMSS(pkt, mss) {
				t.Fatal("second clampMSS changed the packet again")
			}
		})
	}
}

// mssAt returns the offset in p of the first MSS option's value, walking
// the options of a packet tcpParses accepts, or -1.
func mssAt(p []byte) int {
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:]))
	doff := int(p[ihl+12]>>4) * 4
	if doff < 20 || ihl+doff > total {
		return -1
	}
	for i := ihl + 20; i < ihl+doff; {
		switch {
		case p[i] == tcpOptEOL:
			return -1
		case p[i] == tcpOptNOP:
			i++
		case i+1 >= ihl+doff || p[i+1] < 2:
			return -1
		case p[i] == tcpOptMSS && p[i+1] == 4 && i+4 <= ihl+doff:
			return i + 2
		default:
			i += int(p[i+1])
		}
	}
	return -1
}

// checkClamped checks that after differs from before in the MSS value,
// lowered to mss, and the TCP checksum only, and that the checksum is valid.
func checkClamped(t testing.TB, before, after []byte, mss uint16) {
	t.Helper()
	if !tcpChecksumOK(after) {
		t.Fatalf("TCP checksum invalid after clamping: %x", after)
	}
	at := mssAt(before)
	if at < 0 {
		t.Fatalf("changed a packet without an MSS option: %x", before)
	}
	if old, got := binary.BigEndian.Uint16(before[at:]), binary.BigEndian.Uint16(after[at:]); old <= mss || got != mss {
		t.Fatalf("MSS %d became %d, clamp %d", old, got, mss)
	}
	csum := int(before[0]&0x0f)*4 + 16
	for i := range before {
		if before[i] != after[i] && i != at && i != at+1 && i != csum && i != csum+1 {
			t.Fatalf("byte %d changed: %x → %x", i, before, after)
		}
	}
}

// TestChecksumReplace checks RFC 1624 eqn. 3 against a full recomputation
// for every change of one word in a small buffer, including the words that
// make the sum 0 or 0xffff.
func TestChecksumReplace(t *testing.T) {
	buf := []byte{0x12, 0x34, 0, 0, 0xff, 0xff, 0xab, 0xcd}
	for _, old := range []uint16{0, 1, 0x5b41, 0xfffe, 0xffff} {
		for _, nw := range []uint16{0, 1, 0x0550, 0x05b4, 0xa4be, 0xfffe, 0xffff} {
			binary.BigEndian.PutUint16(buf[2:], old)
			hc := ^onesSum(0, buf)
			binary.BigEndian.PutUint16(buf[2:], nw)
			got := checksumReplace(hc, old, nw)
			if s := onesSum(uint32(got), buf); s != 0xffff {
				t.Errorf("old %#04x new %#04x: checksum %#04x does not verify (sum %#04x)", old, nw, got, s)
			}
		}
	}
}

// TestMaxInner checks the largest inner packet per suite and encapsulation
// against the arithmetic, and against Seal itself: n bytes fit, n+1 do not.
//
// Budget: 1500 − 20 (outer IPv4) [− 8 (UDP 4500)] = 1480 raw, 1472 UDP.
// ESP packet = 8 (SPI, seq) + IV + ciphertext + ICV, and the ciphertext,
// n + padding + 2 (pad length, next header), is a multiple of 4 (GCM) or
// 16 (CBC). So n = floor((budget − 8 − IV − ICV) / block) × block − 2:
//
//	aes128-gcm-16  raw: 1480 − 8 − 8 − 16 = 1448 → 1448 − 2 = 1446, MSS 1406
//	aes128-gcm-16  UDP: 1472 − 32 = 1440          → 1438, MSS 1398
//	aes128-sha1    raw: 1480 − 8 − 16 − 12 = 1444 → 1440 → 1438, MSS 1398
//	aes128-sha1    UDP: 1472 − 36 = 1436          → 1424 → 1422, MSS 1382
//	aes256-sha2-256 UDP: 1472 − 40 = 1432         → 1424 → 1422, MSS 1382
//	aes128-sha2-384 UDP: 1472 − 48 = 1424         → 1424 → 1422, MSS 1382
//	aes256-sha2-512 raw: 1480 − 56 = 1424         → 1424 → 1422, MSS 1382
//	aes256-sha2-512 UDP: 1472 − 8 − 16 − 32 = 1416 → 1408 → 1406, MSS 1366
//
// (AWS documents 1446 / 1406 for the best case, GCM on raw ESP.)
func TestMaxInner(t *testing.T) {
	tests := []struct {
		s        suite.ESP
		udp      bool
		inner    int
		ipv4MSS  int
		describe string
	}{
		{allSuites[0], false, 1446, 1406, "aes128-gcm-16 raw"},
		{allSuites[0], true, 1438, 1398, "aes128-gcm-16 UDP"},
		{allSuites[1], true, 1438, 1398, "aes256-gcm-16 UDP"},
		{allSuites[2], false, 1438, 1398, "aes128-sha1 raw"},
		{allSuites[2], true, 1422, 1382, "aes128-sha1 UDP"},
		{allSuites[3], true, 1422, 1382, "aes256-sha2-256 UDP"},
		{allSuites[4], true, 1422, 1382, "aes128-sha2-384 UDP"},
		{allSuites[5], false, 1422, 1382, "aes256-sha2-512 raw"},
		{allSuites[5], true, 1406, 1366, "aes256-sha2-512 UDP"},
	}
	for _, tt := range tests {
		t.Run(tt.describe, func(t *testing.T) {
			sa, _ := pair(t, tt.s, 0)
			n := innerMTU(sa, tt.udp)
			if n != tt.inner || n-ipv4TCPHeaders != tt.ipv4MSS {
				t.Fatalf("inner MTU %d (MSS %d), want %d (MSS %d)", n, n-ipv4TCPHeaders, tt.inner, tt.ipv4MSS)
			}
			outer := outerIPv4Len
			if tt.udp {
				outer += udpHeaderLen
			}
			if got := outer + n + sa.Overhead(n); got > OutsideMTU {
				t.Fatalf("%d-byte inner packet makes a %d-byte datagram", n, got)
			}
			if got := outer + n + 1 + sa.Overhead(n+1); got <= OutsideMTU {
				t.Fatalf("%d-byte inner packet still fits (%d bytes)", n+1, got)
			}
			for _, size := range []int{n, n + 1} {
				pkt := sealPacket(t, sa, esptest.Ping(srcA, dstA, 1, 1, make([]byte, size-28)))
				if fits := outer+len(pkt) <= OutsideMTU; fits != (size == n) {
					t.Fatalf("sealed %d-byte inner packet: %d-byte datagram", size, outer+len(pkt))
				}
			}
		})
	}
	sa, _ := pair(t, allSuites[0], 0)
	if got := sa.MaxInner(8 + 8 + 16 + 3); got != 0 {
		t.Fatalf("MaxInner of a room too small = %d", got)
	}
}

// lockedBuffer is a log sink safe for the tunnel's goroutines.
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

// TestTunnelMSS checks Tunnel.MSS per suite and encapsulation, capped by
// the TUN's MTU, its log line, and 0 without an outbound SA.
func TestTunnelMSS(t *testing.T) {
	checkGoroutines(t)
	tests := []struct {
		s       suite.ESP
		udp     bool
		mtu     int
		mss     int
		logLine string
	}{
		{allSuites[0], false, 1500, 1406, "TCP MSS clamped to 1406 (aes128-gcm-16, raw ESP)"},
		{allSuites[0], true, 1500, 1398, "TCP MSS clamped to 1398 (aes128-gcm-16, UDP-encapsulated)"},
		{allSuites[2], false, 1500, 1398, "TCP MSS clamped to 1398 (aes128-sha1, raw ESP)"},
		{allSuites[2], true, 1500, 1382, "TCP MSS clamped to 1382 (aes128-sha1, UDP-encapsulated)"},
		{allSuites[5], true, 1500, 1366, "TCP MSS clamped to 1366 (aes256-sha2-512, UDP-encapsulated)"},
		// The gateway's TUN MTU (1400) is below every suite's inner MTU:
		// segments must also pass the TUN without fragmentation.
		{allSuites[0], false, 0, 1360, "TCP MSS clamped to 1360 (aes128-gcm-16, raw ESP)"},
		{allSuites[5], true, 1400, 1360, "TCP MSS clamped to 1360 (aes256-sha2-512, UDP-encapsulated)"},
		{allSuites[5], true, 1404, 1364, "TCP MSS clamped to 1364 (aes256-sha2-512, UDP-encapsulated)"},
		{allSuites[5], true, 1440, 1366, "TCP MSS clamped to 1366 (aes256-sha2-512, UDP-encapsulated)"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%s/mtu%d", tt.s, encapNames[tt.udp], tt.mtu), func(t *testing.T) {
			n := esptest.NewNet()
			ike, natt, raw := n.Conns(gwOutside)
			ep := NewEndpoint(gwOutside, Conns{IKE: ike, NATT: natt, ESP: raw}, nil, testLogger(t))
			defer ep.Close()
			var logs lockedBuffer
			tn, err := ep.NewTunnel(TunnelConfig{Name: "t", MTU: tt.mtu, AllowedDst: gwAllowed, Device: esptest.NewTUN("t", 1)},
				slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if got := tn.MSS(); got != 0 {
				t.Fatalf("MSS %d before Install", got)
			}
			port := uint16(0)
			if tt.udp {
				port = PortNATT
			}
			if err := tn.Install(randomConfig(t, 0xc0000001, tt.s, 0), randomConfig(t, 0xd0000001, tt.s, 0),
				netip.AddrPortFrom(cgwOutside, port), tt.udp); err != nil {
				t.Fatal(err)
			}
			if got := tn.MSS(); got != tt.mss {
				t.Fatalf("MSS %d, want %d", got, tt.mss)
			}
			if !strings.Contains(logs.String(), fmt.Sprintf("msg=%q", tt.logLine)) {
				t.Fatalf("log lacks %q:\n%s", tt.logLine, logs.String())
			}
			tn.Remove(0, 0xd0000001)
			if got := tn.MSS(); got != 0 {
				t.Fatalf("MSS %d without an outbound SA", got)
			}
		})
	}
}

// mssOf returns the MSS option of an IPv4 TCP packet (0: none).
func mssOf(p []byte) uint16 {
	if at := mssAt(p); at >= 0 {
		return binary.BigEndian.Uint16(p[at:])
	}
	return 0
}

// expectClamped waits for a packet on ch and checks it is want with its
// MSS option clamped to mss and a valid checksum.
func expectClamped(t *testing.T, ch <-chan []byte, want []byte, mss uint16) {
	t.Helper()
	select {
	case got := <-ch:
		if len(got) != len(want) {
			t.Fatalf("packet of %d bytes, want %d", len(got), len(want))
		}
		if m := mssOf(got); m != mss {
			t.Fatalf("MSS %d arrived, want %d", m, mss)
		}
		checkClamped(t, want, got, mss)
	case <-time.After(5 * time.Second):
		t.Fatal("packet did not arrive")
	}
}

// TestClampMSSDatapath sends SYNs announcing 1460 (a 1500-byte VPC or
// on-premises network) through the fakes and checks the clamped MSS in each
// direction alone (the other end a bare socket and SA) and end to end.
func TestClampMSSDatapath(t *testing.T) {
	checkGoroutines(t)
	s := allSuites[2] // aes128-sha1, UDP-encapsulated: MSS 1382 (TUN MTU 1500)
	const mss = 1382
	synFromVPC := tcpPacket(tcpSpec{src: vpcHost, dst: onPremHost, flags: flagSYN, opts: linuxSYNOpts(1460)})
	synAckFromVPC := tcpPacket(tcpSpec{src: vpcHost, dst: onPremHost, flags: flagSYN | flagACK, opts: linuxSYNOpts(1460)})
	synFromCGW := tcpPacket(tcpSpec{flags: flagSYN, opts: cat([]byte{tcpOptNOP}, mssOpt(1460))})
	data := tcpPacket(tcpSpec{flags: flagACK, payload: bytes.Repeat([]byte{0x5a}, mss), opts: mssOpt(1460)})

	// gw is the tunnel under test; peer is a bare socket at the customer
	// gateway's address with the matching SAs.
	setup := func(t *testing.T) (n *esptest.Net, gw *side, peer *esptest.Conn, peerOut, peerIn *SA) {
		n = esptest.NewNet()
		ike, natt, raw := n.Conns(gwOutside)
		gw = &side{tun: esptest.NewTUN("gw", 8)}
		gw.ep = NewEndpoint(gwOutside, Conns{IKE: ike, NATT: natt, ESP: raw}, nil, testLogger(t))
		t.Cleanup(func() { gw.ep.Close() })
		var err error
		if gw.t, err = gw.ep.NewTunnel(TunnelConfig{Name: "gw", MTU: 1500, AllowedDst: gwAllowed, Device: gw.tun}, testLogger(t)); err != nil {
			t.Fatal(err)
		}
		in, out := randomConfig(t, 0xc0000001, s, 0), randomConfig(t, 0xd0000001, s, 0)
		if err := gw.t.Install(in, out, netip.AddrPortFrom(cgwOutside, PortNATT), true); err != nil {
			t.Fatal(err)
		}
		if gw.t.MSS() != mss {
			t.Fatalf("MSS %d, want %d", gw.t.MSS(), mss)
		}
		peer = n.Listen(netip.AddrPortFrom(cgwOutside, PortNATT))
		t.Cleanup(func() { peer.Close() })
		if peerOut, err = NewSA(in); err != nil {
			t.Fatal(err)
		}
		if peerIn, err = NewSA(out); err != nil {
			t.Fatal(err)
		}
		return n, gw, peer, peerOut, peerIn
	}

	t.Run("outbound", func(t *testing.T) {
		_, gw, peer, _, peerIn := setup(t)
		got := make(chan []byte, 4)
		go func() {
			ms := []mmsg.Message{{Buf: make([]byte, 2048)}}
			for {
				if _, err := peer.ReadBatch(ms, nil); err != nil {
					return
				}
				inner, err := peerIn.Open(ms[0].Buf[:ms[0].N])
				if err != nil {
					t.Errorf("peer cannot open: %v", err)
					return
				}
				got <- bytes.Clone(inner)
			}
		}()
		gw.tun.Inbound <- synFromVPC
		expectClamped(t, got, synFromVPC, mss)
		gw.tun.Inbound <- synAckFromVPC
		expectClamped(t, got, synAckFromVPC, mss)
		gw.tun.Inbound <- data
		expectPacket(t, got, data)
	})

	t.Run("inbound", func(t *testing.T) {
		_, gw, peer, peerOut, _ := setup(t)
		send := func(inner []byte) {
			pkt := sealPacket(t, peerOut, inner)
			peer.WriteBatch([]mmsg.Message{{Buf: pkt, Addr: netip.AddrPortFrom(gwOutside, PortNATT)}}, nil)
		}
		send(synFromCGW)
		expectClamped(t, gw.tun.Outbound, synFromCGW, mss)
		send(data)
		expectPacket(t, gw.tun.Outbound, data)
		small := tcpPacket(tcpSpec{flags: flagSYN, opts: mssOpt(1200)})
		send(small)
		expectPacket(t, gw.tun.Outbound, small)
	})

	t.Run("end to end", func(t *testing.T) {
		// Both ends clamp: the customer's SYN is already clamped when it
		// leaves its tunnel, the gateway's inbound clamp leaves it be.
		n := esptest.NewNet()
		gw := fakeSide(t, n, gwOutside, "vpn-1-t1", gwAllowed)
		cgw := fakeSide(t, n, cgwOutside, "cgw", cgwAllowed)
		defer gw.ep.Close()
		defer cgw.ep.Close()
		installPair(t, gw, cgw, s, 0xc0000001, 0xd0000001, true)
		const tunMSS = 1360 // TUN MTU 1400 caps the 1382 of the suite
		if gw.t.MSS() != tunMSS || cgw.t.MSS() != tunMSS {
			t.Fatalf("MSS %d and %d, want %d", gw.t.MSS(), cgw.t.MSS(), tunMSS)
		}
		cgw.tun.Inbound <- synFromCGW
		expectClamped(t, gw.tun.Outbound, synFromCGW, tunMSS)
		gw.tun.Inbound <- synAckFromVPC
		expectClamped(t, cgw.tun.Outbound, synAckFromVPC, tunMSS)
		if s := gw.t.Stats(); s.PacketsIn != 1 || s.PacketsOut != 1 || s.Drop(DropMalformed) != 0 {
			t.Fatalf("gateway stats %+v", s)
		}
	})
}

// FuzzClampMSS feeds arbitrary packets and MSS values to clampMSS. It must
// not panic; when it reports no change the packet is unchanged; when it
// changes a packet only the MSS value (lowered to mss) and the checksum
// differ, and the TCP checksum, recomputed in full, is as valid as before.
// Each input also runs with its TCP checksum made valid first, so every
// rewrite is checked against a valid starting checksum.
func FuzzClampMSS(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, mss uint16) {
		variants := [][]byte{bytes.Clone(data)}
		if tcpParses(data) {
			p := bytes.Clone(data)
			ihl := int(p[0]&0x0f) * 4
			p[ihl+16], p[ihl+17] = 0, 0
			binary.BigEndian.PutUint16(p[ihl+16:], ^tcpSum(p))
			variants = append(variants, p)
		}
		for _, before := range variants {
			pkt := bytes.Clone(before)
			changed := clampMSS(pkt, mss)
			if !changed {
				if !bytes.Equal(pkt, before) {
					t.Fatalf("packet changed although clampMSS returned false")
				}
				continue
			}
			if !tcpParses(pkt) {
				t.Fatalf("changed a packet that is not IPv4 TCP")
			}
			if tcpChecksumOK(before) {
				checkClamped(t, before, pkt, mss)
			} else if tcpChecksumOK(pkt) {
				t.Fatalf("an invalid checksum became valid")
			}
			if clampMSS(pkt, mss) {
				t.Fatal("second clampMSS changed the packet again")
			}
		}
	})
}

// fuzzClampSeeds are the committed seeds of FuzzClampMSS, one per shape
// the table test covers.
func fuzzClampSeeds() map[string][]byte {
	syn := func(opts ...[]byte) []byte { return tcpPacket(tcpSpec{flags: flagSYN, opts: cat(opts...)}) }
	return map[string][]byte{
		"syn-mss1460":      syn(mssOpt(1460)),
		"syn-linux":        syn(linuxSYNOpts(1460)),
		"synack-linux":     tcpPacket(tcpSpec{flags: flagSYN | flagACK, opts: linuxSYNOpts(1460)}),
		"syn-odd-offset":   syn([]byte{tcpOptNOP}, mssOpt(0xffff)),
		"syn-ip-options":   tcpPacket(tcpSpec{flags: flagSYN, ipOpts: []byte{1, 1, 1, 0}, opts: mssOpt(1460)}),
		"syn-fragment":     tcpPacket(tcpSpec{flags: flagSYN, frag: 0x2000, opts: mssOpt(1460)}),
		"syn-bad-opt-len":  syn([]byte{8, 0, 0, 0}, mssOpt(1460)),
		"syn-eol-first":    syn([]byte{tcpOptEOL, 1, 1, 1}, mssOpt(1460)),
		"syn-two-mss":      syn(mssOpt(1460), mssOpt(1460)),
		"syn-no-options":   syn(),
		"ack-data":         tcpPacket(tcpSpec{flags: flagACK, payload: []byte("data")}),
		"truncated-header": syn(mssOpt(1460))[:30],
	}
}

// TestFuzzClampMSSCorpus checks that the committed seeds are the ones
// fuzzClampSeeds describes; -update-corpus rewrites them.
func TestFuzzClampMSSCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzClampMSS")
	seeds := fuzzClampSeeds()
	if *updateCorpus {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint16(1360)\n", b)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, want := range seeds {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(b), "\n", 3)
		if len(lines) < 3 || lines[2] != "uint16(1360)\n" {
			t.Fatalf("seed %s: unexpected format", name)
		}
		if got := parseCorpusFile(t, []byte(lines[0]+"\n"+lines[1])); !bytes.Equal(got, want) {
			t.Fatalf("seed %s is stale; run go test -run TestFuzzClampMSSCorpus -update-corpus", name)
		}
	}
}

var benchClampSink bool

// BenchmarkClampMSS measures the per-packet cost of clamping: a data
// segment (the common case: a length, protocol, version, IHL and flags
// check), a SYN whose MSS is already small enough (full option walk), and a
// SYN that is rewritten (the value is restored after each op).
func BenchmarkClampMSS(b *testing.B) {
	ack := tcpPacket(tcpSpec{flags: flagACK, payload: make([]byte, 1300)})
	small := tcpPacket(tcpSpec{flags: flagSYN, opts: linuxSYNOpts(1300)})
	big := tcpPacket(tcpSpec{flags: flagSYN, opts: linuxSYNOpts(1460)})
	ping := esptest.Ping(srcA, dstA, 1, 1, make([]byte, 56))
	for _, bc := range []struct {
		name    string
		pkt     []byte
		restore bool
	}{{"icmp", ping, false}, {"non-SYN", ack, false}, {"SYN-small", small, false}, {"SYN-rewrite", big, true}} {
		b.Run(bc.name, func(b *testing.B) {
			pkt := bytes.Clone(bc.pkt)
			var save [4]byte
			copy(save[:2], pkt[36:38]) // TCP checksum
			copy(save[2:], pkt[42:44]) // MSS value
			b.ReportAllocs()
			for b.Loop() {
				benchClampSink = clampMSS(pkt, 1360)
				if bc.restore {
					copy(pkt[36:38], save[:2])
					copy(pkt[42:44], save[2:])
				}
			}
			if bc.restore != benchClampSink {
				b.Fatalf("clampMSS = %v", benchClampSink)
			}
			if n := testing.AllocsPerRun(100, func() { clampMSS(pkt, 1360) }); n != 0 {
				b.Fatalf("%v allocations per call", n)
			}
		})
	}
}
