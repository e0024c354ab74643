package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vpgw/vpgw/lab"
)

func newLab() (*lab.Lab, error) {
	lab.CleanupStale(prefix, os.Stderr)
	var w io.Writer
	if *flVerbose {
		w = os.Stderr
	}
	l, err := lab.Up(lab.Options{Prefix: prefix, Log: w})
	if err != nil {
		return nil, err
	}
	setLab(l)
	return l, nil
}

func downLab(l *lab.Lab) {
	if err := l.Down(); err != nil {
		logf("lab down: %v", err)
	}
	setLab(nil)
}

// vpgwConfig is vpgw's configuration: one static VPN connection. For the
// VGW side (cgw=false) it is the lab's (tunnels on 203.0.113.2/.3, peer
// 198.51.100.2); for the customer's side (cgw=true) the roles are swapped:
// tunnels on 198.51.100.2/.3, peer 203.0.113.2, tunnel 1 initiating.
//
// extra1 and extra2 are YAML lines added to tunnel 1 and 2 (e.g.
// "dpd_timeout: 30s").
func vpgwConfig(dir string, cgw bool, extra1, extra2 []string) string {
	name, asn, vpc, peer, peerASN, static := "vgw-bench", 64512, "10.0.0.0/16", lab.CGWWANIP, 65000, "172.16.0.0/24"
	out1, out2, start := lab.VGWOutside1, lab.VGWOutside2, ""
	if cgw {
		name, asn, vpc, peer, peerASN, static = "cgw-bench", 65000, "172.16.0.0/24", lab.VGWOutside1, 64512, "10.0.0.0/16"
		// The initiator's first proposal wins: AES-GCM, as every other
		// path of the bench uses (AWS's default list starts with CBC+SHA1).
		out1, out2, start = lab.CGWWANIP, "198.51.100.3", "        startup_action: start\n        phase2: {encryption: [aes128-gcm-16]}\n"
	}
	return fmt.Sprintf(`gateway:
  name: %[2]s
  asn: %[3]d
  vpc_cidrs: [%[4]s]
  route_table: 254
  state_dir: %[1]s/state
  control_socket: %[1]s/vpgw.sock
  metrics_listen: 127.0.0.1:9478
customer_gateways:
  - name: peer
    ip: %[5]s
    bgp_asn: %[6]d
vpn_connections:
  - name: vpn-1
    customer_gateway: peer
    routing: static
    static_routes: [%[7]s]
    tunnels:
      - outside_ip: %[8]s
        inside_cidr: 169.254.10.0/30
        psk: %[10]s
        ike_versions: [ikev2]
        phase1: {dh_groups: [2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 31]}
%[12]s%[13]s      - outside_ip: %[9]s
        inside_cidr: 169.254.11.0/30
        psk: %[11]s
        ike_versions: [ikev2]
%[14]s`, dir, name, asn, vpc, peer, peerASN, static, out1, out2, psk1, psk2, start, yamlLines(extra1), yamlLines(extra2))
}

func yamlLines(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("        " + l + "\n")
	}
	return b.String()
}

func startVPGW(l *lab.Lab, bin, ns, name string, cgw bool, extra1, extra2 []string) (*lab.Proc, error) {
	dir := filepath.Join(l.Dir(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "vpgw.yaml")
	if err := os.WriteFile(cfg, []byte(vpgwConfig(dir, cgw, extra1, extra2)), 0o600); err != nil {
		return nil, err
	}
	if _, err := cmdOut(30*time.Second, bin, "validate", "--config", cfg); err != nil {
		return nil, err
	}
	p, err := l.Start(ns, name, nil, bin, "run", "--config", cfg, "--log-level", "info")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "vpgw.sock")
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := cmdOut(5*time.Second, bin, "status", "--socket", sock, "-o", "json"); err == nil {
			return p, nil
		}
		if !p.Running() || time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not come up: %v\n%s", name, p.Err(), p.Tail(3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func setupSS(l *lab.Lab) (int, int, error) {
	v, err := l.StartCharon(lab.CharonConfig{NS: lab.RoleVGW, PSK: psk1})
	if err != nil {
		return 0, 0, err
	}
	c, err := startCGWCharon(l)
	if err != nil {
		return 0, 0, err
	}
	return c.Proc.PID, v.Proc.PID, nil
}

func setupSV(l *lab.Lab, bin string) (int, int, error) {
	v, err := startVPGW(l, bin, lab.RoleVGW, "vpgw", false, nil, nil)
	if err != nil {
		return 0, 0, err
	}
	c, err := startCGWCharon(l)
	if err != nil {
		return 0, 0, err
	}
	return c.Proc.PID, v.PID, nil
}

// startCGWCharon is the strongSwan customer gateway of the throughput
// paths, its tunnel 1 up.
func startCGWCharon(l *lab.Lab) (*lab.Charon, error) {
	c, err := l.StartCharon(lab.CharonConfig{PSK: psk1})
	if err != nil {
		return nil, err
	}
	return c, c.WaitChild("t1", 30*time.Second)
}

func setupWG(l *lab.Lab, bin string) (int, int, error) {
	c, v, err := l.WireGuardPair(bin)
	if err != nil {
		return 0, 0, err
	}
	return c.Proc.PID, v.Proc.PID, nil
}

// setupVV runs vpgw on both sides, the customer's initiating. Without a NAT
// in the lab ESP goes as IP protocol 50, unless udp forces it into UDP 4500
// on the customer's side (and with it the kernel's UDP GSO/GRO).
func setupVV(l *lab.Lab, bin string, udp bool) (int, int, error) {
	// The customer's side needs a second outside address for its tunnel 2
	// (which stays idle: it has no counterpart).
	if _, err := l.Exec(lab.RoleCGW, "ip", "addr", "add", "198.51.100.3/24", "dev", "wan0"); err != nil {
		return 0, 0, err
	}
	v, err := startVPGW(l, bin, lab.RoleVGW, "vpgw", false, nil, nil)
	if err != nil {
		return 0, 0, err
	}
	var extra []string
	if udp {
		extra = []string{"force_udp_encapsulation: true"}
	}
	c, err := startVPGW(l, bin, lab.RoleCGW, "vpgw-cgw", true, extra, nil)
	if err != nil {
		return 0, 0, err
	}
	return c.PID, v.PID, nil
}

// vpgwSocket is the control socket of the vpgw instance startVPGW named name.
func vpgwSocket(l *lab.Lab, name string) string {
	return filepath.Join(l.Dir(), name, "vpgw.sock")
}

type vpgwTunnel struct {
	Status           string    `json:"status"`
	LastStatusChange time.Time `json:"last_status_change"`
	StatusMessage    string    `json:"status_message"`
	Phase2State      string    `json:"phase2_state"`
}

// vpgwTunnels returns the tunnels of vpgw's first VPN connection.
func vpgwTunnels(bin, sock string) ([]vpgwTunnel, error) {
	out, err := cmdOut(5*time.Second, bin, "status", "--socket", sock, "-o", "json")
	if err != nil {
		return nil, err
	}
	var st struct {
		VPNConnections []struct {
			Tunnels []vpgwTunnel `json:"tunnels"`
		} `json:"vpn_connections"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("vpgw status: %w", err)
	}
	if len(st.VPNConnections) == 0 {
		return nil, errors.New("vpgw status: no VPN connection")
	}
	return st.VPNConnections[0].Tunnels, nil
}

// vpgwTunnelUp reports whether tunnel idx (1 or 2) is UP.
func vpgwTunnelUp(bin, sock string, idx int) bool {
	ts, err := vpgwTunnels(bin, sock)
	return err == nil && len(ts) >= idx && ts[idx-1].Status == "UP"
}

// waitVPGWTunnel waits until tunnel idx is UP.
func waitVPGWTunnel(bin, sock string, idx int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !vpgwTunnelUp(bin, sock, idx) {
		if time.Now().After(deadline) {
			ts, err := vpgwTunnels(bin, sock)
			return fmt.Errorf("vpgw tunnel %d not UP after %v: %+v %v", idx, timeout, ts, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}
