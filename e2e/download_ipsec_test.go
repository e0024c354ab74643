package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/lab"
)

// The strongswan-ipsec download holds two files, each after its marker line.
const (
	ipsecConfMarker    = "# ---- /etc/ipsec.conf ----"
	ipsecSecretsMarker = "# ---- /etc/ipsec.secrets ----"
)

// splitIPsecDownload cuts the strongswan-ipsec download at its marker lines
// into ipsec.conf and ipsec.secrets; the comment header before the first
// marker belongs to neither.
func splitIPsecDownload(out string) (conf, secrets string, err error) {
	lines := strings.SplitAfter(out, "\n")
	confAt, secretsAt := -1, -1
	for i, line := range lines {
		switch strings.TrimRight(line, "\r\n") {
		case ipsecConfMarker:
			if confAt >= 0 {
				return "", "", fmt.Errorf("%q appears twice", ipsecConfMarker)
			}
			confAt = i
		case ipsecSecretsMarker:
			if secretsAt >= 0 {
				return "", "", fmt.Errorf("%q appears twice", ipsecSecretsMarker)
			}
			secretsAt = i
		}
	}
	if confAt < 0 || secretsAt < 0 || secretsAt < confAt {
		return "", "", fmt.Errorf("want the line %q, then the line %q", ipsecConfMarker, ipsecSecretsMarker)
	}
	conf = strings.Join(lines[confAt+1:secretsAt], "")
	secrets = strings.Join(lines[secretsAt+1:], "")
	return conf, secrets, nil
}

// TestDownloadedIPsecConf follows TestOperatorProcedure's CLI steps, then runs
// strongSwan's starter with the strongswan-ipsec download (ipsec.conf and
// ipsec.secrets) exactly as printed, and checks both tunnels and traffic.
func TestDownloadedIPsecConf(t *testing.T) {
	start := time.Now()
	l := newLab(t, "vpgw-e2eipsec", false)
	dir := l.Dir() + "/vpgw"
	v := startVPGW(t, l, gatewayOnlyConfig(dir))

	v.cli(t, "customer-gateway", "create", "--name", "cgw-1", "--ip", lab.CGWWANIP, "--bgp-asn", "65000")
	v.cli(t, "vpn-gateway", "create", "--name", "vgw-1", "--asn", "64512")
	v.cli(t, "vpn-gateway", "attach", "vgw-1", "--vpc-cidr", lab.VPCCIDR)
	v.cli(t, "route-propagation", "enable", "--vpn-gateway", "vgw-1")
	v.cli(t, "vpn-connection", "create", "--name", "vpn-1", "--customer-gateway", "cgw-1", "--vpn-gateway", "vgw-1",
		"--routing", "static", "--static-route", lab.OnpremCIDR,
		"--tunnel1-outside-ip", lab.VGWOutside1, "--tunnel2-outside-ip", lab.VGWOutside2)

	file := filepath.Join(dir, "strongswan-ipsec.txt")
	v.cli(t, "config", "download", "--connection", "vpn-1", "--device", "strongswan-ipsec", "-O", file)
	out, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	conf, secrets, err := splitIPsecDownload(string(out))
	if err != nil {
		t.Fatalf("strongswan-ipsec download: %v\n%s", err, out)
	}
	if !strings.Contains(conf, "conn vpn-1-t1") || !strings.Contains(conf, "conn vpn-1-t2") || strings.Contains(conf, " PSK ") {
		t.Fatalf("ipsec.conf part of the download:\n%s", conf)
	}
	if strings.Count(secrets, ": PSK ") != 2 {
		t.Fatalf("ipsec.secrets part of the download holds %d PSK lines, want 2", strings.Count(secrets, ": PSK "))
	}

	ch, err := l.StartStarter(lab.StarterConfig{Name: "cgw", IPsecConf: conf, IPsecSecrets: secrets,
		Conns: []string{"vpn-1-t1", "vpn-1-t2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	logOnFailure(t, ch)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("starter output (tail):\n%s", ch.Proc.Tail(4000))
		}
	})
	v.waitTunnel(t, 1, 30*time.Second, "UP", isUp)
	v.waitTunnel(t, 2, 30*time.Second, "UP", isUp)
	for _, child := range ch.Conns {
		if err := ch.WaitChild(child, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	up := time.Since(start)
	if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
		t.Fatalf("VPC → on-prem with the downloaded ipsec.conf: %v", err)
	}
	if err := l.Ping(lab.RoleVPC, lab.OnpremIP, 3); err != nil {
		t.Errorf("VPC → on-prem: %v", err)
	}
	if err := l.Ping(lab.RoleOnprem, lab.VPCIP, 3); err != nil {
		t.Errorf("on-prem → VPC: %v", err)
	}
	t.Logf("both tunnels up %v after the start; test body took %v", up.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
