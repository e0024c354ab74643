package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpgw/vpgw/gateway"
	"github.com/vpgw/vpgw/lab"
)

// rekeyNow runs `vpgw tunnel rekey` as an operator would.
func (v *vpgwInstance) rekeyNow(t *testing.T, tunnel int, ikeSA bool) {
	t.Helper()
	args := []string{"tunnel", "rekey", "--socket", v.socket, "--connection", "vpn-1", "--tunnel", fmt.Sprint(tunnel)}
	if ikeSA {
		args = append(args, "--ike")
	}
	if out, err := exec.Command(v.bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("vpgw %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestRekeysUnderLoadLoseNothing: a continuous ping crosses 20 CHILD_SA
// rekeys started by vpgw, 20 started by strongSwan, one IKE rekey each way
// and rekeys started by both sides at once, and loses no packet.
func TestRekeysUnderLoadLoseNothing(t *testing.T) {
	for _, version := range []int{2, 1} {
		t.Run(fmt.Sprintf("ikev%d", version), func(t *testing.T) {
			l := newLab(t, fmt.Sprintf("vpgw-e2erk%d", version), false)
			t1, t2 := defaultTunnels()
			v := startVPGW(t, l, labConfig(l.Dir()+"/vpgw", lab.CGWWANIP, t1, t2))
			c := twoTunnelCharon("cgw", version)
			c.Connections = c.Connections[:1]
			// PFS, as AWS requires of phase 2: vpgw's own CHILD_SA rekeys
			// offer it, and a customer gateway without it refuses them.
			c.ESPProposal = "aes128gcm16-modp2048"
			ch, err := l.StartCharon(c)
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Stop()
			logOnFailure(t, ch)
			v.waitTunnel(t, 1, 30*time.Second, "UP", isUp)
			if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			swan := func(args ...string) {
				t.Helper()
				if out, err := ch.Swanctl(args...); err != nil {
					t.Fatalf("swanctl %v: %v\n%s", args, err, out)
				}
			}
			pg := startPing(t, l, lab.RoleVPC, lab.OnpremIP, 100*time.Millisecond)
			for i := 0; i < 20; i++ {
				v.rekeyNow(t, 1, false)
				time.Sleep(400 * time.Millisecond)
			}
			// Every rekey asked of vpgw must have completed, not only been
			// started: the log tells each one.
			done := map[int]*regexp.Regexp{
				2: regexp.MustCompile(`CHILD_SA rekey: [^"]* replaced by`),
				1: regexp.MustCompile(`IPsec SA rekeyed \(replaces [^)]*\) \(initiated by us\)`),
			}[version]
			if n := len(done.FindAllString(v.proc.Tail(4<<20), -1)); n != 20 {
				t.Errorf("%d of vpgw's 20 CHILD_SA rekeys completed (log lines matching %q)", n, done)
			}
			for i := 0; i < 20; i++ {
				swan("--rekey", "--child", "t1")
				time.Sleep(400 * time.Millisecond)
			}
			v.rekeyNow(t, 1, true)
			time.Sleep(time.Second)
			swan("--rekey", "--ike", "t1")
			time.Sleep(time.Second)
			// Both sides at once: a collision.
			for i := 0; i < 3; i++ {
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); v.rekeyNow(t, 1, false) }()
				go func() { defer wg.Done(); swan("--rekey", "--child", "t1") }()
				wg.Wait()
				time.Sleep(time.Second)
			}
			time.Sleep(3 * time.Second)
			sent, received := pg.stop(t)
			t.Logf("IKEv%d: ping through 20+20 CHILD rekeys, 2 IKE rekeys and 3 collisions: %d sent, %d received", version, sent, received)
			if received != sent || sent < 100 {
				t.Errorf("lost %d of %d pings across the rekeys", sent-received, sent)
			}
			if st := v.tunnel(t, 1); st.Status != gateway.StateUp {
				t.Errorf("after the rekeys tunnel 1 is %s (%s)", st.Status, st.StatusMessage)
			}
			out, _ := ch.Swanctl("--list-sas", "--raw")
			if n := strings.Count(string(out), "state=INSTALLED"); n > 2 {
				t.Errorf("strongSwan holds %d installed CHILD_SAs after the rekeys settled, want 1 (2 while a delete is in flight)", n)
			}
		})
	}
}
