package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpgw/vpgw/gateway"
	"github.com/vpgw/vpgw/lab"
)

// Scale test parameters (issue 7, item 5): 100 VPN connections, one
// customer gateway address each, two tunnels per connection.
const (
	scaleConns   = 100
	scaleTunnels = 2 * scaleConns
	scaleRate    = 100 // new IKE SAs a second from ikeload
	scaleConc    = 16  // ikeload exchanges in flight
	scaleDH      = "x25519"

	scaleStartMax = 30 * time.Second // vpgw start until the control socket answers
	scaleUpMax    = 60 * time.Second // ikeload start until all 200 tunnels are UP
	scaleDownMax  = 30 * time.Second // SIGTERM to ikeload until all DOWN, routes gone
	// vpgw preallocates batch buffers per tunnel whatever the traffic: the
	// receive containers of its three outside sockets (3 × 64 × 9.3 kB ≈
	// 1.8 MB), its TUN's read container (128 × 9.3 kB ≈ 1.2 MB) and
	// wireguard-go's GRO tables for the TUN (≈ 1.8 MB): a heap profile of
	// 200 tunnels shows 969 MB live, ≈ 4.8 MB a tunnel, the same with all
	// SAs UP and after they are deleted. Only touched pages are resident,
	// and with that much live heap the collector lets the garbage of the
	// SA churn pile up before it runs: 600–860 MiB peak measured here. The
	// bound is 6 MiB a tunnel, the live heap wholly resident plus a quarter
	// for that garbage: above it something grows per SA.
	scaleRSSMax = scaleTunnels * 6 << 20
)

// scaleTunnel is one tunnel of the scale lab and the ikeload pair that
// brings it up.
type scaleTunnel struct {
	conn    int        // connection number, 0…99
	cgw     netip.Addr // 198.51.100.10+conn
	outside netip.Addr // 203.0.113.10+2·conn (tunnel 1), +1 (tunnel 2)
	inside  netip.Prefix
	psk     string
}

func scaleLayout() []scaleTunnel {
	cgwBase := netip.MustParseAddr("198.51.100.10")
	outBase := netip.MustParseAddr("203.0.113.10")
	var ts []scaleTunnel
	for k := 0; k < scaleTunnels; k++ {
		c := k / 2
		cgw, out := addrPlus(cgwBase, c), addrPlus(outBase, k)
		ts = append(ts, scaleTunnel{
			conn:    c,
			cgw:     cgw,
			outside: out,
			// 169.254.100.0/30 … 169.254.103.252/30: none of AWS's reserved /30s.
			inside: netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, byte(100 + k/64), byte(k % 64 * 4)}), 30),
			psk:    fmt.Sprintf("scale.%s.%s", cgw, out),
		})
	}
	return ts
}

func addrPlus(a netip.Addr, n int) netip.Addr {
	for ; n > 0; n-- {
		a = a.Next()
	}
	return a
}

func scaleStaticRoute(conn int) string { return fmt.Sprintf("172.20.%d.0/24", conn) }

func scaleConnName(conn int) string { return fmt.Sprintf("vpn-%03d", conn) }

// scaleConfig: 100 customer gateways, 100 static connections of two
// tunnels, each with its own outside address, /30 and PSK; phase 1 also
// accepts Curve25519 (31), which ikeload uses.
func scaleConfig(dir string, ts []scaleTunnel) string {
	var b strings.Builder
	fmt.Fprintf(&b, `gateway:
  name: vgw-scale
  asn: 64512
  vpc_cidrs: [10.0.0.0/16]
  route_table: 254
  state_dir: %[1]s/state
  control_socket: %[1]s/vpgw.sock
  metrics_listen: 127.0.0.1:9478
  # AWS allows 10 VPN connections per VPN gateway by default; raised here.
  max_vpn_connections: 100
  max_customer_gateways: 100
customer_gateways:
`, dir)
	for c := 0; c < scaleConns; c++ {
		fmt.Fprintf(&b, "  - name: cgw-%03d\n    ip: %s\n    bgp_asn: 65000\n", c, ts[2*c].cgw)
	}
	b.WriteString("vpn_connections:\n")
	for c := 0; c < scaleConns; c++ {
		fmt.Fprintf(&b, "  - name: %s\n    customer_gateway: cgw-%03d\n    routing: static\n    static_routes: [%s]\n    tunnels:\n",
			scaleConnName(c), c, scaleStaticRoute(c))
		for _, tn := range ts[2*c : 2*c+2] {
			fmt.Fprintf(&b, "      - outside_ip: %s\n        inside_cidr: %s\n        psk: %s\n"+
				"        phase1: {dh_groups: [2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 31]}\n",
				tn.outside, tn.inside, tn.psk)
		}
	}
	return b.String()
}

// ipBatch runs `ip -batch -` in a namespace: one process for hundreds of
// address changes.
func ipBatch(t *testing.T, l *lab.Lab, role string, lines []string) {
	t.Helper()
	cmd := exec.Command("ip", "-n", l.NS(role), "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s -batch: %v\n%s", l.NS(role), err, out)
	}
}

// procField returns a field of /proc/PID/status as text ("Threads", ...).
func procField(pid int, field string) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	return "", fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// scaleRoutes returns vpgw's routes (proto 245) in the main table of vgw:
// destination → device.
func scaleRoutes(t *testing.T, l *lab.Lab) map[string]string {
	t.Helper()
	out, err := l.Exec(lab.RoleVGW, "ip", "-4", "route", "show", "table", "main", "proto", "245")
	if err != nil {
		t.Fatalf("ip route: %v\n%s", err, out)
	}
	rs := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i := 1; i+1 < len(f); i++ {
			if f[i] == "dev" {
				rs[f[0]] = f[i+1]
			}
		}
	}
	return rs
}

// countStates counts the tunnels of a status by state.
func countStates(s *gateway.Status) (up, down, total int) {
	for _, c := range s.VPNConnections {
		for _, tn := range c.Tunnels {
			total++
			switch tn.Status {
			case gateway.StateUp:
				up++
			case gateway.StateDown:
				down++
			}
		}
	}
	return up, down, total
}

// ikeloadResult is the part of ikeload's --json summary the test reads.
type ikeloadResult struct {
	Pairs         int            `json:"pairs"`
	Count         int            `json:"count"`
	Established   int            `json:"established"`
	Failed        int            `json:"failed"`
	Failures      map[string]int `json:"failures"`
	FailedTargets []string       `json:"failed_targets"`
	Seconds       float64        `json:"seconds"`
	SAsPerSec     float64        `json:"sas_per_sec"`
	LatencyMS     struct {
		P50, P90, P99, Max float64
	} `json:"latency_ms"`
	Deleted       int     `json:"deleted"`
	DeleteFails   int     `json:"delete_failed"`
	DeleteSecs    float64 `json:"delete_seconds"`
	DeletedByPeer int     `json:"deleted_by_responder"`
}

// TestScale200Tunnels brings 100 VPN connections (200 tunnels) UP at once
// on one vpgw against cmd/ikeload, reports vpgw's start time, time to all
// UP, memory, threads and goroutines, and checks that the 100 static
// routes come and go with the tunnels.
func TestScale200Tunnels(t *testing.T) {
	requireRoot(t)
	testStart := time.Now()
	layout := scaleLayout()
	vpgwBin, loadBin := vpgwBinary(t), ikeloadBinary(t)
	l := newLab(t, "vpgw-e2escale", false)

	// 100 customer gateway addresses on cgw's WAN link, 200 outside
	// addresses on vgw's: both /24s are connected on the wan router, and
	// cgw and vgw route everything else through it.
	var cgwAddrs, outAddrs []string
	for i, tn := range layout {
		if i%2 == 0 {
			cgwAddrs = append(cgwAddrs, fmt.Sprintf("addr add %s/24 dev wan0", tn.cgw))
		}
		outAddrs = append(outAddrs, fmt.Sprintf("addr add %s/24 dev out0", tn.outside))
	}
	ipBatch(t, l, lab.RoleCGW, cgwAddrs)
	ipBatch(t, l, lab.RoleVGW, outAddrs)
	for _, p := range [][2]netip.Addr{{layout[0].cgw, layout[0].outside}, {layout[scaleTunnels-1].cgw, layout[scaleTunnels-1].outside}} {
		if out, err := l.Exec(lab.RoleCGW, "ping", "-n", "-q", "-c", "1", "-W", "2", "-I", p[0].String(), p[1].String()); err != nil {
			t.Fatalf("no route from %s to %s through wan: %v\n%s", p[0], p[1], err, out)
		}
	}

	// vpgw with 200 tunnels: time from exec to the control socket answering
	// is the state store import, 200 TUNs configured and 600 sockets bound.
	dir := filepath.Join(l.Dir(), "vpgw")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "vpgw.yaml")
	if err := os.WriteFile(cfgPath, []byte(scaleConfig(dir, layout)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(vpgwBin, "validate", "--config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("vpgw validate: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "vpgw.sock")
	t0 := time.Now()
	p, err := l.Start(l.NS(lab.RoleVGW), "vpgw", []string{"GOTRACEBACK=all"}, vpgwBin, "run", "--config", cfgPath, "--log-level", "info")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("vpgw log (tail):\n%s", p.Tail(6000))
		}
	})
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if !p.Running() {
			t.Fatalf("vpgw exited at start: %v\n%s", p.Err(), p.Tail(4000))
		}
		if time.Since(t0) > scaleStartMax {
			t.Fatalf("vpgw's control socket did not answer within %v\n%s", scaleStartMax, p.Tail(4000))
		}
		time.Sleep(5 * time.Millisecond)
	}
	startTime := time.Since(t0)
	v := &vpgwInstance{l: l, proc: p, bin: vpgwBin, socket: sock}
	s, err := v.status()
	if err != nil {
		t.Fatal(err)
	}
	if up, down, total := countStates(s); total != scaleTunnels || down != scaleTunnels || up != 0 {
		t.Fatalf("after start: %d tunnels, %d UP, %d DOWN; want %d DOWN", total, up, down, scaleTunnels)
	}
	out, err := l.Exec(lab.RoleVGW, "ip", "-o", "link", "show", "type", "tun")
	if n := strings.Count(string(out), ": vpn-"); err != nil || n != scaleTunnels {
		t.Fatalf("%d TUNs in vgw, want %d (%v)", n, scaleTunnels, err)
	}
	rssIdle, err := rssOf(p.PID, "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	hwmIdle, _ := rssOf(p.PID, "VmHWM")

	// ikeload from cgw: one IKE SA + CHILD_SA per tunnel, held until
	// SIGTERM. The pairs file keeps the PSKs off the command line.
	var pairs strings.Builder
	for _, tn := range layout {
		fmt.Fprintf(&pairs, "%s %s %s\n", tn.cgw, tn.outside, tn.psk)
	}
	pairsPath := filepath.Join(l.Dir(), "ikeload.pairs")
	if err := os.WriteFile(pairsPath, []byte(pairs.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	load, err := l.Start(l.NS(lab.RoleCGW), "ikeload", nil, loadBin, "--pairs", pairsPath,
		"--dh", scaleDH, "--rate", fmt.Sprint(scaleRate), "--concurrency", fmt.Sprint(scaleConc),
		"--tsi", "0.0.0.0/0", "--tsr", "0.0.0.0/0", "--timeout", "1s", "--hold", "5m", "--json")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ikeload log (tail):\n%s", load.Tail(4000))
		}
	})

	// All UP, then the 100 static routes through tunnel devices.
	var upTime, routesTime time.Duration
	var lastUp int
	for upTime == 0 {
		if time.Since(t1) > scaleUpMax {
			t.Fatalf("%d of %d tunnels UP after %v\nikeload:\n%s", lastUp, scaleTunnels, scaleUpMax, load.Tail(3000))
		}
		if !load.Running() {
			t.Fatalf("ikeload exited while tunnels were coming up (%d UP): %v\n%s", lastUp, load.Err(), load.Tail(3000))
		}
		if s, err := v.status(); err == nil {
			if lastUp, _, _ = countStates(s); lastUp == scaleTunnels {
				upTime = time.Since(t1)
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	var routes map[string]string
	for {
		routes = scaleRoutes(t, l)
		if len(routes) >= scaleConns {
			routesTime = time.Since(t1)
			break
		}
		if time.Since(t1) > scaleUpMax {
			t.Fatalf("%d vpgw routes (proto 245) with all tunnels UP, want %d", len(routes), scaleConns)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(routes) != scaleConns {
		t.Errorf("%d vpgw routes (proto 245), want %d: %v", len(routes), scaleConns, routes)
	}
	for c := 0; c < scaleConns; c++ {
		dev, ok := routes[scaleStaticRoute(c)]
		if !ok || !strings.HasPrefix(dev, scaleConnName(c)+"-t") {
			t.Errorf("route %s: dev %q, want one of %s's tunnels", scaleStaticRoute(c), dev, scaleConnName(c))
		}
	}
	rssUp, err := rssOf(p.PID, "VmRSS")
	if err != nil {
		t.Fatal(err)
	}
	threadsUp, err := procField(p.PID, "Threads")
	if err != nil {
		t.Fatal(err)
	}

	// The metrics endpoint answers with 200 tunnels; the gateway's registry
	// carries no Go collector, so goroutines are counted from a stack dump
	// at the end instead.
	m := v.metrics(t)
	goroutinesMetric, hasGoMetric := m["go_goroutines"]

	// SIGTERM ends ikeload's hold: it DELETEs every IKE SA and prints its summary.
	t2 := time.Now()
	if err := syscall.Kill(load.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-load.Done():
	case <-time.After(scaleDownMax):
		t.Fatalf("ikeload still deleting after %v\n%s", scaleDownMax, load.Tail(3000))
	}
	res := ikeloadSummary(t, load)
	if load.Err() != nil || res.Pairs != scaleTunnels || res.Established != scaleTunnels || res.Failed != 0 ||
		res.Deleted != scaleTunnels || res.DeleteFails != 0 || res.DeletedByPeer != 0 {
		t.Errorf("ikeload: exit %v, %d pairs, %d established, %d failed %v %v, %d deleted, %d deletes unanswered, %d deleted by vpgw",
			load.Err(), res.Pairs, res.Established, res.Failed, res.Failures, res.FailedTargets, res.Deleted, res.DeleteFails, res.DeletedByPeer)
	}

	// Every tunnel DOWN and every route withdrawn.
	var downTime time.Duration
	for {
		s, err := v.status()
		routes = scaleRoutes(t, l)
		if err == nil {
			if _, down, _ := countStates(s); down == scaleTunnels && len(routes) == 0 {
				downTime = time.Since(t2)
				break
			}
		}
		if time.Since(t2) > scaleDownMax {
			up := 0
			if s != nil {
				up, _, _ = countStates(s)
			}
			t.Fatalf("after the DELETEs: %d tunnels still UP, %d vpgw routes left (%v)", up, len(routes), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rssDown, _ := rssOf(p.PID, "VmRSS")
	hwm, err := rssOf(p.PID, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}

	goroutines := int(goroutinesMetric)
	if !hasGoMetric {
		goroutines = dumpGoroutines(t, p)
	}
	if total := time.Since(testStart); total > 2*time.Minute {
		t.Errorf("the scale test took %v, budget 2m", total.Round(time.Second))
	}
	t.Logf("scale: %d VPN connections / %d tunnels on one vpgw vs ikeload (%s, %d/s, %d in flight): "+
		"vpgw start to control socket %.2fs (%d TUNs); ikeload %d/%d SAs in %.2fs (p50 %.1f ms, p99 %.1f ms); "+
		"all %d UP %.2fs after ikeload start, %d routes (proto 245) at %.2fs; "+
		"vpgw RSS %d MiB idle (peak %d MiB by then), %d MiB all UP, %d MiB after DOWN, peak (VmHWM) %d MiB; %s threads, %d goroutines; "+
		"%d DELETEs in %.2fs, all DOWN and routes removed %.2fs after SIGTERM",
		scaleConns, scaleTunnels, scaleDH, scaleRate, scaleConc,
		startTime.Seconds(), scaleTunnels, res.Established, res.Count, res.Seconds, res.LatencyMS.P50, res.LatencyMS.P99,
		scaleTunnels, upTime.Seconds(), scaleConns, routesTime.Seconds(),
		rssIdle>>20, hwmIdle>>20, rssUp>>20, rssDown>>20, hwm>>20, threadsUp, goroutines,
		res.Deleted, res.DeleteSecs, downTime.Seconds())
	if rssUp > scaleRSSMax || hwm > scaleRSSMax {
		t.Errorf("vpgw RSS with %d tunnels UP %d MiB, peak %d MiB: bound %d MiB", scaleTunnels, rssUp>>20, hwm>>20, scaleRSSMax>>20)
	}
}

// goroutineHeader matches "goroutine 7 [select]:" and, at higher traceback
// levels, "goroutine 7 gp=0x... m=nil [select]:".
var goroutineHeader = regexp.MustCompile(`(?m)^goroutine \d+ [^\n]*\[[^\n]*\]:$`)

// dumpGoroutines ends vpgw with SIGQUIT (it was started with
// GOTRACEBACK=all) and counts the goroutines of its stack dump. The count
// does not depend on whether the tunnels are UP: IKE timers are
// time.AfterFunc, and each tunnel's nine goroutines (five of its ESP
// endpoint's sockets, its TUN reader and sequential sender, wireguard-go's
// two TUN event listeners) run from its start, so the figure stands for
// the gateway with 200 tunnels.
func dumpGoroutines(t *testing.T, p *lab.Proc) int {
	t.Helper()
	before := int64(0)
	if st, err := os.Stat(p.LogPath); err == nil {
		before = st.Size()
	}
	if err := syscall.Kill(p.PID, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("vpgw did not exit on SIGQUIT")
	}
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	b = b[min(before, int64(len(b))):]
	n := len(goroutineHeader.FindAll(b, -1))
	if n == 0 || !bytes.Contains(b, []byte("SIGQUIT")) {
		t.Fatalf("no goroutine dump from vpgw:\n%s", tail(b, 2000))
	}
	return n
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// ikeloadSummary is the JSON summary line ikeload (--json) printed last.
func ikeloadSummary(t *testing.T, load *lab.Proc) ikeloadResult {
	t.Helper()
	var res ikeloadResult
	logText, _ := os.ReadFile(load.LogPath)
	for _, line := range strings.Split(string(logText), "\n") {
		if strings.HasPrefix(line, "{") {
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				t.Fatalf("ikeload's summary: %v: %s", err, line)
			}
		}
	}
	return res
}
