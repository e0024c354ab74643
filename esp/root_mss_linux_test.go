package esp

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mssServer runs in the VPC namespace: it reads until EOF, then sends as
// many bytes back and prints the count.
const mssServer = `
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.98.1.2", 5001))
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
c.settimeout(20)
n = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    n += len(b)
c.sendall(b"v" * n)
c.close()
print(n, flush=True)
`

// mssClient runs on the customer's LAN: it sends 2 MiB, reads the echo and
// prints the count and the MSS its kernel settled on.
const mssClient = `
import socket
c = socket.create_connection(("10.98.1.2", 5001), timeout=20)
c.sendall(b"c" * (2 << 20))
c.shutdown(socket.SHUT_WR)
n = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    n += len(b)
print(n, c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG))
`

// TestRootTCPClampedMSS moves a TCP transfer between two 1500-byte LANs
// across the tunnel, with the routers' ICMP "fragmentation needed" dropped
// so that path MTU discovery cannot rescue oversized segments: only the
// clamped MSS makes it work.
//
//	vpc ns (10.98.1.2, MTU 1500) ─ gw ns (vpgwmss0, TUN MTU 1400)
//	  ═ ESP over loopback (127.0.0.1 ↔ 127.0.0.2) ═
//	cgw ns (vpgwmss1) ─ cust ns (10.97.1.2, MTU 1500)
func TestRootTCPClampedMSS(t *testing.T) {
	requireRoot(t)
	checkGoroutines(t)
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("python3 is needed for the TCP ends: %v", err)
	}
	for _, udp := range []bool{false, true} {
		t.Run(encapNames[udp], func(t *testing.T) {
			ns := func(name string) string { return fmt.Sprintf("vpgw-mss-%s-%d", name, os.Getpid()) }
			vpc, gw, cgw, cust := ns("vpc"), ns("gw"), ns("cgw"), ns("cust")
			for _, n := range []string{vpc, gw, cgw, cust} {
				run(t, "ip", "netns", "add", n)
				t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
			}
			a, b := realSide(t, loA), realSide(t, loB)
			var err error
			vpcNet, custNet := netip.MustParsePrefix("10.98.1.0/24"), netip.MustParsePrefix("10.97.1.0/24")
			inside := netip.MustParsePrefix("10.99.0.0/30")
			if a.t, err = a.ep.NewTunnel(TunnelConfig{Name: "vpgwmss0", AllowedDst: []netip.Prefix{vpcNet, inside}}, testLogger(t)); err != nil {
				t.Fatal(err)
			}
			if b.t, err = b.ep.NewTunnel(TunnelConfig{Name: "vpgwmss1", AllowedDst: []netip.Prefix{custNet, inside}}, testLogger(t)); err != nil {
				t.Fatal(err)
			}
			// router sets up one side: its TUN, a 1500-byte LAN to host,
			// forwarding, and no ICMP errors (a PMTUD black hole).
			router := func(rns, tunDev, tunAddr, lanDev, hostNS, hostDev, lanPfx, remote string) {
				run(t, "ip", "link", "set", tunDev, "netns", rns)
				run(t, "ip", "-n", rns, "addr", "add", tunAddr, "dev", tunDev)
				run(t, "ip", "-n", rns, "link", "set", tunDev, "up")
				run(t, "ip", "-n", rns, "link", "add", lanDev, "mtu", "1500", "type", "veth", "peer", "name", hostDev, "netns", hostNS)
				run(t, "ip", "-n", rns, "addr", "add", lanPfx+".1/24", "dev", lanDev)
				run(t, "ip", "-n", rns, "link", "set", lanDev, "up")
				run(t, "ip", "-n", hostNS, "addr", "add", lanPfx+".2/24", "dev", hostDev)
				run(t, "ip", "-n", hostNS, "link", "set", hostDev, "up")
				run(t, "ip", "-n", hostNS, "link", "set", "lo", "up")
				run(t, "ip", "-n", hostNS, "route", "add", "default", "via", lanPfx+".1")
				run(t, "ip", "-n", rns, "route", "add", remote, "dev", tunDev)
				run(t, "ip", "netns", "exec", rns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
				run(t, "ip", "netns", "exec", rns, "nft", "add table inet pmtud; "+
					"add chain inet pmtud out { type filter hook output priority 0; }; "+
					"add rule inet pmtud out icmp type destination-unreachable drop")
			}
			router(gw, "vpgwmss0", "10.99.0.1/30", "gw-lan", vpc, "vpc-lan", "10.98.1", custNet.String())
			router(cgw, "vpgwmss1", "10.99.0.2/30", "cgw-lan", cust, "cust-lan", "10.97.1", vpcNet.String())
			installPair(t, a, b, allSuites[2], 0xa0000001, 0xb0000001, udp)
			if a.t.MSS() != 1360 {
				t.Fatalf("MSS %d, want 1360 (TUN MTU 1400)", a.t.MSS())
			}

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			srv := exec.CommandContext(ctx, "ip", "netns", "exec", vpc, "python3", "-c", mssServer)
			srv.Stderr = os.Stderr
			out, err := srv.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			defer srv.Wait()
			defer cancel()
			lines := bufio.NewScanner(out)
			if !lines.Scan() || lines.Text() != "ready" {
				t.Fatalf("server did not start: %q", lines.Text())
			}
			got, err := exec.CommandContext(ctx, "ip", "netns", "exec", cust, "python3", "-c", mssClient).CombinedOutput()
			if err != nil {
				t.Fatalf("TCP transfer failed: %v\n%s\ngw %+v\ncgw %+v", err, got, a.t.Stats(), b.t.Stats())
			}
			f := strings.Fields(string(got))
			if len(f) != 2 || f[0] != strconv.Itoa(2<<20) {
				t.Fatalf("client: %q", got)
			}
			if mss, _ := strconv.Atoi(f[1]); mss <= 0 || mss > 1360 {
				t.Fatalf("client's MSS %s, want at most 1360", f[1])
			}
			if !lines.Scan() || lines.Text() != strconv.Itoa(2<<20) {
				t.Fatalf("server received %q", lines.Text())
			}
			t.Logf("2 MiB each way; client MSS %s; gw %+v", f[1], a.t.Stats().Stats)
		})
	}
}
