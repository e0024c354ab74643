// Command bench measures vpgw against strongSwan and wireguard-go in the
// netns lab, in one run on one topology (a fresh lab per measurement, torn
// down after it):
//
//   - TCP throughput on-prem -> VPC (iperf3, 1 and 4 flows) through
//     strongSwan CGW <-> strongSwan responder (kernel-libipsec) in vgw,
//     strongSwan CGW <-> vpgw, wireguard-go <-> wireguard-go, and
//     vpgw <-> vpgw (a second vpgw with the customer's side of the config
//     initiating from cgw);
//   - CPU seconds per GB of each gateway process (utime+stime from
//     /proc/PID/stat before and after each transfer);
//   - IKEv2 SAs/s as responder (cmd/ikeload from cgw's 198.51.100.2, many
//     source ports) for modp2048 and x25519: vpgw vs strongSwan.
//
// It prints a table with ratios and writes it to --out. Every step is
// bounded in time; labs and processes are removed on failure, on SIGINT or
// SIGTERM, and when the overall --max-time runs out. Run as root:
//
//	go run ./bench            (or `bash bench/run.sh`, which installs the deps)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vpgw/vpgw/lab"
)

const (
	psk1   = "bench.psk_0123456789abcdef"
	psk2   = "bench.psk_0123456789abcdef2"
	prefix = "vbench"
	clkTck = 100 // USER_HZ on Linux
)

var (
	flDuration = flag.Int("t", 8, "iperf3 seconds per measurement")
	flFlows    = flag.String("flows", "1,4", "iperf3 parallel flows to measure")
	flSAs      = flag.Int("sas", 500, "IKE SAs per SAs/s measurement")
	flConc     = flag.Int("concurrency", 16, "ikeload exchanges in flight")
	flOut      = flag.String("out", "", "also write the table here (default: bench/results.md in the repository)")
	flVPGW     = flag.String("vpgw", "", "vpgw binary (default: built from this tree)")
	flIkeload  = flag.String("ikeload", "", "ikeload binary (default: built from this tree)")
	flWG       = flag.String("wireguard-go", "", "wireguard-go binary (default: lab.FindWireGuardGo)")
	flMax      = flag.Duration("max-time", 30*time.Minute, "abort everything (and clean up) after this long")
	flOnly     = flag.String("only", "", "comma-separated subset: ss,sv,wg,vv,ike (default all)")
	flVerbose  = flag.Bool("v", false, "log every lab command to stderr")
	flQuiet    = flag.Duration("quiet-wait", 90*time.Second, "before each measurement wait up to this long for the machine to be idle (<15% CPU busy)")
)

// Current lab, for cleanup on signals and the overall deadline.
var (
	curMu  sync.Mutex
	curLab *lab.Lab
	tmpDir string
)

func setLab(l *lab.Lab) {
	curMu.Lock()
	curLab = l
	curMu.Unlock()
}

func emergencyCleanup(why string) {
	fmt.Fprintf(os.Stderr, "\nbench: %s: cleaning up\n", why)
	curMu.Lock()
	l := curLab
	curMu.Unlock()
	if l != nil {
		_ = l.Down()
	}
	lab.CleanupStale(prefix, os.Stderr)
	if tmpDir != "" {
		_ = os.RemoveAll(tmpDir)
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (network namespaces, TUN, strongSwan)")
		os.Exit(2)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		emergencyCleanup("got " + s.String())
		os.Exit(130)
	}()
	time.AfterFunc(*flMax, func() {
		emergencyCleanup(fmt.Sprintf("--max-time %v exceeded", *flMax))
		os.Exit(3)
	})
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		emergencyCleanup("error")
		os.Exit(1)
	}
	if tmpDir != "" {
		_ = os.RemoveAll(tmpDir)
	}
}

func repoRoot() string {
	if _, file, _, ok := runtime.Caller(0); ok {
		return filepath.Dir(filepath.Dir(file))
	}
	wd, _ := os.Getwd()
	return wd
}

func want(what string) bool {
	if *flOnly == "" {
		return true
	}
	for _, f := range strings.Split(*flOnly, ",") {
		if strings.TrimSpace(f) == what {
			return true
		}
	}
	return false
}

// cmdOut runs a command with a timeout and returns its stdout (stderr on error).
func cmdOut(timeout time.Duration, name string, args ...string) ([]byte, error) {
	out, _, err := cmdOutCPU(timeout, name, args...)
	return out, err
}

// cmdOutCPU is cmdOut that also returns the CPU time (user+system) the
// command used (`ip netns exec` execs its command, so that is the command's).
func cmdOutCPU(timeout time.Duration, name string, args ...string) ([]byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v", timeout)
	}
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return stdout.Bytes(), cpu, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, lastLines(stderr.String()+stdout.String(), 6))
	}
	return stdout.Bytes(), cpu, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---- results ----

type tput struct {
	path   string
	flows  int
	mbps   float64
	bytes  float64
	cgwCPU float64 // seconds during the transfer
	vgwCPU float64
	note   string // "not measured: ..." when it failed
}

type saRate struct {
	responder, dh string
	res           ikeResult
	cpuMSPerSA    float64 // responder
	loadMSPerSA   float64 // ikeload itself (same machine)
	note          string
}

type ikeResult struct {
	Count       int            `json:"count"`
	Established int            `json:"established"`
	Failed      int            `json:"failed"`
	Failures    map[string]int `json:"failures"`
	Seconds     float64        `json:"seconds"`
	SAsPerSec   float64        `json:"sas_per_sec"`
	LatencyMS   struct {
		P50, P90, P99, Max float64
	} `json:"latency_ms"`
	Deleted     int     `json:"deleted"`
	DeleteFails int     `json:"delete_failed"`
	DeleteSecs  float64 `json:"delete_seconds"`
}

var (
	startLoad string
	busyNotes []string // measurements that started while other work ran
)

// cpuBusy is the fraction of all CPUs busy over one second (/proc/stat).
func cpuBusy() float64 {
	read := func() (busy, total float64) {
		b, _ := os.ReadFile("/proc/stat")
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		for i, v := range f[1:] {
			x, _ := strconv.ParseFloat(v, 64)
			total += x
			if i != 3 && i != 4 { // idle, iowait
				busy += x
			}
		}
		return
	}
	b0, t0 := read()
	time.Sleep(time.Second)
	b1, t1 := read()
	if t1 <= t0 {
		return 0
	}
	return (b1 - b0) / (t1 - t0)
}

// waitQuiet waits (up to --quiet-wait) until the machine is idle apart from
// the lab's idle gateways, so other work does not skew a measurement; it
// notes measurements that had to start anyway.
func waitQuiet(what string) {
	deadline := time.Now().Add(*flQuiet)
	for {
		b := cpuBusy()
		if b < 0.15 {
			return
		}
		if time.Now().After(deadline) {
			logf("  machine still %.0f%% busy with other work: measuring %s anyway", b*100, what)
			busyNotes = append(busyNotes, fmt.Sprintf("%s started with the machine %.0f%% busy", what, b*100))
			return
		}
		time.Sleep(2 * time.Second)
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func run() error {
	start := time.Now()
	startLoad = loadavg()
	root := repoRoot()
	var err error
	tmpDir, err = os.MkdirTemp("", "vpgw-bench-")
	if err != nil {
		return err
	}
	for _, bin := range []string{"iperf3", "ip", "swanctl", "/usr/lib/ipsec/charon", "nsenter", "unshare"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("missing %s (run bench/run.sh, which installs the deps): %w", bin, err)
		}
	}
	vpgwBin, ikeloadBin := *flVPGW, *flIkeload
	if vpgwBin == "" {
		vpgwBin = filepath.Join(tmpDir, "vpgw")
		logf("building vpgw")
		if _, err := cmdOut(5*time.Minute, "go", "build", "-C", root, "-trimpath", "-o", vpgwBin, "./cmd/vpgw"); err != nil {
			return err
		}
	}
	if ikeloadBin == "" {
		ikeloadBin = filepath.Join(tmpDir, "ikeload")
		logf("building ikeload")
		if _, err := cmdOut(5*time.Minute, "go", "build", "-C", root, "-trimpath", "-o", ikeloadBin, "./cmd/ikeload"); err != nil {
			return err
		}
	}
	wgBin := *flWG
	if wgBin == "" && (want("wg")) {
		if wgBin, err = lab.FindWireGuardGo(); err != nil {
			logf("%v", err)
		}
	}
	var flows []int
	for _, f := range strings.Split(*flFlows, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("--flows: %q", *flFlows)
		}
		flows = append(flows, n)
	}
	lab.CleanupStale(prefix, os.Stderr)

	var tputs []tput
	type scen struct {
		key, path string
		setup     func(l *lab.Lab) (cgwPID, vgwPID int, err error)
	}
	scens := []scen{
		{"ss", "strongSwan CGW ↔ strongSwan (libipsec) responder", setupSS},
		{"sv", "strongSwan CGW ↔ vpgw", func(l *lab.Lab) (int, int, error) { return setupSV(l, vpgwBin) }},
		{"wg", "wireguard-go ↔ wireguard-go", func(l *lab.Lab) (int, int, error) {
			if wgBin == "" {
				return 0, 0, errors.New("wireguard-go not installed")
			}
			return setupWG(l, wgBin)
		}},
		{"vv", "vpgw (initiating, cgw) ↔ vpgw", func(l *lab.Lab) (int, int, error) { return setupVV(l, vpgwBin) }},
	}
	for _, s := range scens {
		if !want(s.key) {
			continue
		}
		logf("throughput: %s", s.path)
		tputs = append(tputs, measureThroughput(s.path, flows, s.setup)...)
	}

	var rates []saRate
	if want("ike") {
		for _, dh := range []string{"modp2048", "x25519"} {
			for _, resp := range []string{"strongSwan", "vpgw"} {
				logf("IKE SAs/s: %s responder, %s, %d SAs", resp, dh, *flSAs)
				rates = append(rates, measureSAs(resp, dh, vpgwBin, ikeloadBin))
			}
		}
	}

	table := render(start, tputs, rates)
	fmt.Print(table)
	out := *flOut
	if out == "" {
		out = filepath.Join(root, "bench", "results.md")
	}
	if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
		return err
	}
	logf("table written to %s (%.0fs)", out, time.Since(start).Seconds())
	return nil
}

// ---- labs ----

func newLab() (*lab.Lab, error) {
	lab.CleanupStale(prefix, os.Stderr)
	var w io.Writer
	if *flVerbose {
		w = os.Stderr
	}
	l, err := lab.Up(lab.Options{Prefix: prefix, Log: w})
	if err != nil {
		return nil, err
	}
	setLab(l)
	return l, nil
}

func downLab(l *lab.Lab) {
	if err := l.Down(); err != nil {
		logf("lab down: %v", err)
	}
	setLab(nil)
}

// vpgwConfig is vpgw's configuration: one static VPN connection. For the
// VGW side (cgw=false) it is the lab's (tunnels on 203.0.113.2/.3, peer
// 198.51.100.2); for the customer's side (cgw=true) the roles are swapped:
// tunnels on 198.51.100.2/.3, peer 203.0.113.2, tunnel 1 initiating.
func vpgwConfig(dir string, cgw bool) string {
	name, asn, vpc, peer, peerASN, static := "vgw-bench", 64512, "10.0.0.0/16", lab.CGWWANIP, 65000, "172.16.0.0/24"
	out1, out2, start := lab.VGWOutside1, lab.VGWOutside2, ""
	if cgw {
		name, asn, vpc, peer, peerASN, static = "cgw-bench", 65000, "172.16.0.0/24", lab.VGWOutside1, 64512, "10.0.0.0/16"
		out1, out2, start = lab.CGWWANIP, "198.51.100.3", "        startup_action: start\n"
	}
	return fmt.Sprintf(`gateway:
  name: %[2]s
  asn: %[3]d
  vpc_cidrs: [%[4]s]
  route_table: 254
  state_dir: %[1]s/state
  control_socket: %[1]s/vpgw.sock
  metrics_listen: 127.0.0.1:9478
customer_gateways:
  - name: peer
    ip: %[5]s
    bgp_asn: %[6]d
vpn_connections:
  - name: vpn-1
    customer_gateway: peer
    routing: static
    static_routes: [%[7]s]
    tunnels:
      - outside_ip: %[8]s
        inside_cidr: 169.254.10.0/30
        psk: %[10]s
        ike_versions: [ikev2]
        phase1: {dh_groups: [2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 31]}
%[12]s      - outside_ip: %[9]s
        inside_cidr: 169.254.11.0/30
        psk: %[11]s
        ike_versions: [ikev2]
`, dir, name, asn, vpc, peer, peerASN, static, out1, out2, psk1, psk2, start)
}

func startVPGW(l *lab.Lab, bin, ns, name string, cgw bool) (*lab.Proc, error) {
	dir := filepath.Join(l.Dir(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "vpgw.yaml")
	if err := os.WriteFile(cfg, []byte(vpgwConfig(dir, cgw)), 0o600); err != nil {
		return nil, err
	}
	if _, err := cmdOut(30*time.Second, bin, "validate", "--config", cfg); err != nil {
		return nil, err
	}
	p, err := l.Start(ns, name, nil, bin, "run", "--config", cfg, "--log-level", "info")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "vpgw.sock")
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := cmdOut(5*time.Second, bin, "status", "--socket", sock, "-o", "json"); err == nil {
			return p, nil
		}
		if !p.Running() || time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not come up: %v\n%s", name, p.Err(), p.Tail(3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func setupSS(l *lab.Lab) (int, int, error) {
	v, err := l.StartCharon(lab.CharonConfig{NS: lab.RoleVGW, PSK: psk1})
	if err != nil {
		return 0, 0, err
	}
	c, err := l.StartCharon(lab.CharonConfig{PSK: psk1})
	if err != nil {
		return 0, 0, err
	}
	if err := c.WaitChild("t1", 30*time.Second); err != nil {
		return 0, 0, err
	}
	return c.Proc.PID, v.Proc.PID, nil
}

func setupSV(l *lab.Lab, bin string) (int, int, error) {
	v, err := startVPGW(l, bin, lab.RoleVGW, "vpgw", false)
	if err != nil {
		return 0, 0, err
	}
	c, err := l.StartCharon(lab.CharonConfig{PSK: psk1})
	if err != nil {
		return 0, 0, err
	}
	if err := c.WaitChild("t1", 30*time.Second); err != nil {
		return 0, 0, err
	}
	return c.Proc.PID, v.PID, nil
}

func setupWG(l *lab.Lab, bin string) (int, int, error) {
	c, v, err := l.WireGuardPair(bin)
	if err != nil {
		return 0, 0, err
	}
	return c.Proc.PID, v.Proc.PID, nil
}

func setupVV(l *lab.Lab, bin string) (int, int, error) {
	// The customer's side needs a second outside address for its tunnel 2
	// (which stays idle: it has no counterpart).
	if _, err := l.Exec(lab.RoleCGW, "ip", "addr", "add", "198.51.100.3/24", "dev", "wan0"); err != nil {
		return 0, 0, err
	}
	v, err := startVPGW(l, bin, lab.RoleVGW, "vpgw", false)
	if err != nil {
		return 0, 0, err
	}
	c, err := startVPGW(l, bin, lab.RoleCGW, "vpgw-cgw", true)
	if err != nil {
		return 0, 0, err
	}
	return c.PID, v.PID, nil
}

// ---- throughput ----

func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// After ")": state(3) ... utime is field 14, stime 15 (1-based over the whole line).
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clkTck, nil
}

type iperfJSON struct {
	End struct {
		SumReceived struct {
			Bytes         float64 `json:"bytes"`
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

func measureThroughput(path string, flows []int, setup func(*lab.Lab) (int, int, error)) []tput {
	notMeasured := func(err error) []tput {
		msg := err.Error()
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if len(msg) > 160 {
			msg = msg[:160] + "…"
		}
		logf("  %s: not measured: %v", path, err)
		var out []tput
		for _, n := range flows {
			out = append(out, tput{path: path, flows: n, note: "not measured: " + msg})
		}
		return out
	}
	l, err := newLab()
	if err != nil {
		return notMeasured(err)
	}
	defer downLab(l)
	cgwPID, vgwPID, err := setup(l)
	if err != nil {
		return notMeasured(err)
	}
	if err := l.WaitPing(lab.RoleOnprem, lab.VPCIP, 45*time.Second); err != nil {
		return notMeasured(fmt.Errorf("no ping through the tunnel: %w", err))
	}
	if _, err := l.Start(lab.RoleVPC, "iperf3-server", nil, "iperf3", "-s", "-B", lab.VPCIP); err != nil {
		return notMeasured(err)
	}
	time.Sleep(500 * time.Millisecond)
	var out []tput
	for _, n := range flows {
		r := tput{path: path, flows: n}
		waitQuiet(fmt.Sprintf("%s, %d flow(s)", path, n))
		c0, err1 := cpuSeconds(cgwPID)
		v0, err2 := cpuSeconds(vgwPID)
		args := []string{"netns", "exec", l.NS(lab.RoleOnprem), "iperf3", "-c", lab.VPCIP, "-t", strconv.Itoa(*flDuration),
			"-P", strconv.Itoa(n), "-J", "--connect-timeout", "5000"}
		var js []byte
		var err error
		for try := 0; try < 3; try++ {
			js, err = cmdOut(time.Duration(*flDuration+30)*time.Second, "ip", args...)
			if err == nil {
				break
			}
			time.Sleep(time.Second)
		}
		c1, err3 := cpuSeconds(cgwPID)
		v1, err4 := cpuSeconds(vgwPID)
		if err = errors.Join(err, err1, err2, err3, err4); err != nil {
			r.note = "not measured: " + firstLine(err.Error())
			out = append(out, r)
			continue
		}
		var ij iperfJSON
		if err := json.Unmarshal(js, &ij); err != nil || ij.Error != "" {
			r.note = "not measured: iperf3: " + firstLine(fmt.Sprint(err, ij.Error))
			out = append(out, r)
			continue
		}
		r.mbps = ij.End.SumReceived.BitsPerSecond / 1e6
		r.bytes = ij.End.SumReceived.Bytes
		r.cgwCPU, r.vgwCPU = c1-c0, v1-v0
		logf("  %d flow(s): %.0f Mbit/s, CPU cgw %.2fs vgw %.2fs for %.2f GB; load %s", n, r.mbps, r.cgwCPU, r.vgwCPU, r.bytes/1e9, loadavg())
		out = append(out, r)
	}
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// ---- IKE SAs/s ----

func measureSAs(responder, dh, vpgwBin, ikeloadBin string) saRate {
	r := saRate{responder: responder, dh: dh}
	l, err := newLab()
	if err != nil {
		r.note = "not measured: " + firstLine(err.Error())
		return r
	}
	defer downLab(l)
	var pid int
	switch responder {
	case "vpgw":
		p, err := startVPGW(l, vpgwBin, lab.RoleVGW, "vpgw", false)
		if err != nil {
			r.note = "not measured: " + firstLine(err.Error())
			return r
		}
		pid = p.PID
	default:
		ch, err := l.StartCharon(lab.CharonConfig{NS: lab.RoleVGW, PSK: psk1,
			IKEProposal: "aes128-sha256-modp2048-ecp256-curve25519", ESPProposal: "aes128gcm16"})
		if err != nil {
			r.note = "not measured: " + firstLine(err.Error())
			return r
		}
		pid = ch.Proc.PID
	}
	waitQuiet(fmt.Sprintf("SAs/s %s %s", responder, dh))
	c0, _ := cpuSeconds(pid)
	js, loadCPU, err := cmdOutCPU(5*time.Minute, "ip", "netns", "exec", l.NS(lab.RoleCGW), ikeloadBin,
		"--target", lab.VGWOutside1, "--local", lab.CGWWANIP, "--psk", psk1,
		"--count", strconv.Itoa(*flSAs), "--concurrency", strconv.Itoa(*flConc), "--dh", dh,
		"--ike-proposal", "aes128/sha2-256", "--esp-proposal", "aes128-gcm-16", "--json")
	c1, _ := cpuSeconds(pid)
	if jerr := json.Unmarshal(js, &r.res); jerr != nil {
		r.note = "not measured: " + firstLine(fmt.Sprint(err, " ", jerr))
		return r
	}
	if r.res.Established > 0 {
		// CPU over the establishment and the deletes, per SA.
		r.cpuMSPerSA = (c1 - c0) * 1000 / float64(r.res.Established)
		r.loadMSPerSA = loadCPU.Seconds() * 1000 / float64(r.res.Established)
	}
	if err != nil && r.res.Established == 0 {
		r.note = "failed: " + firstLine(err.Error())
	}
	logf("  %s %s: %d/%d up, %.1f SAs/s, p50 %.1f ms, p99 %.1f ms, %.2f CPU ms/SA (ikeload %.2f), deleted %d; load %s",
		responder, dh, r.res.Established, r.res.Count, r.res.SAsPerSec, r.res.LatencyMS.P50, r.res.LatencyMS.P99, r.cpuMSPerSA, r.loadMSPerSA, r.res.Deleted, loadavg())
	return r
}

// ---- table ----

func render(start time.Time, tputs []tput, rates []saRate) string {
	var b strings.Builder
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	swan, _ := exec.Command("dpkg-query", "-W", "-f", "${Version}", "strongswan-charon").Output()
	fmt.Fprintf(&b, "# vpgw bench\n\n")
	fmt.Fprintf(&b, "- date: %s\n", start.Format(time.RFC3339))
	fmt.Fprintf(&b, "- command: `%s`\n", commandLine())
	fmt.Fprintf(&b, "- machine: %d CPUs, kernel %s, %s, strongSwan %s (kernel-libipsec); all ends in one netns lab on this machine\n",
		runtime.NumCPU(), strings.TrimSpace(string(kernel)), runtime.Version(), strings.TrimSpace(string(swan)))
	fmt.Fprintf(&b, "- load average at start: %s, at end: %s (other work on the machine skews every number)\n", startLoad, loadavg())
	fmt.Fprintf(&b, "- throughput: iperf3 -t %d on-prem 172.16.0.10 → VPC 10.0.0.10 (receiver's count); ESP aes128gcm16, IKE aes128-sha256-modp2048; CPU = utime+stime of the gateway process during the transfer, per GB (1e9 bytes) received\n", *flDuration)
	fmt.Fprintf(&b, "- SAs/s: cmd/ikeload in cgw (198.51.100.2, one source port per SA) → responder 203.0.113.2, %d IKE SAs + 1 CHILD_SA each, %d in flight, IKE aes128/sha2-256, ESP aes128-gcm-16, then DELETEs; responder CPU ms/SA covers setup and delete\n\n", *flSAs, *flConc)

	var base = map[int]tput{}
	for _, t := range tputs {
		if strings.HasPrefix(t.path, "strongSwan CGW ↔ strongSwan") && t.note == "" {
			base[t.flows] = t
		}
	}
	fmt.Fprintf(&b, "## TCP throughput on-prem → VPC\n\n")
	fmt.Fprintf(&b, "| path | flows | Mbit/s | × s↔s | CGW CPU s/GB | VGW CPU s/GB | VGW s/GB × s↔s |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range tputs {
		if t.note != "" {
			fmt.Fprintf(&b, "| %s | %d | %s | | | | |\n", t.path, t.flows, t.note)
			continue
		}
		gb := t.bytes / 1e9
		cs, vs := t.cgwCPU/gb, t.vgwCPU/gb
		ratio, cratio := "", ""
		if bt, ok := base[t.flows]; ok && bt.mbps > 0 {
			ratio = fmt.Sprintf("%.2f", t.mbps/bt.mbps)
			if bvs := bt.vgwCPU / (bt.bytes / 1e9); bvs > 0 {
				cratio = fmt.Sprintf("%.2f", vs/bvs)
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %.2f | %.2f | %s |\n", t.path, t.flows, t.mbps, ratio, cs, vs, cratio)
	}

	fmt.Fprintf(&b, "\n## IKEv2 SAs/s as responder\n\n")
	fmt.Fprintf(&b, "| responder | DH | up/asked | SAs/s | × strongSwan | latency p50 / p90 / p99 ms | responder CPU ms/SA | × strongSwan | ikeload CPU ms/SA | failures | deleted |\n")
	fmt.Fprintf(&b, "|---|---|---:|---:|---:|---|---:|---:|---:|---|---:|\n")
	swRate, swCPU := map[string]float64{}, map[string]float64{}
	for _, r := range rates {
		if r.responder == "strongSwan" && r.note == "" {
			swRate[r.dh], swCPU[r.dh] = r.res.SAsPerSec, r.cpuMSPerSA
		}
	}
	for _, r := range rates {
		if r.note != "" && r.res.Count == 0 {
			fmt.Fprintf(&b, "| %s | %s | %s | | | | | | | | |\n", r.responder, r.dh, r.note)
			continue
		}
		ratio, cratio := "", ""
		if sw := swRate[r.dh]; sw > 0 {
			ratio = fmt.Sprintf("%.2f", r.res.SAsPerSec/sw)
		}
		if sw := swCPU[r.dh]; sw > 0 {
			cratio = fmt.Sprintf("%.2f", r.cpuMSPerSA/sw)
		}
		fails := fmt.Sprint(r.res.Failed)
		for k, v := range r.res.Failures {
			fails += fmt.Sprintf(" (%d× %s)", v, k)
			break
		}
		fmt.Fprintf(&b, "| %s | %s | %d/%d | %.1f | %s | %.1f / %.1f / %.1f | %.2f | %s | %.2f | %s | %d |\n",
			r.responder, r.dh, r.res.Established, r.res.Count, r.res.SAsPerSec, ratio,
			r.res.LatencyMS.P50, r.res.LatencyMS.P90, r.res.LatencyMS.P99, r.cpuMSPerSA, cratio, r.loadMSPerSA, fails, r.res.Deleted)
	}
	for _, n := range busyNotes {
		fmt.Fprintf(&b, "\nNote: %s: that row is skewed.", n)
	}
	if len(busyNotes) > 0 {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nTotal bench time: %.0fs\n", time.Since(start).Seconds())
	return b.String()
}

// commandLine is how the bench was started: $VPGW_BENCH_CMD (set by
// bench/run.sh) or the program's own arguments.
func commandLine() string {
	if c := os.Getenv("VPGW_BENCH_CMD"); c != "" {
		return c
	}
	return strings.Join(append([]string{"go run ./bench"}, os.Args[1:]...), " ")
}
