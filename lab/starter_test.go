package lab

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// starterTestConf is a hand-written ipsec.conf for the CGW's side of tunnel 1.
const starterTestConf = `config setup
	uniqueids=no

conn %default
	keyexchange=ikev2
	ike=aes128-sha256-modp2048!
	esp=aes128gcm16!

# The one tunnel.
conn t1
	auto=start
	type=tunnel
	left=%defaultroute
	leftid=198.51.100.2
	leftauth=psk
	leftsubnet=172.16.0.0/24
	right=203.0.113.2
	rightid=203.0.113.2
	rightauth=psk
	rightsubnet=10.0.0.0/16
	keyingtries=%forever
`

// TestStarterIPsecConf proves StartStarter: starter reads an ipsec.conf and
// ipsec.secrets, its charon brings the tunnel up against a strongSwan
// responder in vgw, traffic flows both ways, and Stop ends starter and charon.
func TestStarterIPsecConf(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/usr/lib/ipsec/starter"); err != nil {
		t.Fatalf("lab tests need /usr/lib/ipsec/starter (strongswan-starter): run lab/install-deps.sh (%v)", err)
	}
	start := time.Now()
	l := upLab(t, "vlt8", false)

	resp, err := l.StartCharon(CharonConfig{NS: RoleVGW, Connections: []CharonConn{
		{Name: "t1", LocalAddr: VGWOutside1, RemoteAddr: CGWWANIP, PSK: testPSK},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cgw, err := l.StartStarter(StarterConfig{
		IPsecConf:    starterTestConf,
		IPsecSecrets: CGWWANIP + " " + VGWOutside1 + ` : PSK "` + testPSK + `"` + "\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, cgw, resp)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("starter output:\n%s", cgw.Proc.Tail(4000))
		}
	})
	if len(cgw.Conns) != 1 || cgw.Conns[0] != "t1" {
		t.Fatalf("connections read from ipsec.conf: %v, want [t1]", cgw.Conns)
	}
	if st, err := os.Stat(filepath.Join(cgw.Dir(), "ipsec.secrets")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("ipsec.secrets: %v, %v; want mode 0600", st, err)
	}
	if err := cgw.WaitChild("t1", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := resp.WaitChild("t1", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitPing(RoleOnprem, VPCIP, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(RoleVPC, OnpremIP, 2); err != nil {
		t.Fatal(err)
	}
	if fileContains(cgw.LogPath(), testPSK) || strings.Contains(cgw.Proc.Tail(1<<20), testPSK) {
		t.Error("PSK leaked into the charon log or starter's output")
	}

	// Stop (SIGTERM to starter) must end starter and the charon it started,
	// within the grace period, i.e. without SIGKILL leaving charon orphaned.
	b, err := os.ReadFile(filepath.Join(cgw.Dir(), "run", "charon.pid"))
	if err != nil {
		t.Fatal(err)
	}
	charonPID, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !Alive(charonPID) {
		t.Fatalf("charon pid %q: %v (alive %v)", b, err, err == nil && Alive(charonPID))
	}
	stopStart := time.Now()
	if err := cgw.Stop(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(stopStart)
	if took >= stopGrace {
		t.Errorf("starter took %v to stop: it needed SIGKILL", took.Round(time.Millisecond))
	}
	if Alive(charonPID) {
		t.Fatalf("charon (pid %d) survived starter's Stop", charonPID)
	}
	if out, _ := exec.Command("ip", "netns", "pids", l.NS(RoleCGW)).Output(); strings.TrimSpace(string(out)) != "" {
		t.Errorf("processes left in %s after Stop: %s", l.NS(RoleCGW), out)
	}
	t.Logf("starter self-test took %v (Stop %v)", time.Since(start).Round(time.Millisecond), took.Round(time.Millisecond))
}

func TestIPsecConfConns(t *testing.T) {
	got := ipsecConfConns(starterTestConf + "\nconn vpn-1-t2 # second\n\tauto=start\nca x\n\tcacert=y\n")
	if strings.Join(got, ",") != "t1,vpn-1-t2" {
		t.Errorf("ipsecConfConns = %v, want [t1 vpn-1-t2]", got)
	}
}
