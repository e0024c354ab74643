package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// cfgTestBase is a small valid configuration the tests start from.
const cfgTestBase = `
gateway:
  name: vgw
  vpc_cidrs: [10.0.0.0/16]
customer_gateways:
  - name: cgw-1
    ip: 198.51.100.2
    bgp_asn: 65000
vpn_connections:
  - name: vpn-1
    customer_gateway: cgw-1
    static_routes: [172.16.0.0/24]
    tunnels:
      - outside_ip: 203.0.113.2
        inside_cidr: 169.254.10.0/30
        psk: example.psk_0123456789
      - outside_ip: 203.0.113.3
        inside_cidr: 169.254.11.0/30
`

func cfgTestParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := ParseConfig([]byte(src))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	return cfg
}

func TestConfigDefaultsApplied(t *testing.T) {
	cfg := cfgTestParse(t, cfgTestBase)
	if errs := cfg.Validate(); errs != nil {
		t.Fatalf("base config invalid: %v", FieldErrors(errs))
	}
	wantGW := GatewayConfig{
		Name:             "vgw",
		ASN:              64512,
		VPCCIDRs:         []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")},
		RouteTable:       254,
		RoutePropagation: true,
		StateDir:         "/var/lib/vpgw",
		ControlSocket:    "/run/vpgw/vpgw.sock",
		MetricsListen:    "127.0.0.1:9478",

		MaxVPNConnections:   10,
		MaxCustomerGateways: 50,
	}
	if !reflect.DeepEqual(cfg.Gateway, wantGW) {
		t.Errorf("gateway = %+v\nwant %+v", cfg.Gateway, wantGW)
	}
	if got := cfg.VPNConnections[0].Routing; got != "static" {
		t.Errorf("routing = %q, want static", got)
	}
	tun := cfg.VPNConnections[0].Tunnels[1]
	want := Tunnel{
		OutsideIP:   netip.MustParseAddr("203.0.113.3"),
		InsideCIDR:  netip.MustParsePrefix("169.254.11.0/30"),
		IKEVersions: []string{"ikev1", "ikev2"},
		Phase1: PhaseConfig{
			Encryption: []string{"aes128", "aes256", "aes128-gcm-16", "aes256-gcm-16"},
			Integrity:  []string{"sha1", "sha2-256", "sha2-384", "sha2-512"},
			DHGroups:   []int{2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24},
			Lifetime:   8 * time.Hour,
		},
		Phase2: PhaseConfig{
			Encryption: []string{"aes128", "aes256", "aes128-gcm-16", "aes256-gcm-16"},
			Integrity:  []string{"sha1", "sha2-256", "sha2-384", "sha2-512"},
			DHGroups:   []int{2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24},
			Lifetime:   time.Hour,
		},
		RekeyMargin:      270 * time.Second,
		RekeyFuzz:        100,
		ReplayWindow:     1024,
		DPDTimeout:       40 * time.Second,
		DPDTimeoutAction: "clear",
		StartupAction:    "add",
	}
	if !reflect.DeepEqual(tun, want) {
		t.Errorf("tunnel defaults:\n got %#v\nwant %#v", cfgTestFields(tun), cfgTestFields(want))
	}
}

// cfgTestFields prints a tunnel with all fields (Tunnel's own formatting
// hides the PSK, which is empty here anyway).
func cfgTestFields(t Tunnel) string {
	type plain Tunnel
	return fmt.Sprintf("%+v", plain(t))
}

func TestConfigOverridesKeepOtherDefaults(t *testing.T) {
	src := strings.Replace(cfgTestBase, "        inside_cidr: 169.254.11.0/30\n",
		"        inside_cidr: 169.254.11.0/30\n        phase1: {lifetime: 4h}\n        rekey_fuzz: 0\n", 1)
	src = strings.Replace(src, "  vpc_cidrs: [10.0.0.0/16]\n", "  vpc_cidrs: [10.0.0.0/16]\n  route_propagation: false\n", 1)
	cfg := cfgTestParse(t, src)
	tun := cfg.VPNConnections[0].Tunnels[1]
	if tun.Phase1.Lifetime != 4*time.Hour {
		t.Errorf("phase1.lifetime = %v, want 4h", tun.Phase1.Lifetime)
	}
	if len(tun.Phase1.Encryption) != 4 || len(tun.Phase1.DHGroups) != 12 {
		t.Errorf("phase1 lists lost their defaults: %+v", tun.Phase1)
	}
	if tun.RekeyFuzz != 0 {
		t.Errorf("rekey_fuzz = %d, want the explicit 0", tun.RekeyFuzz)
	}
	if cfg.Gateway.RoutePropagation {
		t.Error("route_propagation: explicit false became true")
	}
	// Default slices are per tunnel, not shared.
	cfg.VPNConnections[0].Tunnels[0].Phase1.Encryption[0] = "x"
	if tun.Phase1.Encryption[0] != "aes128" {
		t.Error("tunnels share default slices")
	}
}

func TestConfigUnknownKey(t *testing.T) {
	src := strings.Replace(cfgTestBase, "        inside_cidr: 169.254.11.0/30\n",
		"        inside_cidr: 169.254.11.0/30\n        foo: 1\n", 1)
	_, err := ParseConfig([]byte(src))
	var fe FieldErrors
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v (%T), want FieldErrors", err, err)
	}
	if got, want := err.Error(), "vpn_connections[0].tunnels[1].foo: unknown key"; got != want {
		t.Errorf("err = %q, want %q", got, want)
	}
}

func TestConfigParseTypeErrors(t *testing.T) {
	tests := []struct{ key, value, want string }{
		{"rekey_margin", "9", `vpn_connections[0].tunnels[1].rekey_margin: must be a duration such as 8h, 9m or 30s`},
		{"rekey_margin", "9 minutes", `vpn_connections[0].tunnels[1].rekey_margin: "9 minutes" is not a duration (use e.g. 8h, 9m, 30s)`},
		{"replay_window", "1k", `vpn_connections[0].tunnels[1].replay_window: must be an integer`},
		{"ike_versions", "ikev2", `vpn_connections[0].tunnels[1].ike_versions: must be a list`},
		{"phase1", "[aes128]", `vpn_connections[0].tunnels[1].phase1: must be a mapping`},
		{"psk", "12345678", `vpn_connections[0].tunnels[1].psk: must be a string (quote it)`},
		{"outside_ip", "203.0.113.0/24", `vpn_connections[0].tunnels[1].outside_ip: "203.0.113.0/24" is not an IP address`},
		{"inside_cidr", "169.254.11.0", `vpn_connections[0].tunnels[1].inside_cidr: "169.254.11.0" is not a CIDR prefix`},
	}
	for _, tc := range tests {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			src := cfgTestSetTunnelKey(cfgTestBase, tc.key, tc.value)
			_, err := ParseConfig([]byte(src))
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v\nwant %s", err, tc.want)
			}
		})
	}
	_, err := ParseConfig([]byte("gateway: {name: vgw, asn: 4294967296}\n"))
	if err == nil || err.Error() != "gateway.asn: 4294967296 is out of range" {
		t.Errorf("uint32 overflow: err = %v", err)
	}
	_, err = ParseConfig([]byte("gateway: {route_propagation: yes please}\n"))
	if err == nil || err.Error() != "gateway.route_propagation: must be true or false" {
		t.Errorf("bool: err = %v", err)
	}
	_, err = ParseConfig([]byte("- a\n- b\n"))
	if err == nil || err.Error() != "(root): must be a mapping" {
		t.Errorf("root list: err = %v", err)
	}
}

// cfgTestSetTunnelKey sets (or adds) a key of the base file's second tunnel.
func cfgTestSetTunnelKey(src, key, value string) string {
	anchor := "      - outside_ip: 203.0.113.3\n"
	i := strings.Index(src, anchor)
	head, tail := src[:i+len(anchor)], src[i+len(anchor):]
	var kept []string
	for _, l := range strings.SplitAfter(tail, "\n") {
		if !strings.HasPrefix(l, "        "+key+":") && l != "" {
			kept = append(kept, l)
		}
	}
	if key == "outside_ip" {
		head = strings.TrimSuffix(head, anchor) + "      - outside_ip: " + value + "\n"
		return head + strings.Join(kept, "")
	}
	return head + "        " + key + ": " + value + "\n" + strings.Join(kept, "")
}

func TestConfigParseErrorsAllReported(t *testing.T) {
	src := `
gateway: {name: vgw, colour: red, vpc_cidrs: [10.0.0.0/8, nope]}
customer_gateways: [{name: cgw-1, ip: 1.2.3.4, asn: 1}]
`
	_, err := ParseConfig([]byte(src))
	var fe FieldErrors
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want FieldErrors", err)
	}
	want := FieldErrors{
		{"gateway.colour", "unknown key"},
		{"gateway.vpc_cidrs[1]", `"nope" is not a CIDR prefix`},
		{"customer_gateways[0].asn", "unknown key"},
	}
	if !reflect.DeepEqual(fe, want) {
		t.Errorf("errors = %q\nwant %q", fe, want)
	}
	if !strings.HasPrefix(err.Error(), "3 configuration errors:\n  gateway.colour: unknown key\n") {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestConfigSyntaxErrorHidesSource(t *testing.T) {
	src := "gateway:\n  name: vgw\nvpn_connections:\n  - tunnels:\n    - psk: secret.value_123\n   bad: [\n"
	_, err := ParseConfig([]byte(src))
	if err == nil {
		t.Fatal("want a syntax error")
	}
	if strings.Contains(err.Error(), "secret.value_123") {
		t.Errorf("syntax error echoes the source: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "yaml: line ") {
		t.Errorf("err = %q, want a line number", err)
	}
}

func TestConfigDuplicateKeyRejected(t *testing.T) {
	_, err := ParseConfig([]byte("gateway: {name: a}\ngateway: {name: b}\n"))
	if err == nil {
		t.Fatal("duplicate key accepted")
	}
}

func TestConfigEmptyFile(t *testing.T) {
	cfg := cfgTestParse(t, "# nothing\n")
	errs := cfg.Validate()
	want := []FieldError{
		{"gateway.name", "required"},
	}
	if !reflect.DeepEqual(errs, want) {
		t.Errorf("Validate() = %q, want %q", errs, want)
	}
}

func TestConfigInsideAddrs(t *testing.T) {
	tun := Tunnel{InsideCIDR: netip.MustParsePrefix("169.254.10.0/30")}
	if got := tun.VGWInsideAddr(); got != netip.MustParseAddr("169.254.10.1") {
		t.Errorf("VGWInsideAddr = %v", got)
	}
	if got := tun.CGWInsideAddr(); got != netip.MustParseAddr("169.254.10.2") {
		t.Errorf("CGWInsideAddr = %v", got)
	}
	if got := (Tunnel{}).CGWInsideAddr(); got.IsValid() {
		t.Errorf("CGWInsideAddr of unset cidr = %v, want zero", got)
	}
}

func TestConfigTunnelFormattingHidesPSK(t *testing.T) {
	tun := DefaultTunnel()
	tun.PSK = "very.secret_psk"
	var b strings.Builder
	log := slog.New(slog.NewTextHandler(&b, nil))
	log.Info("x", "tunnel", tun)
	for _, s := range []string{
		fmt.Sprint(tun), fmt.Sprintf("%+v", tun), fmt.Sprintf("%#v", tun), fmt.Sprintf("%v", &tun),
		fmt.Sprintf("%v", VPNConnection{Tunnels: []Tunnel{tun}}), b.String(),
	} {
		if strings.Contains(s, "very.secret_psk") {
			t.Errorf("PSK leaked: %s", s)
		}
		if !strings.Contains(s, "redacted") {
			t.Errorf("no redaction marker: %s", s)
		}
	}
}

// TestConfigSamples checks every file in testdata/configs: valid-* must
// parse and validate; invalid-* list their expected errors in "# want:"
// lines (all of them, in order), or must fail YAML parsing if they have
// none.
func TestConfigSamples(t *testing.T) {
	files, err := filepath.Glob("../testdata/configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := LoadConfig(f)
			var got []string
			switch {
			case err != nil:
				var fe FieldErrors
				if !errors.As(err, &fe) {
					got = []string{"syntax"}
					break
				}
				for _, e := range fe {
					got = append(got, e.Error())
				}
			default:
				for _, e := range cfg.Validate() {
					got = append(got, e.Error())
				}
			}
			var want []string
			data, _ := os.ReadFile(f)
			for _, l := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(l, "# want: "); ok {
					want = append(want, w)
				}
			}
			if strings.HasPrefix(filepath.Base(f), "invalid-") && len(want) == 0 {
				want = []string{"syntax"}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

func TestConfigLoadMissingFile(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want ErrNotExist", err)
	}
}

func TestConfigFullSampleValues(t *testing.T) {
	cfg, err := LoadConfig("../testdata/configs/valid-full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t2 := cfg.VPNConnections[0].Tunnels[1]
	if t2.Phase2.Lifetime != 30*time.Minute || t2.RekeyMargin != 270*time.Second ||
		t2.StartupAction != "start" || !reflect.DeepEqual(t2.Phase1.DHGroups, []int{19, 20}) {
		t.Errorf("tunnel 2 = %s", cfgTestFields(t2))
	}
	if cfg.VPNConnections[1].Routing != "dynamic" || cfg.VPNConnections[1].Tunnels[0].PSK != "" {
		t.Errorf("vpn-2 = %+v", cfg.VPNConnections[1])
	}
	if g, ok := cfg.CustomerGatewayByName("cgw-2"); !ok || g.BGPASN != 65001 {
		t.Errorf("CustomerGatewayByName(cgw-2) = %+v, %v", g, ok)
	}
}
