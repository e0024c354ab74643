//go:build bench

// The wireguard-go self-test needs wireguard-go and wg, which only the
// benchmark installs (bench/run.sh runs it with -tags bench).

package lab

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWireGuardPair pings from on-prem to the VPC through a wireguard-go
// pair (cgw <-> vgw). It needs root, wireguard-go and wg: without them it
// fails with the install command.
func TestWireGuardPair(t *testing.T) {
	needRoot(t)
	bin, err := FindWireGuardGo()
	if err != nil {
		t.Fatal(err)
	}
	l := upLab(t, "vlt-wg", false)
	cgw, vgw, err := l.WireGuardPair(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WaitPing(RoleOnprem, VPCIP, 15*time.Second); err != nil {
		t.Fatalf("%v\n--- cgw ---\n%s\n--- vgw ---\n%s", err, cgw.Proc.Tail(2000), vgw.Proc.Tail(2000))
	}
	if err := l.Ping(RoleOnprem, VPCIP, 3); err != nil {
		t.Fatal(err)
	}
	// The traffic went through the tunnel: both sides saw a handshake.
	for _, w := range []*WireGuard{cgw, vgw} {
		out, err := w.Wg("show", w.Iface, "latest-handshakes")
		if err != nil {
			t.Fatal(err)
		}
		if f := bytes.Fields(out); len(f) != 2 || string(f[1]) == "0" {
			t.Fatalf("%s: no handshake: %q", w.Name, out)
		}
	}
	// The control socket lives in the instance's own /run, not the host's.
	if _, err := os.Stat(filepath.Join(vgw.runDir, "wireguard", "wg0.sock")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/wireguard/wg0.sock"); err == nil {
		t.Fatal("wireguard-go's control socket appeared in the host's /run")
	}
	pid := vgw.Proc.PID
	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("/proc", itoa(pid))); err == nil {
		t.Fatalf("wireguard-go (pid %d) still runs after Down", pid)
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
