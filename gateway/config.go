package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// Config is the whole configuration file (DESIGN.md, "Configuration file").
// LoadConfig/ParseConfig fill in defaults; Validate checks the rules.
type Config struct {
	Gateway          GatewayConfig     `yaml:"gateway"`
	CustomerGateways []CustomerGateway `yaml:"customer_gateways"`
	VPNConnections   []VPNConnection   `yaml:"vpn_connections"`
}

// GatewayConfig is the virtual private gateway itself.
type GatewayConfig struct {
	Name             string         `yaml:"name"`
	ASN              uint32         `yaml:"asn"`
	VPCCIDRs         []netip.Prefix `yaml:"vpc_cidrs"`
	RouteTable       int            `yaml:"route_table"`
	RoutePropagation bool           `yaml:"route_propagation"`
	StateDir         string         `yaml:"state_dir"`
	ControlSocket    string         `yaml:"control_socket"`
	MetricsListen    string         `yaml:"metrics_listen"` // empty: no metrics listener
	// BGPGRPCListen serves GoBGP's gRPC API (for the gobgp CLI) on a
	// loopback address or unix socket; empty (the default): off.
	BGPGRPCListen string `yaml:"bgp_grpc_listen"`
	// MaxVPNConnections and MaxCustomerGateways are AWS's adjustable quotas
	// (default 10 VPN connections per VPN gateway, 50 customer gateways).
	MaxVPNConnections   int `yaml:"max_vpn_connections"`
	MaxCustomerGateways int `yaml:"max_customer_gateways"`
	// TunnelLog receives AWS-style JSON tunnel logs: "stderr", an absolute
	// file path, or "" (off, the default).
	TunnelLog string `yaml:"tunnel_log"`
}

// CustomerGateway is the customer's device as AWS models it.
type CustomerGateway struct {
	Name   string     `yaml:"name"`
	IP     netip.Addr `yaml:"ip"`
	BGPASN uint32     `yaml:"bgp_asn"` // 0: not set
}

// VPNConnection joins the gateway to one customer gateway with two tunnels.
type VPNConnection struct {
	Name            string         `yaml:"name"`
	CustomerGateway string         `yaml:"customer_gateway"`
	Routing         string         `yaml:"routing"`
	StaticRoutes    []netip.Prefix `yaml:"static_routes"`
	Tunnels         []Tunnel       `yaml:"tunnels"`
}

// Tunnel holds one tunnel's endpoints and AWS tunnel options.
// Its String, GoString and LogValue never show the PSK.
type Tunnel struct {
	OutsideIP        netip.Addr    `yaml:"outside_ip"`
	InsideCIDR       netip.Prefix  `yaml:"inside_cidr"`
	PSK              string        `yaml:"psk"` // empty: generated and kept by the state store
	IKEVersions      []string      `yaml:"ike_versions"`
	Phase1           PhaseConfig   `yaml:"phase1"`
	Phase2           PhaseConfig   `yaml:"phase2"`
	RekeyMargin      time.Duration `yaml:"rekey_margin"`
	RekeyFuzz        int           `yaml:"rekey_fuzz"` // percent
	ReplayWindow     int           `yaml:"replay_window"`
	DPDTimeout       time.Duration `yaml:"dpd_timeout"`
	DPDTimeoutAction string        `yaml:"dpd_timeout_action"`
	StartupAction    string        `yaml:"startup_action"`
	// ForceUDPEncap puts ESP in UDP 4500 even without a NAT (IKEv2; like
	// strongSwan's encap=yes): for paths that drop IP protocol 50, and for
	// the UDP segmentation offloads raw ESP cannot use.
	ForceUDPEncap bool `yaml:"force_udp_encapsulation"`
}

// PhaseConfig is the proposal set and lifetime of IKE phase 1 (IKE SA) or
// phase 2 (CHILD SA / IPsec SA). Names are those of suite.CipherNames and
// suite.IntegNames.
type PhaseConfig struct {
	Encryption []string      `yaml:"encryption"`
	Integrity  []string      `yaml:"integrity"`
	DHGroups   []int         `yaml:"dh_groups"`
	Lifetime   time.Duration `yaml:"lifetime"`
}

// VGWInsideAddr is the gateway's (AWS side) inside address: .1 of the /30.
// It is the zero Addr if InsideCIDR is not set.
func (t Tunnel) VGWInsideAddr() netip.Addr {
	if !t.InsideCIDR.IsValid() {
		return netip.Addr{}
	}
	return t.InsideCIDR.Masked().Addr().Next()
}

// CGWInsideAddr is the customer gateway's inside address: .2 of the /30.
func (t Tunnel) CGWInsideAddr() netip.Addr {
	a := t.VGWInsideAddr()
	if !a.IsValid() {
		return a
	}
	return a.Next()
}

// String describes the tunnel for logs; the PSK is never included.
func (t Tunnel) String() string {
	return fmt.Sprintf("tunnel{outside_ip=%v inside_cidr=%v psk=%s}", t.OutsideIP, t.InsideCIDR, t.pskState())
}

// GoString keeps %#v from printing the PSK.
func (t Tunnel) GoString() string { return t.String() }

// LogValue keeps slog from printing the PSK.
func (t Tunnel) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("outside_ip", t.OutsideIP.String()),
		slog.String("inside_cidr", t.InsideCIDR.String()),
		slog.String("psk", t.pskState()),
	)
}

func (t Tunnel) pskState() string {
	if t.PSK == "" {
		return "<unset>"
	}
	return "<redacted>"
}

// CustomerGatewayByName returns the customer gateway with that name.
func (c *Config) CustomerGatewayByName(name string) (CustomerGateway, bool) {
	for _, g := range c.CustomerGateways {
		if g.Name == name {
			return g, true
		}
	}
	return CustomerGateway{}, false
}

// FieldError is one configuration problem: the field's path in the file
// (e.g. "vpn_connections[0].tunnels[1].inside_cidr") and the rule broken.
type FieldError struct {
	Path string
	Rule string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Rule }

// FieldErrors is a list of problems, in file order; it is the error type
// ParseConfig returns for well-formed YAML that does not fit the schema.
type FieldErrors []FieldError

func (es FieldErrors) Error() string {
	switch len(es) {
	case 0:
		return "no configuration errors"
	case 1:
		return es[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d configuration errors:", len(es))
	for _, e := range es {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

// LoadConfig reads and parses the file at path and applies defaults. It
// does not validate: call Validate (vpgw validate prints every problem).
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses YAML strictly and applies defaults: a value that is
// not given keeps its default, one that is given replaces it (lists
// included). Unknown keys, values of the wrong type and malformed
// addresses or durations are all reported at once as FieldErrors; a YAML
// syntax error is reported with its line and column but no source text
// (which could hold a PSK).
func ParseConfig(data []byte) (*Config, error) {
	var doc any
	if err := yaml.UnmarshalWithOptions(data, &doc, yaml.UseOrderedMap()); err != nil {
		return nil, cfgSyntaxError(err)
	}
	cfg := &Config{Gateway: DefaultGatewayConfig()}
	if doc == nil {
		return cfg, nil // empty file: Validate reports what is missing
	}
	var d cfgDecoder
	d.decode("", doc, reflect.ValueOf(cfg).Elem())
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return cfg, nil
}

func cfgSyntaxError(err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			return fmt.Errorf("yaml: line %d, column %d: %s", tk.Position.Line, tk.Position.Column, ye.GetMessage())
		}
		return fmt.Errorf("yaml: %s", ye.GetMessage())
	}
	return fmt.Errorf("yaml: %w", err)
}

var (
	cfgTypeDuration = reflect.TypeFor[time.Duration]()
	cfgTypeAddr     = reflect.TypeFor[netip.Addr]()
	cfgTypePrefix   = reflect.TypeFor[netip.Prefix]()
	cfgTypeTunnel   = reflect.TypeFor[Tunnel]()
	cfgTypeConn     = reflect.TypeFor[VPNConnection]()
)

// cfgDecoder maps the generic YAML tree onto the Config structs by their
// yaml tags. goccy's own struct decoding stops at the first error and
// reports positions, not paths; this reports every problem by path.
type cfgDecoder struct {
	errs FieldErrors
}

func (d *cfgDecoder) fail(path, rule string) {
	if path == "" {
		path = "(root)"
	}
	d.errs = append(d.errs, FieldError{Path: path, Rule: rule})
}

func (d *cfgDecoder) decode(path string, v any, dst reflect.Value) {
	if v == nil {
		return // "key:" with no value keeps the default
	}
	switch dst.Type() {
	case cfgTypeDuration:
		s, ok := v.(string)
		if !ok {
			d.fail(path, "must be a duration such as 8h, 9m or 30s")
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.fail(path, fmt.Sprintf("%q is not a duration (use e.g. 8h, 9m, 30s)", s))
			return
		}
		dst.SetInt(int64(dur))
		return
	case cfgTypeAddr:
		s, ok := v.(string)
		if !ok {
			d.fail(path, "must be an IP address")
			return
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			d.fail(path, fmt.Sprintf("%q is not an IP address", s))
			return
		}
		dst.Set(reflect.ValueOf(a))
		return
	case cfgTypePrefix:
		s, ok := v.(string)
		if !ok {
			d.fail(path, "must be a CIDR prefix")
			return
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			d.fail(path, fmt.Sprintf("%q is not a CIDR prefix", s))
			return
		}
		dst.Set(reflect.ValueOf(p))
		return
	}
	switch dst.Kind() {
	case reflect.Struct:
		d.decodeStruct(path, v, dst)
	case reflect.Slice:
		d.decodeSlice(path, v, dst)
	case reflect.String:
		// Not echoed: the value may be a PSK.
		s, ok := v.(string)
		if !ok {
			d.fail(path, "must be a string (quote it)")
			return
		}
		dst.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.fail(path, "must be true or false")
			return
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Uint32:
		d.decodeInt(path, v, dst)
	default:
		panic("gateway: config field of unsupported kind " + dst.Kind().String())
	}
}

func (d *cfgDecoder) decodeStruct(path string, v any, dst reflect.Value) {
	m, ok := v.(yaml.MapSlice)
	if !ok {
		d.fail(path, "must be a mapping")
		return
	}
	t := dst.Type()
	for _, item := range m {
		key, ok := item.Key.(string)
		if !ok {
			d.fail(cfgJoin(path, fmt.Sprint(item.Key)), "unknown key")
			continue
		}
		fpath := cfgJoin(path, key)
		i := cfgFieldIndex(t, key)
		if i < 0 {
			d.fail(fpath, "unknown key")
			continue
		}
		d.decode(fpath, item.Value, dst.Field(i))
	}
}

func cfgFieldIndex(t reflect.Type, key string) int {
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name == key {
			return i
		}
	}
	return -1
}

func cfgJoin(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *cfgDecoder) decodeSlice(path string, v any, dst reflect.Value) {
	list, ok := v.([]any)
	if !ok {
		d.fail(path, "must be a list")
		return
	}
	out := reflect.MakeSlice(dst.Type(), len(list), len(list))
	for i, item := range list {
		el := out.Index(i)
		// New tunnels and connections start from their defaults, so only
		// the keys given in the file replace them.
		switch el.Type() {
		case cfgTypeTunnel:
			el.Set(reflect.ValueOf(DefaultTunnel()))
		case cfgTypeConn:
			el.Set(reflect.ValueOf(DefaultVPNConnection()))
		}
		d.decode(fmt.Sprintf("%s[%d]", path, i), item, el)
	}
	dst.Set(out)
}

func (d *cfgDecoder) decodeInt(path string, v any, dst reflect.Value) {
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case uint64:
		if x > math.MaxInt64 {
			d.fail(path, "out of range")
			return
		}
		n = int64(x)
	case int:
		n = int64(x)
	case uint:
		n = int64(x)
	default:
		d.fail(path, "must be an integer")
		return
	}
	switch dst.Kind() {
	case reflect.Uint32:
		if n < 0 || n > math.MaxUint32 {
			d.fail(path, strconv.FormatInt(n, 10)+" is out of range")
			return
		}
		dst.SetUint(uint64(n))
	default:
		dst.SetInt(n)
	}
}
