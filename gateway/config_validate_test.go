package gateway

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigValidateRules(t *testing.T) {
	const t0, t1 = "vpn_connections[0].tunnels[0].", "vpn_connections[0].tunnels[1]."
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // the one "path: rule" expected
	}{
		// gateway
		{"gateway name required", func(c *Config) { c.Gateway.Name = "" }, "gateway.name: required"},
		{"gateway name chars", func(c *Config) { c.Gateway.Name = "vgw/1" },
			"gateway.name: must be 1–64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit"},
		{"asn low", func(c *Config) { c.Gateway.ASN = 64511 },
			"gateway.asn: must be in 64512–65534 or 4200000000–4294967294, got 64511"},
		{"asn 65535", func(c *Config) { c.Gateway.ASN = 65535 },
			"gateway.asn: must be in 64512–65534 or 4200000000–4294967294, got 65535"},
		{"asn 4-byte max", func(c *Config) { c.Gateway.ASN = 4294967295 },
			"gateway.asn: must be in 64512–65534 or 4200000000–4294967294, got 4294967295"},
		{"vpc_cidrs empty", func(c *Config) { c.Gateway.VPCCIDRs = nil },
			"gateway.vpc_cidrs: must list at least one IPv4 prefix when the file declares VPN connections"},
		{"vpc_cidrs ipv6", func(c *Config) { c.Gateway.VPCCIDRs = append(c.Gateway.VPCCIDRs, pfx("2001:db8::/64")) },
			"gateway.vpc_cidrs[1]: 2001:db8::/64 must be an IPv4 prefix"},
		{"vpc_cidrs host bits", func(c *Config) { c.Gateway.VPCCIDRs[0] = pfx("10.0.0.1/16") },
			"gateway.vpc_cidrs[0]: 10.0.0.1/16 is not a network address (did you mean 10.0.0.0/16?)"},
		{"vpc_cidrs duplicate", func(c *Config) { c.Gateway.VPCCIDRs = append(c.Gateway.VPCCIDRs, pfx("10.0.0.0/16")) },
			"gateway.vpc_cidrs[1]: duplicate 10.0.0.0/16 (also gateway.vpc_cidrs[0])"},
		{"route_table 0", func(c *Config) { c.Gateway.RouteTable = 0 },
			"gateway.route_table: must be in 1–4294967295 except 255 (local), got 0"},
		{"route_table local", func(c *Config) { c.Gateway.RouteTable = 255 },
			"gateway.route_table: must be in 1–4294967295 except 255 (local), got 255"},
		{"route_table too big", func(c *Config) { c.Gateway.RouteTable = 1 << 32 },
			"gateway.route_table: must be in 1–4294967295 except 255 (local), got 4294967296"},
		{"state_dir relative", func(c *Config) { c.Gateway.StateDir = "state" },
			"gateway.state_dir: must be an absolute path"},
		{"control_socket relative", func(c *Config) { c.Gateway.ControlSocket = "vpgw.sock" },
			"gateway.control_socket: must be an absolute path"},
		{"control_socket too long", func(c *Config) { c.Gateway.ControlSocket = "/" + strings.Repeat("s", 107) },
			"gateway.control_socket: must be at most 107 bytes (unix socket path limit)"},
		{"metrics_listen no port", func(c *Config) { c.Gateway.MetricsListen = "127.0.0.1" },
			`gateway.metrics_listen: "127.0.0.1" must be host:port (or empty to disable metrics)`},
		{"metrics_listen host", func(c *Config) { c.Gateway.MetricsListen = "example.com:9478" },
			`gateway.metrics_listen: host "example.com" must be an IP address or localhost`},

		// customer gateways
		{"cgw name required", func(c *Config) { c.CustomerGateways = append(c.CustomerGateways, cfgTestCGW("")) },
			"customer_gateways[1].name: required"},
		{"cgw name path-safe", func(c *Config) { c.CustomerGateways = append(c.CustomerGateways, cfgTestCGW("../x")) },
			"customer_gateways[1].name: must be 1–64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit"},
		{"cgw name unique", func(c *Config) {
			c.CustomerGateways = append(c.CustomerGateways, CustomerGateway{Name: "cgw-1", IP: addr("198.51.100.9")})
		}, `customer_gateways[1].name: duplicate name "cgw-1" (also customer_gateways[0])`},
		{"cgw ip required", func(c *Config) { c.CustomerGateways[0].IP = netip.Addr{} }, "customer_gateways[0].ip: required"},
		{"cgw ip v4", func(c *Config) { c.CustomerGateways[0].IP = addr("2001:db8::1") },
			"customer_gateways[0].ip: must be an IPv4 address"},
		{"cgw bgp_asn range", func(c *Config) { c.CustomerGateways[0].BGPASN = 2147483648 },
			"customer_gateways[0].bgp_asn: must be in 1–2147483647, got 2147483648"},
		{"cgw bgp_asn needed for dynamic", func(c *Config) {
			c.CustomerGateways[0].BGPASN = 0
			c.VPNConnections[0].Routing = "dynamic"
			c.VPNConnections[0].StaticRoutes = nil
		}, "customer_gateways[0].bgp_asn: required for dynamic routing (used by vpn_connections[0])"},
		{"cgw bgp_asn equals gateway asn", func(c *Config) {
			c.CustomerGateways[0].BGPASN = 64512
			c.VPNConnections[0].Routing = "dynamic"
			c.VPNConnections[0].StaticRoutes = nil
		}, "customer_gateways[0].bgp_asn: must differ from gateway.asn 64512 for eBGP (used by vpn_connections[0])"},

		// connections
		{"conn name required", func(c *Config) { c.VPNConnections[0].Name = "" }, "vpn_connections[0].name: required"},
		{"conn name unique", func(c *Config) {
			c2 := c.VPNConnections[0]
			c2.StaticRoutes = nil
			c2.Tunnels = []Tunnel{cfgTestTunnel("203.0.113.8", "169.254.20.0/30"), cfgTestTunnel("203.0.113.9", "169.254.21.0/30")}
			c.VPNConnections = append(c.VPNConnections, c2)
		}, `vpn_connections[1].name: duplicate name "vpn-1" (also vpn_connections[0])`},
		{"customer_gateway required", func(c *Config) { c.VPNConnections[0].CustomerGateway = "" },
			"vpn_connections[0].customer_gateway: required"},
		{"customer_gateway exists", func(c *Config) { c.VPNConnections[0].CustomerGateway = "cgw-2" },
			`vpn_connections[0].customer_gateway: unknown customer gateway "cgw-2"`},
		{"routing value", func(c *Config) { c.VPNConnections[0].Routing = "bgp" },
			`vpn_connections[0].routing: must be static or dynamic, got "bgp"`},
		{"bgp_grpc_listen loopback only", func(c *Config) { c.Gateway.BGPGRPCListen = "0.0.0.0:50051" },
			`gateway.bgp_grpc_listen: host "0.0.0.0" must be a loopback address: the gRPC API has no authentication`},
		{"bgp_grpc_listen form", func(c *Config) { c.Gateway.BGPGRPCListen = "unix://relative.sock" },
			`gateway.bgp_grpc_listen: "unix://relative.sock": the unix socket path must be absolute`},
		{"static_routes ipv4", func(c *Config) { c.VPNConnections[0].StaticRoutes[0] = pfx("2001:db8::/48") },
			"vpn_connections[0].static_routes[0]: 2001:db8::/48 must be an IPv4 prefix"},
		{"static_routes network", func(c *Config) { c.VPNConnections[0].StaticRoutes[0] = pfx("172.16.0.9/24") },
			"vpn_connections[0].static_routes[0]: 172.16.0.9/24 is not a network address (did you mean 172.16.0.0/24?)"},
		{"static_routes overlap vpc", func(c *Config) { c.VPNConnections[0].StaticRoutes[0] = pfx("10.0.5.0/24") },
			"vpn_connections[0].static_routes[0]: 10.0.5.0/24 overlaps gateway.vpc_cidrs[0] 10.0.0.0/16"},
		{"two tunnels", func(c *Config) { c.VPNConnections[0].Tunnels = c.VPNConnections[0].Tunnels[:1] },
			"vpn_connections[0].tunnels: must have exactly 2 tunnels, got 1"},
		{"not three tunnels", func(c *Config) {
			c.VPNConnections[0].Tunnels = append(c.VPNConnections[0].Tunnels, cfgTestTunnel("203.0.113.7", "169.254.30.0/30"))
		}, "vpn_connections[0].tunnels: must have exactly 2 tunnels, got 3"},

		// tunnels: addresses
		{"outside_ip required", func(c *Config) { c.VPNConnections[0].Tunnels[0].OutsideIP = netip.Addr{} },
			t0 + "outside_ip: required"},
		{"outside_ip v4", func(c *Config) { c.VPNConnections[0].Tunnels[0].OutsideIP = addr("2001:db8::2") },
			t0 + "outside_ip: must be an IPv4 address"},
		{"outside_ip unicast", func(c *Config) { c.VPNConnections[0].Tunnels[0].OutsideIP = addr("0.0.0.0") },
			t0 + "outside_ip: 0.0.0.0 is not a unicast address"},
		{"outside_ip distinct in connection", func(c *Config) { c.VPNConnections[0].Tunnels[1].OutsideIP = addr("203.0.113.2") },
			t1 + "outside_ip: 203.0.113.2 is already used by vpn_connections[0].tunnels[0]"},
		{"outside_ip distinct across connections", func(c *Config) {
			c.VPNConnections = append(c.VPNConnections, VPNConnection{Name: "vpn-2", CustomerGateway: "cgw-1", Routing: "static",
				Tunnels: []Tunnel{cfgTestTunnel("203.0.113.8", "169.254.20.0/30"), cfgTestTunnel("203.0.113.3", "169.254.21.0/30")}})
		}, "vpn_connections[1].tunnels[1].outside_ip: 203.0.113.3 is already used by vpn_connections[0].tunnels[1]"},
		{"inside_cidr required", func(c *Config) { c.VPNConnections[0].Tunnels[1].InsideCIDR = netip.Prefix{} },
			t1 + "inside_cidr: required"},
		{"inside_cidr /30", func(c *Config) { c.VPNConnections[0].Tunnels[1].InsideCIDR = pfx("169.254.11.0/29") },
			t1 + "inside_cidr: 169.254.11.0/29 must be an IPv4 /30"},
		{"inside_cidr network", func(c *Config) { c.VPNConnections[0].Tunnels[1].InsideCIDR = pfx("169.254.11.1/30") },
			t1 + "inside_cidr: 169.254.11.1/30 is not a network address (did you mean 169.254.11.0/30?)"},
		{"inside_cidr link-local", func(c *Config) { c.VPNConnections[0].Tunnels[1].InsideCIDR = pfx("10.9.9.0/30") },
			t1 + "inside_cidr: 10.9.9.0/30 is not inside 169.254.0.0/16"},
		{"inside_cidr reserved", func(c *Config) { c.VPNConnections[0].Tunnels[1].InsideCIDR = pfx("169.254.3.0/30") },
			t1 + "inside_cidr: 169.254.3.0/30 is reserved"},
		{"inside_cidr reserved metadata", func(c *Config) { c.VPNConnections[0].Tunnels[1].InsideCIDR = pfx("169.254.169.252/30") },
			t1 + "inside_cidr: 169.254.169.252/30 is reserved"},
		{"inside_cidr unique", func(c *Config) { c.VPNConnections[0].Tunnels[1].InsideCIDR = pfx("169.254.10.0/30") },
			t1 + "inside_cidr: 169.254.10.0/30 is already used by vpn_connections[0].tunnels[0]"},

		// tunnels: PSK (never echoed)
		{"psk short", func(c *Config) { c.VPNConnections[0].Tunnels[0].PSK = "abc" }, t0 + "psk: must be 8–64 characters long"},
		{"psk long", func(c *Config) { c.VPNConnections[0].Tunnels[0].PSK = strings.Repeat("a", 65) }, t0 + "psk: must be 8–64 characters long"},
		{"psk chars", func(c *Config) { c.VPNConnections[0].Tunnels[0].PSK = "pass-word!" }, t0 + "psk: may contain only A-Z a-z 0-9 . _"},
		{"psk leading zero", func(c *Config) { c.VPNConnections[0].Tunnels[0].PSK = "0password" }, t0 + "psk: must not start with 0"},

		// tunnels: proposals
		{"ike_versions empty", func(c *Config) { c.VPNConnections[0].Tunnels[0].IKEVersions = []string{} },
			t0 + "ike_versions: must list ikev1, ikev2 or both"},
		{"ike_versions unknown", func(c *Config) { c.VPNConnections[0].Tunnels[0].IKEVersions = []string{"ikev2", "ikev3"} },
			t0 + `ike_versions[1]: unknown IKE version "ikev3" (want ikev1, ikev2)`},
		{"ike_versions duplicate", func(c *Config) { c.VPNConnections[0].Tunnels[0].IKEVersions = []string{"ikev2", "ikev2"} },
			t0 + `ike_versions[1]: duplicate "ikev2" (also [0])`},
		{"encryption empty", func(c *Config) { c.VPNConnections[0].Tunnels[0].Phase1.Encryption = nil },
			t0 + "phase1.encryption: must not be empty"},
		{"encryption unknown", func(c *Config) { c.VPNConnections[0].Tunnels[0].Phase2.Encryption = []string{"3des"} },
			t0 + `phase2.encryption[0]: unknown encryption algorithm "3des" (want aes128, aes128-gcm-16, aes256, aes256-gcm-16)`},
		{"integrity empty", func(c *Config) { c.VPNConnections[0].Tunnels[0].Phase2.Integrity = []string{} },
			t0 + "phase2.integrity: must not be empty"},
		{"integrity unknown", func(c *Config) { c.VPNConnections[0].Tunnels[0].Phase1.Integrity = []string{"sha2-256", "md5"} },
			t0 + `phase1.integrity[1]: unknown integrity algorithm "md5" (want sha1, sha2-256, sha2-384, sha2-512)`},
		{"dh phase1 no group 5", func(c *Config) { c.VPNConnections[0].Tunnels[0].Phase1.DHGroups = []int{14, 5} },
			t0 + "phase1.dh_groups[1]: group 5 is not allowed (allowed: 2, 14–24, 31)"},
		{"dh phase2 group 5 ok, 1 not", func(c *Config) { c.VPNConnections[0].Tunnels[0].Phase2.DHGroups = []int{5, 1} },
			t0 + "phase2.dh_groups[1]: group 1 is not allowed (allowed: 2, 5, 14–24, 31)"},
		{"dh empty", func(c *Config) { c.VPNConnections[0].Tunnels[0].Phase2.DHGroups = nil },
			t0 + "phase2.dh_groups: must not be empty"},
		{"dh duplicate", func(c *Config) { c.VPNConnections[0].Tunnels[0].Phase1.DHGroups = []int{14, 14} },
			t0 + "phase1.dh_groups[1]: duplicate group 14 (also dh_groups[0])"},

		// tunnels: timers and options
		{"phase1 lifetime max", func(c *Config) { c.VPNConnections[0].Tunnels[0].Phase1.Lifetime = 9 * time.Hour },
			t0 + "phase1.lifetime: must be between 15m and 8h, got 9h"},
		{"phase2 lifetime max", func(c *Config) {
			c.VPNConnections[0].Tunnels[0].Phase2.Lifetime = 61 * time.Minute
		}, t0 + "phase2.lifetime: must be between 15m and 1h, got 1h1m"},
		{"phase2 below phase1", func(c *Config) { c.VPNConnections[0].Tunnels[0].Phase1.Lifetime = 30 * time.Minute },
			t0 + "phase2.lifetime: must be less than phase1.lifetime (30m), got 1h"},
		{"rekey_margin min", func(c *Config) { c.VPNConnections[0].Tunnels[0].RekeyMargin = 59 * time.Second },
			t0 + "rekey_margin: must be between 1m and phase2.lifetime/2 (30m), got 59s"},
		{"rekey_margin half phase2", func(c *Config) {
			c.VPNConnections[0].Tunnels[0].Phase2.Lifetime = 20 * time.Minute
			c.VPNConnections[0].Tunnels[0].RekeyMargin = 11 * time.Minute
		}, t0 + "rekey_margin: must be between 1m and phase2.lifetime/2 (10m), got 11m"},
		{"rekey_fuzz", func(c *Config) { c.VPNConnections[0].Tunnels[0].RekeyFuzz = 101 },
			t0 + "rekey_fuzz: must be between 0 and 100 (percent), got 101"},
		{"rekey_fuzz negative", func(c *Config) { c.VPNConnections[0].Tunnels[0].RekeyFuzz = -1 },
			t0 + "rekey_fuzz: must be between 0 and 100 (percent), got -1"},
		{"replay_window low", func(c *Config) { c.VPNConnections[0].Tunnels[0].ReplayWindow = 32 },
			t0 + "replay_window: must be between 64 and 2048, got 32"},
		{"replay_window high", func(c *Config) { c.VPNConnections[0].Tunnels[0].ReplayWindow = 4096 },
			t0 + "replay_window: must be between 64 and 2048, got 4096"},
		{"dpd_timeout", func(c *Config) { c.VPNConnections[0].Tunnels[0].DPDTimeout = 29 * time.Second },
			t0 + "dpd_timeout: must be at least 30s, got 29s"},
		{"dpd_timeout_action", func(c *Config) { c.VPNConnections[0].Tunnels[0].DPDTimeoutAction = "hold" },
			t0 + `dpd_timeout_action: must be clear, restart or none, got "hold"`},
		{"startup_action", func(c *Config) { c.VPNConnections[0].Tunnels[0].StartupAction = "" },
			t0 + `startup_action: must be add or start, got ""`},
		{"force_udp_encapsulation with IKEv1 only", func(c *Config) {
			c.VPNConnections[0].Tunnels[0].IKEVersions = []string{"ikev1"}
			c.VPNConnections[0].Tunnels[0].ForceUDPEncap = true
		}, t0 + "force_udp_encapsulation: applies to IKEv2 only: add ikev2 to ike_versions or remove it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cfgTestParse(t, cfgTestBase)
			tc.mutate(cfg)
			var got []string
			for _, e := range cfg.Validate() {
				got = append(got, e.Error())
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("Validate() =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), tc.want)
			}
		})
	}
}

func cfgTestCGW(name string) CustomerGateway {
	return CustomerGateway{Name: name, IP: netip.MustParseAddr("198.51.100.77")}
}

func cfgTestTunnel(outside, inside string) Tunnel {
	t := DefaultTunnel()
	t.OutsideIP = netip.MustParseAddr(outside)
	t.InsideCIDR = netip.MustParsePrefix(inside)
	return t
}

func TestConfigValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
	}{
		{"asn 65534", func(c *Config) { c.Gateway.ASN = 65534 }},
		{"asn 4-byte", func(c *Config) { c.Gateway.ASN = 4200000000 }},
		{"route_table big", func(c *Config) { c.Gateway.RouteTable = 4294967295 }},
		{"metrics disabled", func(c *Config) { c.Gateway.MetricsListen = "" }},
		{"metrics any addr", func(c *Config) { c.Gateway.MetricsListen = ":9478" }},
		{"psk omitted", func(c *Config) { c.VPNConnections[0].Tunnels[0].PSK = "" }},
		{"psk 64", func(c *Config) { c.VPNConnections[0].Tunnels[0].PSK = strings.Repeat("Ab._9", 12) + "abcd" }},
		{"static without routes", func(c *Config) { c.VPNConnections[0].StaticRoutes = nil }},
		{"dynamic", func(c *Config) { c.VPNConnections[0].Routing = "dynamic"; c.VPNConnections[0].StaticRoutes = nil }},
		{"extreme timers", func(c *Config) {
			tn := &c.VPNConnections[0].Tunnels[0]
			tn.Phase1.Lifetime, tn.Phase2.Lifetime = 16*time.Minute, 15*time.Minute
			tn.RekeyMargin, tn.RekeyFuzz, tn.ReplayWindow = 60*time.Second, 0, 64
			tn.DPDTimeout, tn.DPDTimeoutAction, tn.StartupAction = 30*time.Second, "none", "start"
		}},
		{"unused customer gateway without asn", func(c *Config) {
			c.CustomerGateways = append(c.CustomerGateways, CustomerGateway{Name: "cgw-2", IP: netip.MustParseAddr("198.51.100.3")})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cfgTestParse(t, cfgTestBase)
			tc.mutate(cfg)
			if errs := cfg.Validate(); errs != nil {
				t.Errorf("Validate() = %v", FieldErrors(errs))
			}
		})
	}
}

func TestConfigValidateMultiple(t *testing.T) {
	cfg := cfgTestParse(t, cfgTestBase)
	cfg.Gateway.ASN = 1
	cfg.CustomerGateways[0].IP = netip.Addr{}
	tn := &cfg.VPNConnections[0].Tunnels[0]
	tn.Phase1.Lifetime = 899 * time.Second
	tn.Phase2.Lifetime = 800 * time.Second
	tn.RekeyMargin = 60 * time.Second
	cfg.VPNConnections[0].Tunnels[1].ReplayWindow = 0
	want := []FieldError{
		{"gateway.asn", "must be in 64512–65534 or 4200000000–4294967294, got 1"},
		{"customer_gateways[0].ip", "required"},
		{"vpn_connections[0].tunnels[0].phase1.lifetime", "must be between 15m and 8h, got 14m59s"},
		{"vpn_connections[0].tunnels[0].phase2.lifetime", "must be between 15m and 1h, got 13m20s"},
		{"vpn_connections[0].tunnels[1].replay_window", "must be between 64 and 2048, got 0"},
	}
	for range 3 { // deterministic: same list, same order, every time
		if got := cfg.Validate(); !reflect.DeepEqual(got, want) {
			t.Fatalf("Validate() =\n  %q\nwant\n  %q", got, want)
		}
	}
}

func TestConfigValidateNeverEchoesPSK(t *testing.T) {
	for _, psk := range []string{"0Secret.value", "bad-secret-value!", "s3cr", strings.Repeat("Z", 70)} {
		cfg := cfgTestParse(t, cfgTestBase)
		cfg.VPNConnections[0].Tunnels[1].PSK = psk
		errs := cfg.Validate()
		if len(errs) == 0 {
			t.Fatalf("psk %d chars accepted", len(psk))
		}
		for _, e := range errs {
			if strings.Contains(e.Error(), psk) {
				t.Errorf("error echoes the PSK: %v", e)
			}
		}
	}
}
