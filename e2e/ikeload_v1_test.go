package e2e

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/lab"
)

// IKEv1 load: cmd/ikeload --ike-version 1 from the customer gateway's
// namespace, 50 ISAKMP SAs (Main Mode, PSK) with one Quick Mode each (ESP
// aes128-gcm-16, PFS modp2048), 8 in flight, held a while, then deleted.
const (
	loadV1Count = 50
	loadV1Conc  = 8
	loadV1DH    = "modp2048"
)

// runIkeloadV1 starts ikeload against 203.0.113.2 with --hold (the PSK goes
// through the environment, never the command line), calls during once
// ikeload holds the SAs, and returns its summary after the DELETEs.
func runIkeloadV1(t *testing.T, l *lab.Lab, hold time.Duration, during func(load *lab.Proc)) ikeloadResult {
	t.Helper()
	load, err := l.Start(l.NS(lab.RoleCGW), "ikeload-v1", []string{"IKELOAD_PSK=" + labPSK}, ikeloadBinary(t),
		"--ike-version", "1", "--count", strconv.Itoa(loadV1Count), "--concurrency", strconv.Itoa(loadV1Conc), "--dh", loadV1DH,
		"--target", lab.VGWOutside1, "--local", lab.CGWWANIP, "--timeout", "1s", "--hold", hold.String(), "--json")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ikeload log (tail):\n%s", load.Tail(4000))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(load.Tail(4000), "holding them") {
		if !load.Running() || time.Now().After(deadline) {
			t.Fatalf("ikeload did not reach its hold: %v\n%s", load.Err(), load.Tail(4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	during(load)
	select {
	case <-load.Done():
	case <-time.After(hold + 60*time.Second):
		t.Fatalf("ikeload still running %v after its hold began\n%s", hold+60*time.Second, load.Tail(4000))
	}
	if logText, _ := os.ReadFile(load.LogPath); bytes.Contains(logText, []byte(labPSK)) {
		t.Errorf("ikeload's output shows the PSK")
	}
	res := ikeloadSummary(t, load)
	if load.Err() != nil || res.Count != loadV1Count || res.Established != loadV1Count || res.Failed != 0 ||
		res.Deleted != loadV1Count || res.DeleteFails != 0 || res.DeletedByPeer != 0 {
		t.Errorf("ikeload: exit %v, %d/%d established, %d failed %v, %d deleted, %d not sent, %d deleted by the responder",
			load.Err(), res.Established, res.Count, res.Failed, res.Failures, res.Deleted, res.DeleteFails, res.DeletedByPeer)
	}
	return res
}

// TestIkeloadV1 runs the IKEv1 load against vpgw's tunnel 1 (AWS's default
// options, IKEv1 and IKEv2 allowed) and against strongSwan as the IKEv1
// responder in the VGW namespace.
func TestIkeloadV1(t *testing.T) {
	t.Run("vpgw", func(t *testing.T) {
		l := newLab(t, "vpgw-e2eld1v", false)
		t1, t2 := defaultTunnels()
		v := startVPGW(t, l, labConfig(l.Dir()+"/vpgw", lab.CGWWANIP, t1, t2))
		ikeSAs := func(t *testing.T) (float64, bool) {
			for k, val := range v.metrics(t) {
				if strings.HasPrefix(k, "vpgw_tunnel_ike_sas{") && strings.Contains(k, `outside_ip="`+lab.VGWOutside1+`"`) {
					return val, true
				}
			}
			return 0, false
		}
		// 15 s: vpgw's DPD (10 s idle) asks during the hold; unanswered, it
		// would clear the tunnel.
		res := runIkeloadV1(t, l, 15*time.Second, func(*lab.Proc) {
			var held float64
			for deadline := time.Now().Add(10 * time.Second); held != loadV1Count && time.Now().Before(deadline); {
				time.Sleep(500 * time.Millisecond)
				held, _ = ikeSAs(t)
			}
			if held != loadV1Count {
				t.Errorf("during the hold vpgw holds %v ISAKMP SAs on tunnel 1 (vpgw_tunnel_ike_sas), want %d", held, loadV1Count)
			}
			if st := v.tunnel(t, 1); !isUp(st) || st.IKEVersion != "ikev1" {
				t.Errorf("during the hold tunnel 1 is %s (%s), want UP with ikev1", st.Status, st.IKEVersion)
			}
		})
		t.Logf("ikeload v1 → vpgw: %d/%d SAs (%s, %d in flight) in %.2fs: %.1f SAs/s, p50 %.1f ms, p99 %.1f ms; %d DELETEs in %.2fs",
			res.Established, res.Count, loadV1DH, loadV1Conc, res.Seconds, res.SAsPerSec, res.LatencyMS.P50, res.LatencyMS.P99, res.Deleted, res.DeleteSecs)
		if n := countLines(v.proc.Tail(1<<22), "tunnel=vpn-1/1", "R-U-THERE-ACK received"); n == 0 {
			t.Errorf("vpgw's R-U-THERE got no ACK from ikeload during the 15 s hold")
		}
		// Every SA deleted: tunnel 1 DOWN, no ISAKMP SA left.
		st := v.waitTunnel(t, 1, 15*time.Second, "DOWN", isDown)
		if !strings.Contains(st.StatusMessage, "deleted by peer") {
			t.Errorf("after ikeload's DELETEs status_message = %q, want 'deleted by peer'", st.StatusMessage)
		}
		if n, ok := ikeSAs(t); !ok || n != 0 {
			t.Errorf("after the DELETEs vpgw holds %v ISAKMP SAs", n)
		}
	})

	t.Run("strongswan", func(t *testing.T) {
		l := newLab(t, "vpgw-e2eld1s", false)
		ch, err := l.StartCharon(lab.CharonConfig{NS: lab.RoleVGW, Name: "v1-responder", IKEVersion: 1, PSK: labPSK,
			IKEProposal: "aes128-sha256-modp2048", ESPProposal: "aes128gcm16-modp2048"})
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Stop()
		logOnFailure(t, ch)
		established := func() int {
			out, _ := ch.Swanctl("--list-sas", "--noblock")
			return strings.Count(string(out), "ESTABLISHED, IKEv1")
		}
		res := runIkeloadV1(t, l, 3*time.Second, func(*lab.Proc) {
			if n := established(); n != loadV1Count {
				t.Errorf("during the hold charon holds %d IKEv1 SAs, want %d", n, loadV1Count)
			}
		})
		t.Logf("ikeload v1 → strongSwan: %d/%d SAs (%s, %d in flight) in %.2fs: %.1f SAs/s, p50 %.1f ms, p99 %.1f ms; %d DELETEs in %.2fs",
			res.Established, res.Count, loadV1DH, loadV1Conc, res.Seconds, res.SAsPerSec, res.LatencyMS.P50, res.LatencyMS.P99, res.Deleted, res.DeleteSecs)
		deadline := time.Now().Add(10 * time.Second)
		for established() != 0 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if n := established(); n != 0 {
			t.Errorf("after the DELETEs charon still holds %d IKEv1 SAs", n)
		}
	})
}
