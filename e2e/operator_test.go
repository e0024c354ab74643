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

// cli runs a vpgw client command against the daemon, as an operator would.
func (v *vpgwInstance) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, err := v.tryCLI(args...)
	if err != nil {
		t.Fatalf("vpgw %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (v *vpgwInstance) tryCLI(args ...string) (string, error) {
	out, err := exec.Command(v.bin, append(args, "--socket", v.socket)...).CombinedOutput()
	return string(out), err
}

// refused runs a command that must fail with want in its message.
func (v *vpgwInstance) refused(t *testing.T, want string, args ...string) {
	t.Helper()
	out, err := v.tryCLI(args...)
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("vpgw %s: err=%v, want a refusal saying %q; got:\n%s", strings.Join(args, " "), err, want, out)
	}
}

// gatewayOnlyConfig is a configuration with just the gateway section: every
// object comes from the CLI and lives in the state store.
func gatewayOnlyConfig(dir string) string {
	return fmt.Sprintf(`gateway:
  name: vgw-lab
  state_dir: %[1]s/state
  control_socket: %[1]s/vpgw.sock
  metrics_listen: 127.0.0.1:9478
`, dir)
}

// TestOperatorProcedure follows AWS's guide with vpgw's CLI only.
func TestOperatorProcedure(t *testing.T) {
	l := newLab(t, "vpgw-e2eop", false)
	dir := l.Dir() + "/vpgw"
	v := startVPGW(t, l, gatewayOnlyConfig(dir))

	// Create the customer gateway, create and attach the virtual private
	// gateway, enable route propagation, create the VPN connection.
	v.cli(t, "customer-gateway", "create", "--name", "cgw-1", "--ip", lab.CGWWANIP, "--bgp-asn", "65000")
	v.cli(t, "vpn-gateway", "create", "--name", "vgw-1", "--asn", "64512")
	v.cli(t, "vpn-gateway", "attach", "vgw-1", "--vpc-cidr", lab.VPCCIDR)
	v.cli(t, "route-propagation", "enable", "--vpn-gateway", "vgw-1")
	v.cli(t, "vpn-connection", "create", "--name", "vpn-1", "--customer-gateway", "cgw-1", "--vpn-gateway", "vgw-1",
		"--routing", "static", "--static-route", lab.OnpremCIDR,
		"--tunnel1-outside-ip", lab.VGWOutside1, "--tunnel2-outside-ip", lab.VGWOutside2)
	if list := v.cli(t, "vpn-connection", "list"); !strings.Contains(list, "vpn-1") || strings.Contains(list, "psk") {
		t.Errorf("vpn-connection list:\n%s", list)
	}

	// Download the configuration for the device and run strongSwan with
	// exactly that file.
	conf := filepath.Join(dir, "swanctl.conf")
	v.cli(t, "config", "download", "--connection", "vpn-1", "--device", "strongswan-swanctl", "-O", conf)
	swanctl, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := l.StartCharon(lab.CharonConfig{Name: "cgw", SwanctlConf: string(swanctl),
		Connections: []lab.CharonConn{{Name: "vpn-1-t1", RemoteAddr: lab.VGWOutside1}, {Name: "vpn-1-t2", RemoteAddr: lab.VGWOutside2}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	logOnFailure(t, ch)
	v.waitTunnel(t, 1, 30*time.Second, "UP", isUp)
	v.waitTunnel(t, 2, 30*time.Second, "UP", isUp)
	if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
		t.Fatalf("VPC → on-prem with the downloaded configuration: %v", err)
	}
	if err := l.Ping(lab.RoleOnprem, lab.VPCIP, 3); err != nil {
		t.Errorf("on-prem → VPC: %v", err)
	}

	t.Run("deletion-rules", func(t *testing.T) {
		v.refused(t, "used by VPN connection", "customer-gateway", "delete", "cgw-1")
		v.refused(t, "used by VPN connection", "vpn-gateway", "delete", "vgw-1")
		v.refused(t, "used by VPN connection", "vpn-gateway", "detach", "vgw-1")
	})

	t.Run("psk-replacement-keeps-the-other-tunnel", func(t *testing.T) {
		// Tunnel 1 goes away on the customer side, so tunnel 2 carries the
		// traffic while tunnel 1's PSK is replaced and it comes back.
		if err := ch.Terminate("vpn-1-t1"); err != nil {
			t.Fatal(err)
		}
		v.waitTunnel(t, 1, 10*time.Second, "DOWN", isDown)
		if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		before := v.tunnel(t, 2)
		pg := startPing(t, l, lab.RoleVPC, lab.OnpremIP, 100*time.Millisecond)
		time.Sleep(time.Second)
		v.cli(t, "tunnel", "modify", "--connection", "vpn-1", "--tunnel", "1", "--generate-psk")
		v.cli(t, "config", "download", "--connection", "vpn-1", "--device", "strongswan-swanctl", "-O", conf)
		if _, err := ch.Swanctl("--load-all", "--noprompt", "--file", conf); err != nil {
			t.Fatal(err)
		}
		if err := ch.Initiate("vpn-1-t1", 20*time.Second); err != nil {
			t.Fatalf("tunnel 1 with the new PSK: %v", err)
		}
		v.waitTunnel(t, 1, 20*time.Second, "UP with the new PSK", isUp)
		time.Sleep(2 * time.Second)
		sent, received := pg.stop(t)
		t.Logf("PSK of tunnel 1 replaced while tunnel 2 carried a 0.1 s ping: %d sent, %d received", sent, received)
		if received != sent {
			t.Errorf("lost %d of %d pings during the PSK replacement", sent-received, sent)
		}
		if after := v.tunnel(t, 2); !after.LastStatusChange.Equal(before.LastStatusChange) || after.Status != gateway.StateUp {
			t.Errorf("tunnel 2 was touched: before %+v after %+v", before, after)
		}
	})

	t.Run("kill-9-and-restart", func(t *testing.T) {
		exported := v.cli(t, "export")
		if err := syscall.Kill(v.proc.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-v.proc.Done()
		v2 := startVPGW(t, l, gatewayOnlyConfig(dir))
		*v = *v2
		if again := v.cli(t, "export"); again != exported {
			t.Errorf("objects changed across kill -9:\nbefore:\n%s\nafter:\n%s", exported, again)
		}
		v.waitTunnel(t, 1, 90*time.Second, "UP after the restart", isUp)
		v.waitTunnel(t, 2, 90*time.Second, "UP after the restart", isUp)
		if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
			t.Errorf("after the restart: %v", err)
		}
	})

	t.Run("allowed-deletion-order", func(t *testing.T) {
		v.cli(t, "vpn-connection", "delete", "vpn-1")
		v.cli(t, "customer-gateway", "delete", "cgw-1")
		v.cli(t, "vpn-gateway", "detach", "vgw-1")
		v.cli(t, "vpn-gateway", "delete", "vgw-1")
		if s, err := v.status(); err != nil || len(s.VPNConnections) != 0 {
			t.Errorf("status after deleting everything: %+v, %v", s, err)
		}
		for _, dev := range []string{"vpn-1-t1", "vpn-1-t2"} {
			if out, err := l.Exec(lab.RoleVGW, "ip", "link", "show", dev); err == nil {
				t.Errorf("TUN %s left after the connection was deleted: %s", dev, out)
			}
		}
		if routes := v.routes(); strings.Contains(routes, "proto 245") {
			t.Errorf("routes left:\n%s", routes)
		}
		if m := v.metrics(t); len(m) > 0 {
			for k := range m {
				if strings.HasPrefix(k, "vpgw_tunnel_state") {
					t.Errorf("metrics still export a deleted tunnel: %s", k)
				}
			}
		}
	})
}
