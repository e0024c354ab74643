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
//   - small-packet rate (udp.go): iperf3 -u on-prem -> VPC with 64- and
//     200-byte payloads through the same four paths, received packets/s,
//     loss and CPU seconds per million packets;
//   - IKEv2 SAs/s as responder (cmd/ikeload from cgw's 198.51.100.2, many
//     source ports) for modp2048 and x25519: vpgw vs strongSwan;
//   - failover gap (failover.go): two tunnels to a strongSwan CGW, a
//     sequence-numbered UDP stream each way, tunnel 1 cut in the WAN; the
//     longest silence and the packets lost until dead peer detection moves
//     traffic to tunnel 2 (vpgw and strongSwan as responder);
//   - loss across rekeys (rekey.go): one tunnel, a stream each way while
//     both sides rekey CHILD_SAs and IKE SAs on command (vpgw and
//     strongSwan as responder).
//
// It prints a table with ratios and writes it to --out. Every step is
// bounded in time; labs and processes are removed on failure, on SIGINT or
// SIGTERM, and when the overall --max-time runs out. Run as root:
//
//	go run ./bench            (or `bash bench/run.sh`, which installs the deps)
//	go run ./bench -only udp,failover,rekey
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
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
	flOnly     = flag.String("only", "", "comma-separated subset of sections tcp,udp,ike,failover,rekey and paths ss,sv,wg,vv,vu (vpgw ↔ vpgw with ESP in UDP); "+
		"paths narrow tcp and udp, a path alone means its TCP throughput (default all)")
	flUDPTime  = flag.Int("udp-t", 4, "iperf3 -u seconds per small-packet measurement")
	flUDPSizes = flag.String("udp-sizes", "64,200", "UDP payload sizes (iperf3 -l) for the small-packet rate")
	flUDPRate  = flag.String("udp-b", "0", "iperf3 -u offered load (-b; 0 = as fast as the sender can)")
	flFoRate   = flag.Int("failover-pps", 1000, "packets/s of each failover stream")
	flRkRate   = flag.Int("rekey-pps", 2000, "packets/s of each rekey stream")
	flRkRounds = flag.Int("rekey-rounds", 4, "CHILD_SA rekeys started by each side during the rekey stream")
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

var (
	sectionKeys = []string{"tcp", "udp", "ike", "failover", "rekey"}
	pathKeys    = []string{"ss", "sv", "wg", "vv", "vu"}
)

// listed reports whether --only names what.
func listed(what string) bool {
	for _, f := range strings.Split(*flOnly, ",") {
		if strings.TrimSpace(f) == what {
			return true
		}
	}
	return false
}

func anyListed(keys []string) bool {
	for _, k := range keys {
		if listed(k) {
			return true
		}
	}
	return false
}

// checkOnly rejects --only keys that select nothing.
func checkOnly() error {
	if *flOnly == "" {
		return nil
	}
	for _, f := range strings.Split(*flOnly, ",") {
		f = strings.TrimSpace(f)
		if f != "" && !slices.Contains(sectionKeys, f) && !slices.Contains(pathKeys, f) {
			return fmt.Errorf("--only: unknown %q (sections %s, paths %s)", f,
				strings.Join(sectionKeys, ","), strings.Join(pathKeys, ","))
		}
	}
	return nil
}

// want reports whether --only selects a section (tcp, udp, ike, failover,
// rekey) or a path (ss, sv, wg, vv) of the tcp and udp sections. Without
// --only everything runs. Paths narrow tcp and udp; paths listed without
// tcp or udp mean TCP throughput (as before there was a udp section), so
// `-only ss,sv,ike` still measures TCP for ss and sv plus SAs/s.
func want(what string) bool {
	if *flOnly == "" {
		return true
	}
	paths := anyListed(pathKeys)
	switch {
	case what == "tcp":
		return listed("tcp") || (paths && !listed("udp"))
	case slices.Contains(pathKeys, what):
		return !paths || listed(what)
	}
	return listed(what)
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

// results is everything one run measured.
type results struct {
	tputs     []tput
	udps      []udpRate
	rates     []saRate
	failovers []failover
	rekeys    []rekeyRun
}

const (
	pathSS = "strongSwan CGW ↔ strongSwan (libipsec) responder"
	pathSV = "strongSwan CGW ↔ vpgw"
)

func intList(flagName, v string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q", flagName, v)
		}
		out = append(out, n)
	}
	return out, nil
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
	if err := checkOnly(); err != nil {
		return err
	}
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
	if wgBin == "" && want("wg") && (want("tcp") || want("udp")) {
		if wgBin, err = lab.FindWireGuardGo(); err != nil {
			logf("%v", err)
		}
	}
	flows, err := intList("--flows", *flFlows)
	if err != nil {
		return err
	}
	sizes, err := intList("--udp-sizes", *flUDPSizes)
	if err != nil {
		return err
	}
	lab.CleanupStale(prefix, os.Stderr)

	var res results
	type scen struct {
		key, path string
		setup     func(l *lab.Lab) (cgwPID, vgwPID int, err error)
	}
	scens := []scen{
		{"ss", pathSS, setupSS},
		{"sv", pathSV, func(l *lab.Lab) (int, int, error) { return setupSV(l, vpgwBin) }},
		{"wg", "wireguard-go ↔ wireguard-go", func(l *lab.Lab) (int, int, error) {
			if wgBin == "" {
				return 0, 0, errors.New("wireguard-go not installed")
			}
			return setupWG(l, wgBin)
		}},
		{"vv", "vpgw (initiating, cgw) ↔ vpgw", func(l *lab.Lab) (int, int, error) { return setupVV(l, vpgwBin, false) }},
		{"vu", "vpgw (initiating, cgw) ↔ vpgw, ESP in UDP (force_udp_encapsulation)", func(l *lab.Lab) (int, int, error) { return setupVV(l, vpgwBin, true) }},
	}
	for _, s := range scens {
		doTCP, doUDP := want("tcp") && want(s.key), want("udp") && want(s.key)
		if !doTCP && !doUDP {
			continue
		}
		var fl, sz []int
		if doTCP {
			fl = flows
		}
		if doUDP {
			sz = sizes
		}
		logf("path: %s (TCP %v, UDP %v)", s.path, doTCP, doUDP)
		t, u := measurePath(s.path, fl, sz, s.setup)
		res.tputs = append(res.tputs, t...)
		res.udps = append(res.udps, u...)
	}

	if want("ike") {
		for _, dh := range []string{"modp2048", "x25519"} {
			for _, resp := range []string{"strongSwan", "vpgw"} {
				logf("IKE SAs/s: %s responder, %s, %d SAs", resp, dh, *flSAs)
				res.rates = append(res.rates, measureSAs(resp, dh, vpgwBin, ikeloadBin))
			}
		}
	}
	if want("failover") {
		for _, resp := range []string{"vpgw", "strongSwan"} {
			logf("failover: %s responder, two tunnels, tunnel 1 cut", resp)
			res.failovers = append(res.failovers, measureFailover(resp, vpgwBin)...)
		}
	}
	if want("rekey") {
		for _, resp := range []string{"vpgw", "strongSwan"} {
			logf("rekeys: %s responder, one tunnel", resp)
			res.rekeys = append(res.rekeys, measureRekeys(resp, vpgwBin)...)
		}
	}

	table := render(start, res)
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
