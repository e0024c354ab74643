package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const testPSK = "lab.test_psk_0123456789"

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("lab tests need root: they create network namespaces and run charon (run `sudo go test ./lab`)")
	}
	for _, bin := range []string{"ip", "unshare", "ping", "swanctl", "/usr/lib/ipsec/charon", "nft"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("lab tests need %s: run lab/install-deps.sh (%v)", bin, err)
		}
	}
}

// testLog sends the lab's command trace to t.Log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func upLab(t *testing.T, prefix string, nat bool) *Lab {
	t.Helper()
	if err := CleanupStale(prefix, testLog{t}); err != nil {
		t.Fatal(err)
	}
	l, err := Up(Options{Prefix: prefix, NAT: nat, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Down() })
	return l
}

func netnsWithPrefix(t *testing.T, prefix string) []string {
	t.Helper()
	m, err := listNetns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for n := range m {
		if strings.HasPrefix(n, prefix+"-") {
			out = append(out, n)
		}
	}
	return out
}

// TestStrongSwanToStrongSwan proves the harness: WAN reachability, two charons
// (mount trick), kernel-libipsec routing, and onprem↔vpc through the tunnel.
func TestStrongSwanToStrongSwan(t *testing.T) {
	needRoot(t)
	start := time.Now()
	const prefix = "vlt1"
	l := upLab(t, prefix, false)

	// (a) the WAN path works, in both directions through the router.
	if err := l.Ping(RoleCGW, VGWOutside1, 2); err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(RoleVGW, CGWWANIP, 1); err != nil {
		t.Fatal(err)
	}
	// Without a tunnel there is no path between the private networks.
	if err := l.Ping(RoleOnprem, VPCIP, 1); err == nil {
		t.Fatal("onprem reaches vpc without a tunnel")
	}

	// (b) a strongSwan responder in vgw plays vpgw, with both outside
	// addresses (tunnel 1 and 2) and a different PSK per tunnel, as AWS does.
	resp, err := l.StartCharon(CharonConfig{NS: RoleVGW, Connections: []CharonConn{
		{Name: "t1", LocalAddr: VGWOutside1, RemoteAddr: CGWWANIP, PSK: testPSK},
		{Name: "t2", LocalAddr: VGWOutside2, RemoteAddr: CGWWANIP, PSK: testPSK + "2"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cgw, err := l.StartCharon(CharonConfig{DPDDelay: 10 * time.Second, Connections: []CharonConn{
		{Name: "t1", RemoteAddr: VGWOutside1, PSK: testPSK},
		{Name: "t2", RemoteAddr: VGWOutside2, PSK: testPSK + "2"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, cgw, resp)
	for _, tun := range []string{"t1", "t2"} {
		if err := cgw.WaitChild(tun, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := resp.WaitChild(tun, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.WaitPing(RoleOnprem, VPCIP, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(RoleOnprem, VPCIP, 3); err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(RoleVPC, OnpremIP, 3); err != nil {
		t.Fatal(err)
	}
	// The gateways' own inside addresses go through the tunnel too (route src).
	if err := l.Ping(RoleCGW, VPCIP, 1); err != nil {
		t.Fatal(err)
	}
	out, err := cgw.Swanctl("--list-sas")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cgw SAs:\n%s", out)
	// kernel-libipsec always encapsulates in UDP 4500.
	if !bytes.Contains(out, []byte("TUNNEL-in-UDP")) {
		t.Errorf("expected ESP in UDP, got:\n%s", out)
	}
	if bytes.Contains(out, []byte(testPSK)) || fileContains(cgw.LogPath(), testPSK) {
		t.Error("PSK leaked into swanctl output or the charon log")
	}

	// One tunnel going away leaves the other carrying traffic: the harness's
	// main-table route into ipsec0 does not depend on a particular CHILD_SA.
	if err := cgw.Terminate("t2"); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitPing(RoleOnprem, VPCIP, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if ok, _ := cgw.ChildInstalled("t2"); ok {
		t.Error("t2 still installed after terminate")
	}

	pids := []int{cgw.Proc.PID, resp.Proc.PID}
	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	if err := l.Down(); err != nil {
		t.Fatalf("second Down: %v", err)
	}
	if left := netnsWithPrefix(t, prefix); len(left) > 0 {
		t.Fatalf("namespaces left after Down: %v", left)
	}
	for _, pid := range pids {
		if Alive(pid) {
			t.Fatalf("pid %d still alive after Down", pid)
		}
	}
	if _, err := os.Stat(l.Dir()); !os.IsNotExist(err) {
		t.Errorf("lab dir %s left behind", l.Dir())
	}
	t.Logf("strongSwan↔strongSwan self-test took %v", time.Since(start).Round(time.Millisecond))
}

func fileContains(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Contains(b, []byte(s))
}

// TestNATHidesCGW checks the NAT option: vgw sees the CGW as 203.0.113.1, and
// IKE plus ESP-in-UDP still pass through the masquerade.
func TestNATHidesCGW(t *testing.T) {
	needRoot(t)
	l := upLab(t, "vlt2", true)
	if got := l.CGWPublicIP(); got != WANVGWSideIP {
		t.Fatalf("CGWPublicIP = %s", got)
	}
	// An nft counter in vgw sees the echo requests with the router's source.
	rules := "table ip labtest { chain in { type filter hook input priority 0; policy accept;\n" +
		" ip saddr " + WANVGWSideIP + " icmp type echo-request counter\n }\n}\n"
	if err := l.execStdin(RoleVGW, rules, "nft", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(RoleCGW, VGWOutside1, 2); err != nil {
		t.Fatal(err)
	}
	out, err := l.Exec(RoleVGW, "nft", "list", "table", "ip", "labtest")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("counter packets 2 ")) {
		t.Fatalf("vgw did not see the pings from %s:\n%s", WANVGWSideIP, out)
	}

	resp, err := l.StartCharon(CharonConfig{NS: RoleVGW, PSK: testPSK})
	if err != nil {
		t.Fatal(err)
	}
	cgw, err := l.StartCharon(CharonConfig{PSK: testPSK})
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, cgw, resp)
	if err := cgw.WaitChild("t1", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitPing(RoleOnprem, VPCIP, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	sas, err := resp.Swanctl("--list-sas")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(sas, []byte("remote '"+WANVGWSideIP+"' @ "+WANVGWSideIP+"[4500]")) {
		t.Errorf("responder does not see the CGW at %s:4500:\n%s", WANVGWSideIP, sas)
	}
}

func dumpOnFailure(t *testing.T, chs ...*Charon) {
	t.Cleanup(func() {
		if t.Failed() {
			for _, c := range chs {
				t.Logf("charon %s log:\n%s", c.Name, tailFile(c.LogPath(), 6000))
			}
		}
	})
}

// TestCleanupStale removes a leftover namespace and kills what runs inside it.
func TestCleanupStale(t *testing.T) {
	needRoot(t)
	const prefix = "vlt3"
	ns := prefix + "-" + RoleWAN
	_ = CleanupStale(prefix, testLog{t})
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	other := "vlt3x-" + RoleWAN // a similar name that must survive
	if out, err := exec.Command("ip", "netns", "add", other).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", other).Run()
	sleeper := exec.Command("ip", "netns", "exec", ns, "sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	pid := sleeper.Process.Pid
	exited := make(chan struct{})
	go func() { _ = sleeper.Wait(); close(exited) }()
	defer func() { _ = sleeper.Process.Kill() }()

	// Up refuses to build over a leftover.
	if _, err := Up(Options{Prefix: prefix}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Up over a leftover: err = %v", err)
	}
	var nilLab *Lab
	nilLab.CleanupStale(prefix)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("pid %d not killed", pid)
	}
	m, err := listNetns()
	if err != nil {
		t.Fatal(err)
	}
	if m[ns] {
		t.Fatalf("%s still exists", ns)
	}
	if !m[other] {
		t.Fatalf("%s was removed too", other)
	}
}

func TestCharonConfigRendering(t *testing.T) {
	// No root needed: only template rendering and defaults.
	l := &Lab{opts: Options{Prefix: "vlt4"}, dir: t.TempDir()}
	c := CharonConfig{PSK: "secret.one", RemoteAddrs: []string{VGWOutside1, VGWOutside2}, DPDDelay: 10 * time.Second,
		ChildRekeyTime: 90 * time.Second}
	if err := l.charonDefaults(&c); err != nil {
		t.Fatal(err)
	}
	c.Connections[1].PSK = "secret.two"
	ch := &Charon{Name: c.Name, dir: l.dir, conf: l.dir + "/strongswan.conf", swanDir: l.dir, logPath: l.dir + "/charon.log"}
	if err := l.writeCharonFiles(c, ch, l.dir+"/run"); err != nil {
		t.Fatal(err)
	}
	swan, err := os.ReadFile(l.dir + "/swanctl.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"t1 {", "t2 {", "remote_addrs = 203.0.113.3", "local_ts = 172.16.0.0/24",
		"remote_ts = 10.0.0.0/16", "start_action = start", "dpd_delay = 10s", "rekey_time = 90s",
		`secret = "secret.two"`, "id-remote = 203.0.113.3", "dpd_action = restart"} {
		if !bytes.Contains(swan, []byte(want)) {
			t.Errorf("swanctl.conf lacks %q:\n%s", want, swan)
		}
	}
	conf, err := os.ReadFile(l.dir + "/strongswan.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kernel-libipsec kernel-netlink", "routing_table_prio = 32800", "retransmit_base = 1.4",
		"unix://" + l.dir + "/run/charon.vici", "ike = 2"} {
		if !bytes.Contains(conf, []byte(want)) {
			t.Errorf("strongswan.conf lacks %q:\n%s", want, conf)
		}
	}
	if fmt.Sprint(c.Routes) != "[10.0.0.0/16]" {
		t.Errorf("routes = %v", c.Routes)
	}
	bad := CharonConfig{PSK: `a"b`}
	if err := l.charonDefaults(&bad); err == nil {
		t.Error("PSK with a quote accepted")
	}
}

// TestIKEv1AndInitiate covers the IKEv1 template (Main Mode + Quick Mode with
// PFS) and the synchronous Initiate path instead of start_action=start.
func TestIKEv1AndInitiate(t *testing.T) {
	needRoot(t)
	l := upLab(t, "vlt5", false)
	esp := "aes128-sha1-modp2048"
	resp, err := l.StartCharon(CharonConfig{NS: RoleVGW, PSK: testPSK, IKEVersion: 1, ESPProposal: esp})
	if err != nil {
		t.Fatal(err)
	}
	cgw, err := l.StartCharon(CharonConfig{PSK: testPSK, IKEVersion: 1, ESPProposal: esp, StartAction: "none", Initiate: true})
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, cgw, resp)
	if err := l.Ping(RoleOnprem, VPCIP, 2); err != nil {
		t.Fatal(err)
	}
	out, err := cgw.Swanctl("--list-sas")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("IKEv1")) || !bytes.Contains(out, []byte("HMAC_SHA1_96/MODP_2048")) {
		t.Errorf("unexpected SA:\n%s", out)
	}
	// A failed Initiate fails StartCharon, stops that charon and reports why.
	// (One charon per namespace: a second would fight over UDP 500 and ipsec0.)
	if err := cgw.Stop(); err != nil {
		t.Fatal(err)
	}
	bad, err := l.StartCharon(CharonConfig{Name: "noprop", PSK: testPSK, IKEVersion: 1, ESPProposal: "aes256-sha256-modp3072",
		StartAction: "none", Initiate: true})
	if err == nil || !strings.Contains(err.Error(), "NO_PROPOSAL_CHOSEN") {
		t.Fatalf("StartCharon with a mismatched ESP proposal: %v", err)
	}
	if bad != nil {
		t.Fatal("StartCharon returned a Charon with its error")
	}
	for _, p := range l.procs {
		if p.Name == "charon-noprop" && p.Running() {
			t.Error("failed charon still running")
		}
	}
}
