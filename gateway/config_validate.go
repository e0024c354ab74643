package gateway

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vpgw/vpgw/suite"
)

// Limits from AWS's tunnel options and the Linux kernel.
const (
	cfgMinPhaseLifetime  = 900 * time.Second
	cfgMaxPhase1Lifetime = 8 * time.Hour
	cfgMaxPhase2Lifetime = time.Hour
	cfgMinRekeyMargin    = 60 * time.Second
	cfgMinDPDTimeout     = 30 * time.Second
	cfgMinReplayWindow   = 64
	cfgMaxReplayWindow   = 2048
	cfgMaxBGPASN         = 2147483647
	cfgMaxRouteTable     = 4294967295
	cfgLocalRouteTable   = 255
	cfgMaxNameLen        = 64
	cfgMaxSocketPath     = 107 // sun_path is 108 bytes with the NUL
	cfgMinPSKLen         = 8
	cfgMaxPSKLen         = 64
)

var (
	cfgLinkLocal = netip.MustParsePrefix("169.254.0.0/16")
	// AWS reserves these inside /30s (169.254.169.252/30 holds the
	// instance metadata and DNS addresses).
	cfgReservedInside = []netip.Prefix{
		netip.MustParsePrefix("169.254.0.0/30"),
		netip.MustParsePrefix("169.254.1.0/30"),
		netip.MustParsePrefix("169.254.2.0/30"),
		netip.MustParsePrefix("169.254.3.0/30"),
		netip.MustParsePrefix("169.254.4.0/30"),
		netip.MustParsePrefix("169.254.5.0/30"),
		netip.MustParsePrefix("169.254.169.252/30"),
	}
	cfgPhase1DH = []int{2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 31}
	cfgPhase2DH = []int{2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 31}
)

// Validate checks every rule of the configuration contract and returns one
// FieldError per problem, in file order (gateway, customer gateways,
// connections; cross-references are reported at the later occurrence).
// It returns nil for a valid configuration.
func (c *Config) Validate() []FieldError {
	v := &cfgValidator{
		outside: map[netip.Addr]string{},
		inside:  map[netip.Prefix]string{},
	}
	v.gateway(&c.Gateway, len(c.VPNConnections))
	cgws := map[string]int{}
	for i := range c.CustomerGateways {
		g := &c.CustomerGateways[i]
		p := fmt.Sprintf("customer_gateways[%d]", i)
		if v.name(p+".name", g.Name) {
			if j, dup := cgws[g.Name]; dup {
				v.fail(p+".name", fmt.Sprintf("duplicate name %q (also customer_gateways[%d])", g.Name, j))
			} else {
				cgws[g.Name] = i
			}
		}
		switch {
		case !g.IP.IsValid():
			v.fail(p+".ip", "required")
		case !g.IP.Is4():
			v.fail(p+".ip", "must be an IPv4 address")
		}
		if g.BGPASN > cfgMaxBGPASN {
			v.fail(p+".bgp_asn", fmt.Sprintf("must be in 1–%d, got %d", cfgMaxBGPASN, g.BGPASN))
		}
	}
	conns := map[string]int{}
	for i := range c.VPNConnections {
		cn := &c.VPNConnections[i]
		p := fmt.Sprintf("vpn_connections[%d]", i)
		if v.name(p+".name", cn.Name) {
			if j, dup := conns[cn.Name]; dup {
				v.fail(p+".name", fmt.Sprintf("duplicate name %q (also vpn_connections[%d])", cn.Name, j))
			} else {
				conns[cn.Name] = i
			}
		}
		v.connection(c, p, cn, cgws)
	}
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

type cfgValidator struct {
	errs    []FieldError
	outside map[netip.Addr]string   // outside IP -> path of its first tunnel
	inside  map[netip.Prefix]string // inside /30 -> path of its first tunnel
}

func (v *cfgValidator) fail(path, rule string) {
	v.errs = append(v.errs, FieldError{Path: path, Rule: rule})
}

// name checks a name that ends up in file names and log keys; it reports
// whether the name is usable (so duplicates are checked only then).
func (v *cfgValidator) name(path, s string) bool {
	if s == "" {
		v.fail(path, "required")
		return false
	}
	if len(s) > cfgMaxNameLen || !cfgNameOK(s) {
		v.fail(path, fmt.Sprintf("must be 1–%d characters of A-Z a-z 0-9 . _ - starting with a letter or digit", cfgMaxNameLen))
		return false
	}
	return true
}

func cfgNameOK(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case (r == '.' || r == '_' || r == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

func (v *cfgValidator) gateway(g *GatewayConfig, conns int) {
	v.name("gateway.name", g.Name)
	if !(g.ASN >= 64512 && g.ASN <= 65534) && !(g.ASN >= 4200000000 && g.ASN <= 4294967294) {
		v.fail("gateway.asn", fmt.Sprintf("must be in 64512–65534 or 4200000000–4294967294, got %d", g.ASN))
	}
	// Without vpc_cidrs the file declares no attached VPN gateway: the
	// objects then come from the state store (vpgw vpn-gateway attach).
	if len(g.VPCCIDRs) == 0 && conns > 0 {
		v.fail("gateway.vpc_cidrs", "must list at least one IPv4 prefix when the file declares VPN connections")
	}
	v.prefixes("gateway.vpc_cidrs", g.VPCCIDRs)
	if g.RouteTable < 1 || g.RouteTable > cfgMaxRouteTable || g.RouteTable == cfgLocalRouteTable {
		v.fail("gateway.route_table", fmt.Sprintf("must be in 1–%d except 255 (local), got %d", cfgMaxRouteTable, g.RouteTable))
	}
	if !filepath.IsAbs(g.StateDir) {
		v.fail("gateway.state_dir", "must be an absolute path")
	}
	switch {
	case !filepath.IsAbs(g.ControlSocket):
		v.fail("gateway.control_socket", "must be an absolute path")
	case len(g.ControlSocket) > cfgMaxSocketPath:
		v.fail("gateway.control_socket", fmt.Sprintf("must be at most %d bytes (unix socket path limit)", cfgMaxSocketPath))
	}
	if g.MetricsListen != "" {
		host, port, err := net.SplitHostPort(g.MetricsListen)
		if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || n == 0 {
			v.fail("gateway.metrics_listen", fmt.Sprintf("%q must be host:port (or empty to disable metrics)", g.MetricsListen))
		} else if host != "" {
			if _, aerr := netip.ParseAddr(host); aerr != nil && host != "localhost" {
				v.fail("gateway.metrics_listen", fmt.Sprintf("host %q must be an IP address or localhost", host))
			}
		}
	}
	if g.MaxVPNConnections < 1 || g.MaxVPNConnections > 1000 {
		v.fail("gateway.max_vpn_connections", fmt.Sprintf("must be between 1 and 1000, got %d", g.MaxVPNConnections))
	}
	if g.MaxCustomerGateways < 1 || g.MaxCustomerGateways > 1000 {
		v.fail("gateway.max_customer_gateways", fmt.Sprintf("must be between 1 and 1000, got %d", g.MaxCustomerGateways))
	}
	if g.TunnelLog != "" && g.TunnelLog != "stderr" && !filepath.IsAbs(g.TunnelLog) {
		v.fail("gateway.tunnel_log", fmt.Sprintf("%q must be stderr or an absolute file path", g.TunnelLog))
	}
	if g.BGPGRPCListen != "" {
		v.grpcListen("gateway.bgp_grpc_listen", g.BGPGRPCListen)
	}
}

// grpcListen accepts only places other hosts cannot reach: a loopback
// host:port or an absolute unix:// socket path.
func (v *cfgValidator) grpcListen(path, s string) {
	if sock, ok := strings.CutPrefix(s, "unix://"); ok {
		if !filepath.IsAbs(sock) {
			v.fail(path, fmt.Sprintf("%q: the unix socket path must be absolute", s))
		}
		return
	}
	host, port, err := net.SplitHostPort(s)
	if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || n == 0 {
		v.fail(path, fmt.Sprintf("%q must be a loopback host:port or unix:///path", s))
		return
	}
	if a, aerr := netip.ParseAddr(host); host != "localhost" && (aerr != nil || !a.IsLoopback()) {
		v.fail(path, fmt.Sprintf("host %q must be a loopback address: the gRPC API has no authentication", host))
	}
}

// prefixes checks a list of IPv4 networks (VPC CIDRs, static routes).
func (v *cfgValidator) prefixes(path string, ps []netip.Prefix) {
	seen := map[netip.Prefix]int{}
	for i, p := range ps {
		ep := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case !p.IsValid():
			v.fail(ep, "required")
		case !p.Addr().Is4():
			v.fail(ep, fmt.Sprintf("%s must be an IPv4 prefix", p))
		case p != p.Masked():
			v.fail(ep, fmt.Sprintf("%s is not a network address (did you mean %s?)", p, p.Masked()))
		default:
			if j, dup := seen[p]; dup {
				v.fail(ep, fmt.Sprintf("duplicate %s (also %s[%d])", p, path, j))
			} else {
				seen[p] = i
			}
		}
	}
}

func (v *cfgValidator) connection(c *Config, p string, cn *VPNConnection, cgws map[string]int) {
	cgwIndex := -1
	switch j, ok := cgws[cn.CustomerGateway]; {
	case cn.CustomerGateway == "":
		v.fail(p+".customer_gateway", "required")
	case !ok:
		v.fail(p+".customer_gateway", fmt.Sprintf("unknown customer gateway %q", cn.CustomerGateway))
	default:
		cgwIndex = j
	}
	switch cn.Routing {
	case RoutingStatic:
	case RoutingDynamic:
		if cgwIndex >= 0 {
			g := c.CustomerGateways[cgwIndex]
			gp := fmt.Sprintf("customer_gateways[%d].bgp_asn", cgwIndex)
			switch {
			case g.BGPASN == 0:
				v.fail(gp, fmt.Sprintf("required for dynamic routing (used by %s)", p))
			case g.BGPASN == c.Gateway.ASN:
				v.fail(gp, fmt.Sprintf("must differ from gateway.asn %d for eBGP (used by %s)", c.Gateway.ASN, p))
			}
		}
	default:
		v.fail(p+".routing", fmt.Sprintf("must be static or dynamic, got %q", cn.Routing))
	}
	v.prefixes(p+".static_routes", cn.StaticRoutes)
	for i, r := range cn.StaticRoutes {
		if !r.IsValid() || !r.Addr().Is4() {
			continue
		}
		for j, vpc := range c.Gateway.VPCCIDRs {
			if vpc.IsValid() && r.Overlaps(vpc) {
				v.fail(fmt.Sprintf("%s.static_routes[%d]", p, i),
					fmt.Sprintf("%s overlaps gateway.vpc_cidrs[%d] %s", r, j, vpc))
			}
		}
	}
	if len(cn.Tunnels) != 2 {
		v.fail(p+".tunnels", fmt.Sprintf("must have exactly 2 tunnels, got %d", len(cn.Tunnels)))
	}
	for i := range cn.Tunnels {
		v.tunnel(fmt.Sprintf("%s.tunnels[%d]", p, i), &cn.Tunnels[i])
	}
}

func (v *cfgValidator) tunnel(p string, t *Tunnel) {
	switch {
	case !t.OutsideIP.IsValid():
		v.fail(p+".outside_ip", "required")
	case !t.OutsideIP.Is4():
		v.fail(p+".outside_ip", "must be an IPv4 address")
	case t.OutsideIP.IsUnspecified() || t.OutsideIP.IsMulticast():
		v.fail(p+".outside_ip", fmt.Sprintf("%s is not a unicast address", t.OutsideIP))
	default:
		if first, dup := v.outside[t.OutsideIP]; dup {
			v.fail(p+".outside_ip", fmt.Sprintf("%s is already used by %s", t.OutsideIP, first))
		} else {
			v.outside[t.OutsideIP] = p
		}
	}
	v.insideCIDR(p+".inside_cidr", t.InsideCIDR)
	v.psk(p+".psk", t.PSK)
	v.ikeVersions(p+".ike_versions", t.IKEVersions)
	v.phase(p+".phase1", t.Phase1, cfgPhase1DH, "2, 14–24, 31", cfgMaxPhase1Lifetime)
	v.phase(p+".phase2", t.Phase2, cfgPhase2DH, "2, 5, 14–24, 31", cfgMaxPhase2Lifetime)
	if t.Phase2.Lifetime >= t.Phase1.Lifetime && t.Phase1.Lifetime > 0 {
		v.fail(p+".phase2.lifetime", fmt.Sprintf("must be less than phase1.lifetime (%s), got %s",
			cfgDur(t.Phase1.Lifetime), cfgDur(t.Phase2.Lifetime)))
	}
	if maxMargin := t.Phase2.Lifetime / 2; t.RekeyMargin < cfgMinRekeyMargin || t.RekeyMargin > maxMargin {
		v.fail(p+".rekey_margin", fmt.Sprintf("must be between %s and phase2.lifetime/2 (%s), got %s",
			cfgDur(cfgMinRekeyMargin), cfgDur(maxMargin), cfgDur(t.RekeyMargin)))
	}
	if t.RekeyFuzz < 0 || t.RekeyFuzz > 100 {
		v.fail(p+".rekey_fuzz", fmt.Sprintf("must be between 0 and 100 (percent), got %d", t.RekeyFuzz))
	}
	if t.ReplayWindow < cfgMinReplayWindow || t.ReplayWindow > cfgMaxReplayWindow {
		v.fail(p+".replay_window", fmt.Sprintf("must be between %d and %d, got %d",
			cfgMinReplayWindow, cfgMaxReplayWindow, t.ReplayWindow))
	}
	if t.DPDTimeout < cfgMinDPDTimeout {
		v.fail(p+".dpd_timeout", fmt.Sprintf("must be at least %s, got %s", cfgDur(cfgMinDPDTimeout), cfgDur(t.DPDTimeout)))
	}
	switch t.DPDTimeoutAction {
	case DPDActionClear, DPDActionRestart, DPDActionNone:
	default:
		v.fail(p+".dpd_timeout_action", fmt.Sprintf("must be clear, restart or none, got %q", t.DPDTimeoutAction))
	}
	switch t.StartupAction {
	case StartupAdd, StartupStart:
	default:
		v.fail(p+".startup_action", fmt.Sprintf("must be add or start, got %q", t.StartupAction))
	}
	if t.ForceUDPEncap && len(t.IKEVersions) > 0 && !slices.Contains(t.IKEVersions, IKEVersion2) {
		v.fail(p+".force_udp_encapsulation", "applies to IKEv2 only: add ikev2 to ike_versions or remove it")
	}
}

func (v *cfgValidator) insideCIDR(path string, ic netip.Prefix) {
	switch {
	case !ic.IsValid():
		v.fail(path, "required")
		return
	case !ic.Addr().Is4() || ic.Bits() != 30:
		v.fail(path, fmt.Sprintf("%s must be an IPv4 /30", ic))
		return
	case ic != ic.Masked():
		v.fail(path, fmt.Sprintf("%s is not a network address (did you mean %s?)", ic, ic.Masked()))
		return
	case !cfgLinkLocal.Contains(ic.Addr()):
		v.fail(path, fmt.Sprintf("%s is not inside 169.254.0.0/16", ic))
		return
	case slices.Contains(cfgReservedInside, ic):
		v.fail(path, fmt.Sprintf("%s is reserved", ic))
		return
	}
	// AWS: unique across all connections of the same virtual private gateway.
	if first, dup := v.inside[ic]; dup {
		v.fail(path, fmt.Sprintf("%s is already used by %s", ic, first))
	} else {
		v.inside[ic] = strings.TrimSuffix(path, ".inside_cidr")
	}
}

// psk checks AWS's PSK rule. The value is never echoed. An empty PSK is
// valid: the state store generates and persists one.
func (v *cfgValidator) psk(path, psk string) {
	if psk == "" {
		return
	}
	if len(psk) < cfgMinPSKLen || len(psk) > cfgMaxPSKLen {
		v.fail(path, fmt.Sprintf("must be %d–%d characters long", cfgMinPSKLen, cfgMaxPSKLen))
	}
	if !cfgPSKCharsOK(psk) {
		v.fail(path, "may contain only A-Z a-z 0-9 . _")
	}
	if psk[0] == '0' {
		v.fail(path, "must not start with 0")
	}
}

func cfgPSKCharsOK(s string) bool {
	for i := 0; i < len(s); i++ {
		if !cfgIsPSKChar(s[i]) {
			return false
		}
	}
	return true
}

func cfgIsPSKChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_'
}

func (v *cfgValidator) ikeVersions(path string, vs []string) {
	if len(vs) == 0 {
		v.fail(path, "must list ikev1, ikev2 or both")
		return
	}
	v.names(path, vs, func(s string) bool { return s == IKEVersion1 || s == IKEVersion2 }, "IKE version", "ikev1, ikev2")
}

func (v *cfgValidator) phase(path string, ph PhaseConfig, dh []int, dhDesc string, maxLife time.Duration) {
	if len(ph.Encryption) == 0 {
		v.fail(path+".encryption", "must not be empty")
	}
	v.names(path+".encryption", ph.Encryption, func(s string) bool { _, ok := suite.CipherNames[s]; return ok },
		"encryption algorithm", cfgKeys(suite.CipherNames))
	if len(ph.Integrity) == 0 {
		v.fail(path+".integrity", "must not be empty")
	}
	v.names(path+".integrity", ph.Integrity, func(s string) bool { _, ok := suite.IntegNames[s]; return ok },
		"integrity algorithm", cfgKeys(suite.IntegNames))
	if len(ph.DHGroups) == 0 {
		v.fail(path+".dh_groups", "must not be empty")
	}
	seen := map[int]int{}
	for i, g := range ph.DHGroups {
		ep := fmt.Sprintf("%s.dh_groups[%d]", path, i)
		if !slices.Contains(dh, g) {
			v.fail(ep, fmt.Sprintf("group %d is not allowed (allowed: %s)", g, dhDesc))
		} else if j, dup := seen[g]; dup {
			v.fail(ep, fmt.Sprintf("duplicate group %d (also dh_groups[%d])", g, j))
		} else {
			seen[g] = i
		}
	}
	if ph.Lifetime < cfgMinPhaseLifetime || ph.Lifetime > maxLife {
		v.fail(path+".lifetime", fmt.Sprintf("must be between %s and %s, got %s",
			cfgDur(cfgMinPhaseLifetime), cfgDur(maxLife), cfgDur(ph.Lifetime)))
	}
}

// names checks a list of option names against a known set, no repeats.
func (v *cfgValidator) names(path string, list []string, known func(string) bool, what, want string) {
	seen := map[string]int{}
	for i, s := range list {
		ep := fmt.Sprintf("%s[%d]", path, i)
		if !known(s) {
			v.fail(ep, fmt.Sprintf("unknown %s %q (want %s)", what, s, want))
		} else if j, dup := seen[s]; dup {
			v.fail(ep, fmt.Sprintf("duplicate %q (also [%d])", s, j))
		} else {
			seen[s] = i
		}
	}
}

func cfgKeys[V any](m map[string]V) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ", ")
}

// cfgDur prints a duration as it is written in the file: 8h, 15m, 4m30s.
func cfgDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
