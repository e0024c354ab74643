package store

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Routing types of a VPN connection.
const (
	RoutingStatic  = "static"
	RoutingDynamic = "dynamic"
)

// CustomerGateway is the customer's device (AWS::EC2::CustomerGateway).
type CustomerGateway struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	IP        netip.Addr `json:"ip"`
	BGPASN    uint32     `json:"bgp_asn,omitempty"` // 0: not set
	CreatedAt time.Time  `json:"created_at"`
}

// VPNGateway is the virtual private gateway (AWS::EC2::VPNGateway) and its
// VPC attachment. RouteTable is the kernel table for propagated routes.
type VPNGateway struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	ASN              uint32         `json:"asn"` // Amazon-side ASN
	Attached         bool           `json:"attached"`
	VPCCIDRs         []netip.Prefix `json:"vpc_cidrs,omitempty"`
	RouteTable       int            `json:"route_table,omitempty"`
	RoutePropagation bool           `json:"route_propagation"`
	CreatedAt        time.Time      `json:"created_at"`
}

// VPNConnection joins a VPN gateway to a customer gateway with two
// tunnels (AWS::EC2::VPNConnection). CustomerGatewayID and VPNGatewayID
// are IDs once stored (CreateVPNConnection also accepts names).
type VPNConnection struct {
	ID                string           `json:"id"`
	Name              string           `json:"name"`
	CustomerGatewayID string           `json:"customer_gateway_id"`
	VPNGatewayID      string           `json:"vpn_gateway_id"`
	Routing           string           `json:"routing"`
	StaticRoutes      []netip.Prefix   `json:"static_routes,omitempty"`
	Tunnels           [2]TunnelOptions `json:"tunnels"`
	CreatedAt         time.Time        `json:"created_at"`
}

// TunnelOptions are one tunnel's endpoints and AWS tunnel options
// (gateway.Tunnel). Its String, GoString and LogValue never show the PSK.
type TunnelOptions struct {
	OutsideIP        netip.Addr    `json:"outside_ip"`
	InsideCIDR       netip.Prefix  `json:"inside_cidr"`
	PSK              string        `json:"psk"`
	IKEVersions      []string      `json:"ike_versions,omitempty"`
	Phase1           Phase         `json:"phase1"`
	Phase2           Phase         `json:"phase2"`
	RekeyMargin      time.Duration `json:"rekey_margin_ns"`
	RekeyFuzz        int           `json:"rekey_fuzz"`
	ReplayWindow     int           `json:"replay_window"`
	DPDTimeout       time.Duration `json:"dpd_timeout_ns"`
	DPDTimeoutAction string        `json:"dpd_timeout_action"`
	StartupAction    string        `json:"startup_action"`
	ForceUDPEncap    bool          `json:"force_udp_encapsulation,omitempty"`
}

// Phase is the proposal set and lifetime of IKE phase 1 or 2
// (gateway.PhaseConfig).
type Phase struct {
	Encryption []string      `json:"encryption,omitempty"`
	Integrity  []string      `json:"integrity,omitempty"`
	DHGroups   []int         `json:"dh_groups,omitempty"`
	Lifetime   time.Duration `json:"lifetime_ns"`
}

// String describes the tunnel for logs; the PSK is never included.
func (t TunnelOptions) String() string {
	return fmt.Sprintf("tunnel{outside_ip=%v inside_cidr=%v psk=%s}", t.OutsideIP, t.InsideCIDR, t.pskState())
}

// GoString keeps %#v from printing the PSK.
func (t TunnelOptions) GoString() string { return t.String() }

// LogValue keeps slog from printing the PSK.
func (t TunnelOptions) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("outside_ip", t.OutsideIP.String()),
		slog.String("inside_cidr", t.InsideCIDR.String()),
		slog.String("psk", t.pskState()),
	)
}

func (t TunnelOptions) pskState() string {
	if t.PSK == "" {
		return "<unset>"
	}
	return "<redacted>"
}

func (g *VPNGateway) clone() VPNGateway {
	c := *g
	c.VPCCIDRs = append([]netip.Prefix(nil), g.VPCCIDRs...)
	return c
}

func (c *VPNConnection) clone() VPNConnection {
	d := *c
	d.StaticRoutes = append([]netip.Prefix(nil), c.StaticRoutes...)
	for i := range d.Tunnels {
		d.Tunnels[i] = c.Tunnels[i].clone()
	}
	return d
}

func (t TunnelOptions) clone() TunnelOptions {
	t.IKEVersions = append([]string(nil), t.IKEVersions...)
	t.Phase1 = t.Phase1.clone()
	t.Phase2 = t.Phase2.clone()
	return t
}

func (p Phase) clone() Phase {
	p.Encryption = append([]string(nil), p.Encryption...)
	p.Integrity = append([]string(nil), p.Integrity...)
	p.DHGroups = append([]int(nil), p.DHGroups...)
	return p
}
