package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vpgw/vpgw/lab"
)

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

// measurePath brings up one path in a fresh lab and measures TCP
// throughput for each of flows and the small-packet rate for each of sizes
// (either may be empty).
func measurePath(path string, flows, sizes []int, setup func(*lab.Lab) (int, int, error)) ([]tput, []udpRate) {
	notMeasured := func(err error) ([]tput, []udpRate) {
		msg := firstLine(err.Error())
		logf("  %s: not measured: %v", path, err)
		var out []tput
		for _, n := range flows {
			out = append(out, tput{path: path, flows: n, note: "not measured: " + msg})
		}
		var uout []udpRate
		for _, n := range sizes {
			uout = append(uout, udpRate{path: path, size: n, note: "not measured: " + msg})
		}
		return out, uout
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
		out = append(out, measureTCP(l, path, n, cgwPID, vgwPID))
	}
	var uout []udpRate
	for _, n := range sizes {
		uout = append(uout, measureUDP(l, path, n, cgwPID, vgwPID))
	}
	return out, uout
}

// measureTCP runs one iperf3 TCP transfer with n flows.
func measureTCP(l *lab.Lab, path string, n, cgwPID, vgwPID int) tput {
	r := tput{path: path, flows: n}
	waitQuiet(fmt.Sprintf("%s, %d flow(s)", path, n))
	var ij iperfJSON
	cgwCPU, vgwCPU, err := runIperf(l, cgwPID, vgwPID, *flDuration, &ij, "-t", strconv.Itoa(*flDuration), "-P", strconv.Itoa(n))
	if err != nil {
		r.note = "not measured: " + firstLine(err.Error())
		return r
	}
	r.mbps = ij.End.SumReceived.BitsPerSecond / 1e6
	r.bytes = ij.End.SumReceived.Bytes
	r.cgwCPU, r.vgwCPU = cgwCPU, vgwCPU
	logf("  %d flow(s): %.0f Mbit/s, CPU cgw %.2fs vgw %.2fs for %.2f GB; load %s", n, r.mbps, r.cgwCPU, r.vgwCPU, r.bytes/1e9, loadavg())
	return r
}

// runIperf runs iperf3 in the on-prem namespace against the VPC's server
// for about secs seconds (three tries), decodes its JSON report into out,
// and returns the CPU seconds the two gateway processes used meanwhile.
func runIperf(l *lab.Lab, cgwPID, vgwPID, secs int, out interface{ iperfError() string }, args ...string) (cgwCPU, vgwCPU float64, err error) {
	c0, err1 := cpuSeconds(cgwPID)
	v0, err2 := cpuSeconds(vgwPID)
	args = append([]string{"netns", "exec", l.NS(lab.RoleOnprem), "iperf3", "-c", lab.VPCIP, "-J", "--connect-timeout", "5000"}, args...)
	var js []byte
	for try := 0; try < 3; try++ {
		js, err = cmdOut(time.Duration(secs+30)*time.Second, "ip", args...)
		if err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	c1, err3 := cpuSeconds(cgwPID)
	v1, err4 := cpuSeconds(vgwPID)
	if err = errors.Join(err, err1, err2, err3, err4); err != nil {
		return 0, 0, err
	}
	if err := json.Unmarshal(js, out); err != nil {
		return 0, 0, fmt.Errorf("iperf3: %w", err)
	}
	if e := out.iperfError(); e != "" {
		return 0, 0, fmt.Errorf("iperf3: %s", e)
	}
	return c1 - c0, v1 - v0, nil
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

type tput struct {
	path   string
	flows  int
	mbps   float64
	bytes  float64
	cgwCPU float64 // seconds during the transfer
	vgwCPU float64
	note   string // "not measured: ..." when it failed
}

func (j *iperfJSON) iperfError() string { return j.Error }
