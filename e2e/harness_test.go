// Package e2e runs vpgw against a real strongSwan customer gateway in the
// netns lab. These tests need root; without it they fail with the reason.
package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpgw/vpgw/gateway"
	"github.com/vpgw/vpgw/lab"
)

// binary is one command of the module, built once per test run as `make
// build` would.
type binary struct {
	pkg, name string
	once      sync.Once
	path      string
	err       error
}

var (
	vpgwBin    = &binary{pkg: "github.com/vpgw/vpgw/cmd/vpgw", name: "vpgw"}
	ikeloadBin = &binary{pkg: "github.com/vpgw/vpgw/cmd/ikeload", name: "ikeload"}
)

func (b *binary) build(t *testing.T) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "vpgw-e2e-"+b.name+"-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, b.name)
		if out, err := exec.Command("go", "build", "-o", b.path, b.pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v: %s", b.name, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func vpgwBinary(t *testing.T) string    { t.Helper(); return vpgwBin.build(t) }
func ikeloadBinary(t *testing.T) string { t.Helper(); return ikeloadBin.build(t) }

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end tests build network namespaces, TUN devices and run strongSwan: they need root (run `sudo make test`)")
	}
}

// newLab brings up a fresh lab and tears it down (processes by PID, then
// namespaces) when the test ends, whatever happened.
func newLab(t *testing.T, prefix string, nat bool) *lab.Lab {
	t.Helper()
	requireRoot(t)
	lab.CleanupStale(prefix, nil)
	l, err := lab.Up(lab.Options{Prefix: prefix, NAT: nat})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}

// vpgwInstance is a running `vpgw run` in the lab's vgw namespace.
type vpgwInstance struct {
	l      *lab.Lab
	proc   *lab.Proc
	bin    string
	socket string
}

// tunnelOpts are extra YAML lines for one tunnel of the lab's vpn-1.
type tunnelOpts struct {
	psk   string
	extra []string // e.g. "ike_versions: [ikev2]"
}

// labConfig is vpgw's configuration in the lab: one static VPN connection
// whose two tunnels listen on 203.0.113.2 and .3.
func labConfig(dir, cgwIP string, t1, t2 tunnelOpts) string {
	tun := func(outside, inside string, o tunnelOpts) string {
		s := fmt.Sprintf("      - outside_ip: %s\n        inside_cidr: %s\n        psk: %s\n", outside, inside, o.psk)
		for _, e := range o.extra {
			s += "        " + e + "\n"
		}
		return s
	}
	return fmt.Sprintf(`gateway:
  name: vgw-lab
  asn: 64512
  vpc_cidrs: [10.0.0.0/16]
  route_table: 254
  state_dir: %[1]s/state
  control_socket: %[1]s/vpgw.sock
  metrics_listen: 127.0.0.1:9478
  tunnel_log: %[1]s/tunnel.log
customer_gateways:
  - name: cgw-1
    ip: %[2]s
    bgp_asn: 65000
vpn_connections:
  - name: vpn-1
    customer_gateway: cgw-1
    routing: static
    static_routes: [172.16.0.0/24]
    tunnels:
`, dir, cgwIP) + tun("203.0.113.2", "169.254.10.0/30", t1) + tun("203.0.113.3", "169.254.11.0/30", t2)
}

// defaultTunnels uses AWS's defaults, plus Curve25519 (31) in phase 1 of
// tunnel 1, which vpgw also offers.
func defaultTunnels() (tunnelOpts, tunnelOpts) {
	return tunnelOpts{psk: labPSK, extra: []string{"phase1: {dh_groups: [2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 31]}"}},
		tunnelOpts{psk: labPSK2}
}

func startVPGW(t *testing.T, l *lab.Lab, config string) *vpgwInstance {
	t.Helper()
	return startVPGWIn(t, l, lab.RoleVGW, "vpgw", config)
}

// startVPGWIn runs vpgw in the namespace of role, with its files in the
// lab's directory name (config's state_dir and control_socket must be
// there).
func startVPGWIn(t *testing.T, l *lab.Lab, role, name, config string) *vpgwInstance {
	t.Helper()
	bin := vpgwBinary(t)
	dir := filepath.Join(l.Dir(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "vpgw.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "validate", "--config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("vpgw validate: %v\n%s", err, out)
	}
	p, err := l.Start(l.NS(role), name, nil, bin, "run", "--config", cfgPath, "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	v := &vpgwInstance{l: l, proc: p, bin: bin, socket: filepath.Join(dir, "vpgw.sock")}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", name, p.Tail(8000))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := v.status(); err == nil {
			return v
		}
		if !p.Running() || time.Now().After(deadline) {
			t.Fatalf("vpgw did not come up: %v\n%s", p.Err(), p.Tail(4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// status runs `vpgw status -o json` as an operator would.
func (v *vpgwInstance) status() (*gateway.Status, error) {
	out, err := exec.Command(v.bin, "status", "--socket", v.socket, "-o", "json").Output()
	if err != nil {
		return nil, fmt.Errorf("vpgw status: %w", err)
	}
	var s gateway.Status
	if err := json.Unmarshal(out, &s); err != nil {
		return nil, fmt.Errorf("vpgw status -o json: %w: %s", err, out)
	}
	return &s, nil
}

func (v *vpgwInstance) tunnel(t *testing.T, idx int) gateway.TunnelStatus {
	t.Helper()
	s, err := v.status()
	if err != nil {
		t.Fatal(err)
	}
	return s.VPNConnections[0].Tunnels[idx-1]
}

// waitTunnel waits until tunnel idx of vpn-1 satisfies ok.
func (v *vpgwInstance) waitTunnel(t *testing.T, idx int, timeout time.Duration, what string, ok func(gateway.TunnelStatus) bool) gateway.TunnelStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last gateway.TunnelStatus
	for time.Now().Before(deadline) {
		if s, err := v.status(); err == nil {
			last = s.VPNConnections[0].Tunnels[idx-1]
			if ok(last) {
				return last
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("tunnel %d: not %s within %v; last status %+v\nvpgw log:\n%s", idx, what, timeout, last, v.proc.Tail(6000))
	return last
}

// metrics scrapes vpgw's Prometheus endpoint inside the vgw namespace and
// returns sample lines by series ("name{labels}" → value).
func (v *vpgwInstance) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	out, err := v.l.Exec(lab.RoleVGW, "python3", "-c",
		"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9478/metrics', timeout=5).read().decode())")
	if err != nil {
		t.Fatalf("scraping /metrics: %v\n%s", err, out)
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var f float64
		if _, err := fmt.Sscan(line[i+1:], &f); err == nil {
			m[line[:i]] = f
		}
	}
	return m
}

func (v *vpgwInstance) routes() string {
	out, _ := v.l.Exec(v.l.NS(lab.RoleVGW), "ip", "-4", "route", "show", "table", "main")
	return string(out)
}

func hasRoute(routes, dst, dev string) bool {
	for _, line := range strings.Split(routes, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[0] == dst && strings.Contains(line, "dev "+dev+" ") && strings.Contains(line, "proto 245") {
			return true
		}
	}
	return false
}
