package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpgw/vpgw/gateway"
	"github.com/vpgw/vpgw/lab"
)

// TestStartupReloadAndMSS: vpgw brings tunnel 2 up by itself
// (startup_action: start) toward a customer gateway that only responds;
// a SIGHUP with changed static routes moves the kernel routes without
// touching the tunnel; a TCP transfer between 1500-byte-MTU hosts does not
// stall (MSS clamping).
func TestStartupReloadAndMSS(t *testing.T) {
	l := newLab(t, "vpgw-e2eopt", false)
	t1, t2 := defaultTunnels()
	t2.extra = append(t2.extra, "startup_action: start")
	cfgDir := l.Dir() + "/vpgw"
	v := startVPGW(t, l, labConfig(cfgDir, lab.CGWWANIP, t1, t2))
	c := twoTunnelCharon("cgw", 2)
	c.Connections = c.Connections[1:]
	c.Initiate = false
	ch, err := l.StartCharon(c)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	logOnFailure(t, ch)

	t.Run("startup-action-start", func(t *testing.T) {
		v.waitTunnel(t, 2, 40*time.Second, "UP (vpgw initiating)", isUp)
		if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("sighup-static-routes", func(t *testing.T) {
		before := v.tunnel(t, 2)
		cfgPath := filepath.Join(cfgDir, "vpgw.yaml")
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		changed := strings.Replace(string(b), "static_routes: [172.16.0.0/24]", "static_routes: [172.16.0.0/24, 172.16.1.0/24]", 1)
		if err := os.WriteFile(cfgPath, []byte(changed), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(v.proc.PID, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !hasRoute(v.routes(), "172.16.1.0/24", "vpn-1-t2") {
			if time.Now().After(deadline) {
				t.Fatalf("after SIGHUP no route 172.16.1.0/24 via vpn-1-t2:\n%s", v.routes())
			}
			time.Sleep(100 * time.Millisecond)
		}
		after := v.tunnel(t, 2)
		if after.Status != gateway.StateUp || !after.LastStatusChange.Equal(before.LastStatusChange) || after.BytesIn < before.BytesIn {
			t.Errorf("the reload touched the tunnel: before %+v after %+v", before, after)
		}
		out, err := exec.Command(v.bin, "routes", "--socket", v.socket).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "172.16.1.0/24") {
			t.Errorf("vpgw routes: %v\n%s", err, out)
		}
		if err := l.Ping(lab.RoleVPC, lab.OnpremIP, 3); err != nil {
			t.Errorf("after reload: %v", err)
		}

		// A changed option of tunnel 1 restarts tunnel 1 only.
		b, _ = os.ReadFile(cfgPath)
		changed = strings.Replace(string(b), "psk: "+labPSK+"\n", "psk: "+labPSK+"\n        dpd_timeout: 45s\n", 1)
		if err := os.WriteFile(cfgPath, []byte(changed), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err = exec.Command(v.bin, "reload", "--socket", v.socket).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "restarted tunnel vpn-1/1") || strings.Contains(string(out), "vpn-1/2") {
			t.Errorf("vpgw reload after changing tunnel 1: %v\n%s", err, out)
		}
		if st := v.tunnel(t, 2); st.Status != gateway.StateUp || !st.LastStatusChange.Equal(before.LastStatusChange) {
			t.Errorf("tunnel 2 was touched by a change of tunnel 1: %+v", st)
		}
		if err := l.Ping(lab.RoleVPC, lab.OnpremIP, 3); err != nil {
			t.Errorf("after the second reload: %v", err)
		}
	})

	t.Run("tcp-with-1500-mtu", func(t *testing.T) {
		const size = 8 << 20
		srv, err := l.Start(lab.RoleVPC, "tcp-sink", nil, "python3", "-c", tcpSink)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Stop()
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		out, err := l.Exec(lab.RoleOnprem, "timeout", "20", "python3", "-c", fmt.Sprintf(tcpSend, lab.VPCIP, size))
		if err != nil {
			t.Fatalf("TCP transfer of %d bytes across the tunnel stalled or failed: %v\n%s", size, err, out)
		}
		t.Logf("TCP %d MiB on-prem → VPC in %v (%s)", size>>20, time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(out)))
		// The VPC host offered 1460; vpgw rewrote it in the SYN-ACK so
		// segments fit the tunnel (strongSwan does not clamp).
		var mss int
		if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "mss %d", &mss); err != nil || mss > 1360 || mss < 1200 {
			t.Errorf("on-prem host uses MSS %d (%v), want the clamped value ≤ 1360", mss, err)
		}
	})
}

// tcpSink accepts one connection on port 5001 and reads it to the end.
const tcpSink = `
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5001)); s.listen(1)
c, _ = s.accept()
while c.recv(65536): pass
c.close()
`

// tcpSend sends n bytes to host:5001 and reports the MSS it used.
const tcpSend = `
import socket
s = socket.create_connection(("%s", 5001), timeout=15)
buf = b"x" * 65536; n = %d
while n > 0:
    s.sendall(buf[:min(n, len(buf))]); n -= len(buf)
print("mss", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG))
s.close()
`
