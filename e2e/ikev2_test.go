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

const (
	labPSK  = "lab.psk_0123456789abcdef"
	labPSK2 = "lab.psk_0123456789abcdef2"
)

// TestIKEv2AgainstStrongSwan brings one vpgw up in the lab and runs a
// strongSwan customer gateway against its tunnel 1 several times in a row,
// with different proposals and mistakes, as an operator would see them.
func TestIKEv2AgainstStrongSwan(t *testing.T) {
	l := newLab(t, "vpgw-e2e2", false)
	t1, t2 := defaultTunnels()
	v := startVPGW(t, l, labConfig(l.Dir()+"/vpgw", lab.CGWWANIP, t1, t2))

	if st := v.tunnel(t, 1); st.Status != gateway.StateDown {
		t.Fatalf("before any customer gateway: tunnel 1 is %s, want DOWN", st.Status)
	}
	if hasRoute(v.routes(), "172.16.0.0/24", "vpn-1-t1") {
		t.Fatalf("static route installed while no tunnel is UP:\n%s", v.routes())
	}

	for i, p := range []struct{ name, ike, esp string }{
		{"cbc-hmac", "aes128-sha256-modp2048", "aes128-sha1"},
		{"gcm", "aes256gcm16-prfsha384-modp3072", "aes256gcm16"},
		{"ecp", "aes256-sha384-ecp384", "aes128gcm16"},
		{"curve25519", "aes128-sha512-curve25519", "aes256-sha256"},
	} {
		t.Run(p.name, func(t *testing.T) {
			ch, err := l.StartCharon(lab.CharonConfig{
				Name: fmt.Sprintf("cgw%d", i), PSK: labPSK, IKEProposal: p.ike, ESPProposal: p.esp,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Stop()
			logOnFailure(t, ch)
			st := v.waitTunnel(t, 1, 30*time.Second, "UP", func(s gateway.TunnelStatus) bool { return s.Status == gateway.StateUp })
			if st.IKEVersion != "ikev2" || !st.NATT || st.StatusMessage != "" || st.AcceptedRouteCount != 1 {
				t.Errorf("tunnel 1 UP but status = %+v, want ikev2, nat_t (libipsec always encapsulates), no message, 1 route", st)
			}
			if err := ch.WaitChild("t1", 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if !hasRoute(v.routes(), "172.16.0.0/24", "vpn-1-t1") {
				t.Fatalf("no route 172.16.0.0/24 dev vpn-1-t1 proto 245 while UP:\n%s", v.routes())
			}
			if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
				t.Fatalf("VPC → on-prem: %v", err)
			}
			if err := l.Ping(lab.RoleVPC, lab.OnpremIP, 5); err != nil {
				t.Errorf("VPC → on-prem: %v", err)
			}
			if err := l.Ping(lab.RoleOnprem, lab.VPCIP, 5); err != nil {
				t.Errorf("on-prem → VPC: %v", err)
			}
			if st := v.tunnel(t, 1); st.BytesIn == 0 || st.BytesOut == 0 {
				t.Errorf("after pings: bytes_in=%d bytes_out=%d, want both > 0", st.BytesIn, st.BytesOut)
			}
			if i == 0 {
				tl, _ := os.ReadFile(filepath.Join(filepath.Dir(v.socket), "tunnel.log"))
				if !strings.Contains(string(tl), `"ike_phase1_state":"Established","ike_phase2_state":"Established"`) ||
					!strings.Contains(string(tl), `"tunnel_outside_ip":"203.0.113.2"`) {
					t.Errorf("tunnel log lacks an established record for 203.0.113.2:\n%s", tl)
				}
			}
			m := v.metrics(t)
			t1 := `{connection="vpn-1",outside_ip="203.0.113.2",tunnel="1"}`
			t2 := `{connection="vpn-1",outside_ip="203.0.113.3",tunnel="2"}`
			if m["vpgw_tunnel_state"+t1] != 1 || m["vpgw_tunnel_state"+t2] != 0 {
				t.Errorf("/metrics tunnel state: t1=%v t2=%v, want 1 and 0 (a DOWN tunnel still exports 0)",
					m["vpgw_tunnel_state"+t1], m["vpgw_tunnel_state"+t2])
			}
			in := m[`vpgw_tunnel_bytes_total{connection="vpn-1",direction="in",outside_ip="203.0.113.2",tunnel="1"}`]
			out := m[`vpgw_tunnel_bytes_total{connection="vpn-1",direction="out",outside_ip="203.0.113.2",tunnel="1"}`]
			if in < 840 || out < 840 || m["vpgw_tunnel_child_sas"+t1] != 1 {
				t.Errorf("/metrics after 10+ pings each way: bytes in %v out %v child SAs %v", in, out, m["vpgw_tunnel_child_sas"+t1])
			}

			// The customer closes the tunnel: vpgw must take it DOWN and
			// withdraw the route.
			if err := ch.Terminate("t1"); err != nil {
				t.Fatal(err)
			}
			st = v.waitTunnel(t, 1, 10*time.Second, "DOWN", func(s gateway.TunnelStatus) bool { return s.Status == gateway.StateDown })
			if !strings.Contains(st.StatusMessage, "deleted by peer") {
				t.Errorf("after the peer's DELETE: status_message = %q, want it to say 'deleted by peer'", st.StatusMessage)
			}
			if hasRoute(v.routes(), "172.16.0.0/24", "vpn-1-t1") {
				t.Errorf("route still installed after the tunnel went DOWN:\n%s", v.routes())
			}
		})
	}

	t.Run("wrong-psk", func(t *testing.T) {
		ch, err := l.StartCharon(lab.CharonConfig{Name: "cgw-badpsk", PSK: "not.the.right.psk"})
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Stop()
		logOnFailure(t, ch)
		st := v.waitTunnel(t, 1, 30*time.Second, "DOWN with an authentication message", func(s gateway.TunnelStatus) bool {
			return s.Status == gateway.StateDown && strings.Contains(strings.ToLower(s.StatusMessage), "authentication failed")
		})
		if strings.Contains(st.StatusMessage, labPSK) || strings.Contains(st.StatusMessage, "not.the.right.psk") {
			t.Errorf("status_message leaks a PSK: %q", st.StatusMessage)
		}
		if log := v.proc.Tail(1 << 20); strings.Contains(log, labPSK) || strings.Contains(log, "not.the.right.psk") {
			t.Errorf("vpgw's log contains a PSK")
		}
		if err := l.Ping(lab.RoleVPC, lab.OnpremIP, 1); err == nil {
			t.Errorf("ping went through although authentication failed")
		}
	})

	t.Run("no-proposal-chosen", func(t *testing.T) {
		// aes192 is not among the tunnel's phase 1 ciphers.
		ch, err := l.StartCharon(lab.CharonConfig{Name: "cgw-noprop", PSK: labPSK, IKEProposal: "aes192-sha256-modp2048"})
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Stop()
		logOnFailure(t, ch)
		v.waitTunnel(t, 1, 30*time.Second, "DOWN with a no-proposal message", func(s gateway.TunnelStatus) bool {
			return s.Status == gateway.StateDown && strings.Contains(strings.ToLower(s.StatusMessage), "no proposal chosen")
		})
		waitLog(t, ch.LogPath(), "NO_PROPOSAL_CHOSEN", 10*time.Second)
	})

	t.Run("shutdown-cleans-up", func(t *testing.T) {
		ch, err := l.StartCharon(lab.CharonConfig{Name: "cgw-last", PSK: labPSK})
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Stop()
		v.waitTunnel(t, 1, 30*time.Second, "UP", func(s gateway.TunnelStatus) bool { return s.Status == gateway.StateUp })
		if err := syscall.Kill(v.proc.PID, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-v.proc.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("vpgw did not exit within 10 s of SIGTERM")
		}
		if routes := v.routes(); strings.Contains(routes, "proto 245") {
			t.Errorf("routes left after shutdown:\n%s", routes)
		}
		for _, dev := range []string{"vpn-1-t1", "vpn-1-t2"} {
			if out, err := l.Exec(lab.RoleVGW, "ip", "link", "show", dev); err == nil {
				t.Errorf("TUN %s left after shutdown: %s", dev, out)
			}
		}
		if _, err := exec.Command("test", "-S", v.socket).CombinedOutput(); err == nil {
			t.Errorf("control socket %s left after shutdown", v.socket)
		}
	})
}
