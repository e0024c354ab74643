package devconfig

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

const (
	psk1 = "example.psk_0123456789"
	psk2 = "example.psk_9876543210"
)

// awsDefaultPhase1 and awsDefaultPhase2 are AWS's default tunnel options
// (vpgw's gateway.DefaultTunnel).
func awsDefaultPhase1() Phase {
	return Phase{
		Encryption: []string{"aes128", "aes256", "aes128-gcm-16", "aes256-gcm-16"},
		Integrity:  []string{"sha1", "sha2-256", "sha2-384", "sha2-512"},
		DHGroups:   []int{2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24},
		Lifetime:   8 * time.Hour,
	}
}

func awsDefaultPhase2() Phase {
	return Phase{
		Encryption: []string{"aes128", "aes256", "aes128-gcm-16", "aes256-gcm-16"},
		Integrity:  []string{"sha1", "sha2-256", "sha2-384", "sha2-512"},
		DHGroups:   []int{2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24},
		Lifetime:   time.Hour,
	}
}

// sample is the fixed connection of the golden files (TEST-NET addresses).
// Tunnel 1 has AWS's defaults; tunnel 2 narrower options, so the tests see
// each tunnel's own lists.
func sample(routing string) Connection {
	c := Connection{
		ID:                "vpn-0123456789abcdef0",
		Name:              "vpn-1",
		VGWASN:            64512,
		CustomerGatewayIP: netip.MustParseAddr("198.51.100.2"),
		Routing:           routing,
		StaticRoutes:      []netip.Prefix{netip.MustParsePrefix("172.16.0.0/24")},
		VPCCIDRs:          []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")},
		Tunnels: [2]Tunnel{
			{
				OutsideIP:   netip.MustParseAddr("203.0.113.2"),
				InsideCIDR:  netip.MustParsePrefix("169.254.10.0/30"),
				PSK:         psk1,
				IKEVersions: []string{"ikev1", "ikev2"},
				Phase1:      awsDefaultPhase1(),
				Phase2:      awsDefaultPhase2(),
				DPDTimeout:  40 * time.Second, DPDAction: "clear", StartupAction: "add",
			},
			{
				OutsideIP:   netip.MustParseAddr("203.0.113.3"),
				InsideCIDR:  netip.MustParsePrefix("169.254.11.0/30"),
				PSK:         psk2,
				IKEVersions: []string{"ikev1", "ikev2"},
				Phase1: Phase{Encryption: []string{"aes256", "aes256-gcm-16"}, Integrity: []string{"sha2-256", "sha1"},
					DHGroups: []int{14, 19}, Lifetime: 4 * time.Hour},
				Phase2: Phase{Encryption: []string{"aes256-gcm-16", "aes256"}, Integrity: []string{"sha2-256"},
					DHGroups: []int{14}, Lifetime: 30 * time.Minute},
				DPDTimeout: 30 * time.Second, DPDAction: "restart", StartupAction: "start",
			},
		},
	}
	if routing == "dynamic" {
		c.CustomerASN = 65000
		c.StaticRoutes = nil
	}
	return c
}

// sampleOptions gives the on-prem LAN explicitly for dynamic routing (it
// has no static routes to default to).
func sampleOptions(routing, ike string) Options {
	o := Options{IKEVersion: ike}
	if routing == "dynamic" {
		o.CustomerLANs = []netip.Prefix{netip.MustParsePrefix("172.16.0.0/24")}
	}
	return o
}

type combo struct{ device, routing, ike string }

func combos() []combo {
	var out []combo
	for _, d := range Devices() {
		for _, r := range []string{"static", "dynamic"} {
			for _, v := range []string{"ikev1", "ikev2"} {
				out = append(out, combo{d.Name, r, v})
			}
		}
	}
	return out
}

func (c combo) String() string { return c.device + "-" + c.routing + "-" + c.ike }

func render(t *testing.T, c combo) string {
	t.Helper()
	out, err := Render(sample(c.routing), c.device, sampleOptions(c.routing, c.ike))
	if err != nil {
		t.Fatalf("Render(%s): %v", c, err)
	}
	return string(out)
}

func TestGolden(t *testing.T) {
	for _, c := range combos() {
		t.Run(c.String(), func(t *testing.T) {
			got := render(t, c)
			path := filepath.Join("testdata", "golden", c.String()+".txt")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./devconfig -run TestGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (go test ./devconfig -run TestGolden -update to accept):\n%s", path, firstDiff(string(want), got))
			}
		})
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n want %q\n  got %q", i+1, a, b)
		}
	}
	return "(equal lines, different endings)"
}
