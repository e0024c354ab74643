package main

// Loss across rekeys: the responder (vpgw or strongSwan) holds one tunnel to
// a strongSwan CGW; a sequence-numbered UDP stream runs each way while both
// sides rekey the CHILD_SA and the IKE SA on command (vpgw tunnel rekey,
// swanctl --rekey), one after the other and once both at the same moment.

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/vpgw/vpgw/lab"
)

type rekeyRun struct {
	responder string
	direction string
	pps       int
	// Rekeys asked for (commands that succeeded): CHILD_SA by the
	// responder and by the CGW, both at once, IKE SA by each side.
	childResp, childCGW, collisions, ikeResp, ikeCGW int
	// What the CGW's charon log shows over the run: CHILD_SAs established
	// and IKE SAs rekeyed (whoever started them), and negotiations that
	// failed (a proposal refused either way).
	childDone, ikeDone, refused int
	res                         streamResult
	// The same stream with no rekey: lost in the quiet first part (its
	// length), as a control for loss the machine causes by itself.
	quiet     time.Duration
	quietLost int
	rekeyLost int    // lost from the first rekey on
	events    string // when each rekey was asked for, since the streams started
	note      string
}

var (
	childEstRE = regexp.MustCompile(`CHILD_SA t1\{(\d+)\} established`)
	ikeRekeyRE = regexp.MustCompile(`IKE_SA t1\[\d+\] rekeyed`)
	refusedRE  = regexp.MustCompile(`NO_PROPOSAL_CHOSEN|no acceptable proposal|TS_UNACCEPTABLE|rekeying failed|failed to establish`)
)

// rekeyESP is the ESP proposal of both charons in the rekey runs: with PFS,
// as AWS requires for phase 2, so CHILD_SA rekeys started by vpgw (which
// always offer a KE) are accepted.
const rekeyESP = "aes128gcm16-modp2048"

// rekeyQuiet is how long the streams run before the first rekey: a
// control for loss without rekeys.
const rekeyQuiet = 4 * time.Second

// rekeySpacing is the time between two rekeys asked for.
const rekeySpacing = 1500 * time.Millisecond

func measureRekeys(responder, vpgwBin string) []rekeyRun {
	rows := []rekeyRun{
		{responder: responder, direction: dirUp, pps: *flRkRate},
		{responder: responder, direction: dirDown, pps: *flRkRate},
	}
	fail := func(err error) []rekeyRun {
		logf("  rekeys %s: not measured: %v", responder, err)
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

	var respRekey func(ike bool) error
	var cgw *lab.Charon
	switch responder {
	case "vpgw":
		p, err := startVPGW(l, vpgwBin, lab.RoleVGW, "vpgw", false, nil, nil)
		if err != nil {
			return fail(err)
		}
		if *flVerbose {
			defer func() { logLines("vpgw log", p.LogPath, "rekey", "CHILD_SA", "IKE SA", "collision") }()
		}
		sock := vpgwSocket(l, "vpgw")
		respRekey = func(ike bool) error {
			args := []string{"tunnel", "rekey", "--socket", sock, "--connection", "vpn-1", "--tunnel", "1"}
			if ike {
				args = append(args, "--ike")
			}
			_, err := cmdOut(10*time.Second, vpgwBin, args...)
			return err
		}
		if cgw, err = l.StartCharon(lab.CharonConfig{PSK: psk1, ESPProposal: rekeyESP}); err != nil {
			return fail(err)
		}
		if err := waitVPGWTunnel(vpgwBin, sock, 1, 30*time.Second); err != nil {
			return fail(err)
		}
	default:
		v, err := l.StartCharon(lab.CharonConfig{NS: lab.RoleVGW, PSK: psk1, ESPProposal: rekeyESP})
		if err != nil {
			return fail(err)
		}
		respRekey = func(ike bool) error { return swanRekey(v, ike) }
		if cgw, err = l.StartCharon(lab.CharonConfig{PSK: psk1, ESPProposal: rekeyESP}); err != nil {
			return fail(err)
		}
		if err := v.WaitChild("t1", 30*time.Second); err != nil {
			return fail(err)
		}
	}
	if err := cgw.WaitChild("t1", 30*time.Second); err != nil {
		return fail(err)
	}
	if err := l.WaitPing(lab.RoleOnprem, lab.VPCIP, 20*time.Second); err != nil {
		return fail(err)
	}
	if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 20*time.Second); err != nil {
		return fail(err)
	}

	waitQuiet("rekeys " + responder)
	logOff := fileSize(cgw.LogPath())
	up, down, err := startStreamPair(l, *flRkRate, 64)
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
	var childResp, childCGW, collisions, ikeResp, ikeCGW int
	var errs, events []string
	note := func(what string, err error) bool {
		if err != nil {
			errs = append(errs, what+": "+firstLine(err.Error()))
			logf("  %s: %v", what, err)
			return false
		}
		return true
	}
	// do runs one rekey command and notes when it was started.
	do := func(what string, f func() error) bool {
		events = append(events, fmt.Sprintf("%s@%.1fs", what, time.Since(up.start).Seconds()))
		return note(what, f())
	}
	time.Sleep(rekeyQuiet)
	firstRekey := time.Since(up.start)
	for i := 0; i < *flRkRounds; i++ {
		if do("responder CHILD", func() error { return respRekey(false) }) {
			childResp++
		}
		time.Sleep(rekeySpacing)
		if do("CGW CHILD", func() error { return swanRekey(cgw, false) }) {
			childCGW++
		}
		time.Sleep(rekeySpacing)
	}
	if do("responder IKE", func() error { return respRekey(true) }) {
		ikeResp++
	}
	time.Sleep(2 * rekeySpacing)
	if do("CGW IKE", func() error { return swanRekey(cgw, true) }) {
		ikeCGW++
	}
	time.Sleep(2 * rekeySpacing)
	// Both sides at once: a CHILD_SA rekey collision.
	var wg sync.WaitGroup
	var e1, e2 error
	events = append(events, fmt.Sprintf("both CHILD@%.1fs", time.Since(up.start).Seconds()))
	wg.Add(2)
	go func() { defer wg.Done(); e1 = respRekey(false) }()
	go func() { defer wg.Done(); e2 = swanRekey(cgw, false) }()
	wg.Wait()
	if note("responder CHILD rekey (collision)", e1) && note("CGW CHILD rekey (collision)", e2) {
		collisions++
	}
	time.Sleep(3 * time.Second)
	stopped = true
	results := []streamResult{up.stop(500 * time.Millisecond), down.stop(500 * time.Millisecond)}

	logf("  rekeys started (since the streams started): %s", strings.Join(events, ", "))
	logText := readFrom(cgw.LogPath(), logOff)
	if *flVerbose {
		for _, line := range strings.Split(logText, "\n") {
			if strings.Contains(line, "established") || strings.Contains(line, "rekey") || refusedRE.MatchString(line) {
				logf("  CGW log: %s", line)
			}
		}
	}
	ids := map[string]bool{}
	for _, m := range childEstRE.FindAllStringSubmatch(logText, -1) {
		ids[m[1]] = true // one "inbound" and one "outbound" line each
	}
	childDone := len(ids)
	ikeDone := len(ikeRekeyRE.FindAllString(logText, -1))
	refused := len(refusedRE.FindAllString(logText, -1))
	stillUp, _ := cgw.ChildInstalled("t1")
	for i := range rows {
		r := &rows[i]
		r.childResp, r.childCGW, r.collisions, r.ikeResp, r.ikeCGW = childResp, childCGW, collisions, ikeResp, ikeCGW
		r.childDone, r.ikeDone, r.refused = childDone, ikeDone, refused
		r.events = strings.Join(events, ", ")
		r.res = results[i]
		st := []*stream{up, down}[i]
		first := firstRekey - st.start.Sub(up.start) // in this stream's time
		r.quiet = first
		r.quietLost = st.lostIn(0, first)
		r.rekeyLost = st.lostIn(first, time.Duration(1<<62))
		if len(errs) > 0 {
			r.note = strings.Join(errs, "; ")
		}
		if !stillUp {
			r.note = strings.TrimPrefix(r.note+"; tunnel not up afterwards", "; ")
		}
		logf("  %s: lost %d by the receiving socket; loss bursts %v; longest gap from %.2fs", r.direction, r.res.rcvbufDrops, r.res.bursts, r.res.gapFrom.Seconds())
		logf("  %s: %d lost in the first %v without rekeys, %d from the first rekey on", r.direction, r.quietLost, rekeyQuiet, r.rekeyLost)
		logf("  %s at %d pkt/s: %d sent, %d lost, longest gap %.0f ms; rekeys asked: CHILD %d by %s, %d by CGW, %d both at once; IKE %d + %d; CGW log: %d CHILD_SAs established, %d IKE SAs rekeyed, %d refusals",
			r.direction, r.pps, r.res.sent, r.res.lost, r.res.gap.Seconds()*1000, childResp, responder, childCGW, collisions, ikeResp, ikeCGW, childDone, ikeDone, refused)
	}
	return rows
}

// swanRekey asks a charon to rekey its t1 CHILD_SA (or IKE SA).
func swanRekey(c *lab.Charon, ike bool) error {
	kind := "--child"
	if ike {
		kind = "--ike"
	}
	_, err := c.Swanctl("--rekey", kind, "t1")
	return err
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func readFrom(path string, off int64) string {
	b, err := os.ReadFile(path)
	if err != nil || off > int64(len(b)) {
		return ""
	}
	return string(b[off:])
}
