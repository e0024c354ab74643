package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(args ...string) (string, error) {
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestValidateAcceptsTheSampleConfigs(t *testing.T) {
	for _, name := range []string{"valid-full.yaml", "valid-minimal.yaml"} {
		path := filepath.Join("..", "..", "testdata", "configs", name)
		out, err := runCLI("validate", "--config", path)
		if err != nil || !strings.Contains(out, "configuration is valid") {
			t.Errorf("vpgw validate %s: err=%v out=%q", name, err, out)
		}
	}
}

func TestValidatePrintsOneLinePerProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	bad := `gateway: {name: vgw, asn: 100, vpc_cidrs: [10.0.0.0/16]}
customer_gateways: [{name: cgw-1, ip: 198.51.100.2}]
vpn_connections:
  - name: vpn-1
    customer_gateway: cgw-9
    static_routes: [172.16.0.0/24]
    tunnels:
      - {outside_ip: 203.0.113.2, inside_cidr: 169.254.3.0/30, psk: 0secretsecret}
      - {outside_ip: 203.0.113.3, inside_cidr: 169.254.11.0/30, replay_window: 10}
`
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI("validate", "--config", path)
	if err == nil {
		t.Fatal("vpgw validate accepted an invalid configuration")
	}
	msg := err.Error()
	for _, want := range []string{
		"gateway.asn: ",
		"vpn_connections[0].customer_gateway: ",
		"vpn_connections[0].tunnels[0].inside_cidr: 169.254.3.0/30 is reserved",
		"vpn_connections[0].tunnels[0].psk: ",
		"vpn_connections[0].tunnels[1].replay_window: ",
	} {
		if !strings.Contains(msg, "\n"+want) {
			t.Errorf("validate output lacks a line starting %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "0secretsecret") {
		t.Errorf("validate output shows the PSK:\n%s", msg)
	}
}

func TestStatusWithoutDaemonSaysSo(t *testing.T) {
	_, err := runCLI("status", "--socket", filepath.Join(t.TempDir(), "none.sock"))
	if err == nil || !strings.Contains(err.Error(), "is `vpgw run` running?") {
		t.Errorf("status without a daemon: err = %v", err)
	}
}
