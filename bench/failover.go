package main

// Failover gap: the responder (vpgw or strongSwan) holds two tunnels to a
// strongSwan CGW (static routing, equal selectors); a sequence-numbered UDP
// stream runs each way; tunnel 1's outside address is cut in the WAN (both
// directions, silently, as lab.Cut does). Each side must notice by dead peer
// detection and move its traffic to tunnel 2: the CGW for on-prem -> VPC,
// the responder for VPC -> on-prem.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vpgw/vpgw/lab"
)

const (
	// The CGW's liveness checks (both rows): strongSwan probes after
	// dpd_delay idle and declares the peer dead after the lab's IKEv2
	// retransmissions (2 s, ×1.4, 3 tries: about 14 s).
	foCGWDPDDelay = 2 * time.Second
	// strongSwan as responder probes after the same idle time as vpgw
	// (vpgw's is fixed at 10 s), then the same retransmissions.
	foSwanVGWDPDDelay = 10 * time.Second
	// vpgw's dpd_timeout: AWS's minimum, which vpgw's config enforces.
	foVPGWDPDTimeout = "30s"
	foWait           = 75 * time.Second // after the cut, for both verdicts and both streams to resume
)

var (
	dpdCGW      = fmt.Sprintf("strongSwan CGW: dpd_delay %v, dead after retransmits 2 s ×1.4, 3 tries (≈14 s)", foCGWDPDDelay)
	dpdVPGW     = "vpgw: probe after 10 s idle (fixed), dpd_timeout " + foVPGWDPDTimeout + " from the last packet received (AWS minimum)"
	dpdSwanVGW  = fmt.Sprintf("strongSwan: dpd_delay %v, dead after retransmits 2 s ×1.4, 3 tries (≈14 s)", foSwanVGWDPDDelay)
	dirUp       = "on-prem → VPC"
	dirDown     = "VPC → on-prem"
	cgwDecides  = "CGW"
	respDecides = "responder"
)

type failover struct {
	responder string
	direction string
	decider   string // whose dead peer detection moves this direction
	dpd       string // that side's settings
	pps       int
	res       streamResult
	gapStart  time.Duration // last packet before the gap, relative to the cut
	verdict   time.Duration // the deciding side's verdict, relative to the cut (0: not seen)
	exact     bool          // verdict is a timestamp from the deciding side, not from polling
	resumed   time.Duration // first packet after the gap, relative to the cut
	note      string
}

// twoTunnelCGW is the customer gateway of the failover lab: t2 then t1 are
// brought up (so t1 holds the newest CHILD_SA, the one strongSwan sends on,
// and also vpgw's preferred tunnel); it never initiates again by itself.
func twoTunnelCGW() lab.CharonConfig {
	return lab.CharonConfig{
		PSK: psk1,
		Connections: []lab.CharonConn{
			{Name: "t2", RemoteAddr: lab.VGWOutside2, PSK: psk2},
			{Name: "t1", RemoteAddr: lab.VGWOutside1, PSK: psk1},
		},
		StartAction: "none", DPDAction: "clear", Initiate: true,
		DPDDelay: foCGWDPDDelay,
	}
}

func measureFailover(responder, vpgwBin string) (out []failover) {
	rows := []failover{
		{responder: responder, direction: dirUp, decider: cgwDecides, dpd: dpdCGW, pps: *flFoRate},
		{responder: responder, direction: dirDown, decider: respDecides, dpd: dpdVPGW, pps: *flFoRate},
	}
	if responder != "vpgw" {
		rows[1].dpd = dpdSwanVGW
	}
	fail := func(err error) []failover {
		logf("  failover %s: not measured: %v", responder, err)
		for i := range rows {
			rows[i].note = "not measured: " + firstLine(err.Error())
		}
		return rows
	}
	l, err := newLab()
	if err != nil {
		return fail(err)
	}
	defer downLab(l)

	// The responder's verdict on tunnel 1: vpgw marks it DOWN; strongSwan's
	// DPD (action clear) deletes the CHILD_SA.
	var respT1Dead func() bool
	var cgw *lab.Charon
	// respExact, when set, is the exact time of the responder's verdict
	// (from vpgw's log); polling only brackets it.
	var respExact func() time.Time
	switch responder {
	case "vpgw":
		p, err := startVPGW(l, vpgwBin, lab.RoleVGW, "vpgw", false,
			[]string{"dpd_timeout: " + foVPGWDPDTimeout, "dpd_timeout_action: clear"},
			[]string{"dpd_timeout: " + foVPGWDPDTimeout})
		if err != nil {
			return fail(err)
		}
		if *flVerbose {
			defer func() { logLines("vpgw log", p.LogPath, "DPD", "dead", "route") }()
		}
		sock := vpgwSocket(l, "vpgw")
		respT1Dead = func() bool {
			ts, err := vpgwTunnels(vpgwBin, sock)
			return err == nil && len(ts) > 0 && ts[0].Status != "UP"
		}
		respExact = func() time.Time { return vpgwDownAt(p.LogPath, "vpn-1/1") }
		if cgw, err = l.StartCharon(twoTunnelCGW()); err != nil {
			return fail(err)
		}
		for i := 1; i <= 2; i++ {
			if err := waitVPGWTunnel(vpgwBin, sock, i, 30*time.Second); err != nil {
				return fail(err)
			}
		}
	default:
		v, err := l.StartCharon(lab.CharonConfig{
			NS: lab.RoleVGW,
			Connections: []lab.CharonConn{
				{Name: "t2", LocalAddr: lab.VGWOutside2, RemoteAddr: l.CGWPublicIP(), PSK: psk2},
				{Name: "t1", LocalAddr: lab.VGWOutside1, RemoteAddr: l.CGWPublicIP(), PSK: psk1},
			},
			StartAction: "none", DPDAction: "clear", DPDDelay: foSwanVGWDPDDelay,
		})
		if err != nil {
			return fail(err)
		}
		respT1Dead = func() bool { return swanChildGone(v, "t1") }
		if cgw, err = l.StartCharon(twoTunnelCGW()); err != nil {
			return fail(err)
		}
		for _, c := range []string{"t1", "t2"} {
			if err := v.WaitChild(c, 30*time.Second); err != nil {
				return fail(err)
			}
		}
	}
	cgwT1Dead := func() bool { return swanChildGone(cgw, "t1") }
	if err := l.WaitPing(lab.RoleOnprem, lab.VPCIP, 20*time.Second); err != nil {
		return fail(err)
	}
	if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 20*time.Second); err != nil {
		return fail(err)
	}

	waitQuiet("failover " + responder)
	up, down, err := startStreamPair(l, *flFoRate, 64)
	if err != nil {
		return fail(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			up.stop(0)
			down.stop(0)
		}
	}()
	time.Sleep(2 * time.Second)
	if up.received() == 0 || down.received() == 0 {
		return fail(fmt.Errorf("streams not flowing before the cut (%d up, %d down received)", up.received(), down.received()))
	}
	cutWall := time.Now()
	if err := l.Cut(lab.VGWOutside1); err != nil {
		return fail(err)
	}
	logf("  cut %s; waiting for dead peer detection on both sides", lab.VGWOutside1)
	var cgwVerdict, respVerdict time.Duration
	resumed := func(s *stream) bool {
		return s.lastArrival() > cutWall.Sub(s.start)+time.Second
	}
	deadline := cutWall.Add(foWait)
	for time.Now().Before(deadline) {
		if cgwVerdict == 0 && cgwT1Dead() {
			cgwVerdict = time.Since(cutWall)
			logf("  CGW: tunnel 1 dead after %.1fs", cgwVerdict.Seconds())
		}
		if respVerdict == 0 && respT1Dead() {
			respVerdict = time.Since(cutWall)
			logf("  %s: tunnel 1 dead after %.1fs", responder, respVerdict.Seconds())
		}
		if cgwVerdict > 0 && respVerdict > 0 && resumed(up) && resumed(down) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var exact bool
	if respExact != nil && respVerdict > 0 {
		if t := respExact(); !t.IsZero() && t.After(cutWall) {
			respVerdict, exact = t.Sub(cutWall), true
		}
	}
	time.Sleep(2 * time.Second)
	stopped = true
	results := []streamResult{up.stop(500 * time.Millisecond), down.stop(500 * time.Millisecond)}
	streams := []*stream{up, down}
	verdicts := []time.Duration{cgwVerdict, respVerdict}
	for i := range rows {
		r, s := results[i], streams[i]
		cut := cutWall.Sub(s.start)
		rows[i].res = r
		rows[i].verdict = verdicts[i]
		rows[i].exact = i == 1 && exact
		rows[i].gapStart, rows[i].resumed = r.gapFrom-cut, r.gapTo-cut
		switch {
		case r.gapTo < cut+time.Second:
			rows[i].note = fmt.Sprintf("did not resume within %v of the cut", foWait)
		case verdicts[i] == 0:
			rows[i].note = "no verdict seen"
		}
		logf("  %s: gap %.0f ms (from %+.0f ms to %+.0f ms around the cut at %.1fs), %d of %d lost (%d in the gap, %d by the receiving socket; bursts %v), %d reordered, %d dups, verdict %+.1fs; %s",
			rows[i].direction, r.gap.Seconds()*1000, rows[i].gapStart.Seconds()*1000, rows[i].resumed.Seconds()*1000, cut.Seconds(),
			r.lost, r.sent, r.lostInGap, r.rcvbufDrops, r.bursts, r.reordered, r.dups, verdicts[i].Seconds(), rows[i].note)
	}
	return rows
}

// startStreamPair starts a stream on-prem -> VPC and one VPC -> on-prem.
func startStreamPair(l *lab.Lab, pps, size int) (up, down *stream, err error) {
	up, err = startStream("on-prem→VPC", l.NS(lab.RoleOnprem), lab.OnpremIP, l.NS(lab.RoleVPC), lab.VPCIP, 40001, pps, size)
	if err != nil {
		return nil, nil, err
	}
	down, err = startStream("VPC→on-prem", l.NS(lab.RoleVPC), lab.VPCIP, l.NS(lab.RoleOnprem), lab.OnpremIP, 40002, pps, size)
	if err != nil {
		up.stop(0)
		return nil, nil, err
	}
	return up, down, nil
}

// logLines shows the lines of a log that hold any of words (with -v).
func logLines(what, path string, words ...string) {
	b, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(b), "\n") {
		for _, w := range words {
			if strings.Contains(line, w) {
				logf("  %s: %s", what, line)
				break
			}
		}
	}
}

// swanChildGone reports whether charon no longer holds an IKE_SA or
// CHILD_SA named name. It lists without --noblock (which skips an IKE_SA
// that is busy, retransmitting a liveness check say, and so would report
// it gone too early); a listing that fails or hangs counts as not gone.
func swanChildGone(c *lab.Charon, name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "swanctl", "--list-sas", "--ike", name, "--raw")
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+filepath.Join(c.Dir(), "strongswan.conf"),
		"SWANCTL_DIR="+filepath.Join(c.Dir(), "swanctl"))
	out, err := cmd.Output()
	if err != nil {
		return false
	}
	return !strings.Contains(string(out), "name="+name+" ") || !strings.Contains(string(out), "state=INSTALLED")
}

// vpgwDownAt is when vpgw's log last reported the tunnel DOWN (its
// millisecond timestamp; status's last_status_change has whole seconds).
func vpgwDownAt(logPath, tunnel string) time.Time {
	b, _ := os.ReadFile(logPath)
	var at time.Time
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `msg="tunnel DOWN"`) || !strings.Contains(line, "tunnel="+tunnel+" ") {
			continue
		}
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "time=") {
			if t, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(f[0], "time=")); err == nil {
				at = t
			}
		}
	}
	return at
}
