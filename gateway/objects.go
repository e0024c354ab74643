package gateway

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vpgw/vpgw/store"
)

// The state store is the source of truth while vpgw runs: every CLI verb
// changes it, and the daemon's running configuration is derived from it
// (deriveConfig). The configuration file is applied to the store at start
// and on reload (importConfig): for the objects the file names, the file
// wins; objects created with the CLI live in the store alone. `vpgw export`
// prints the derived configuration in the file's schema.

// importConfig makes the store hold the objects the file declares, by
// name, creating or updating them; it never deletes what the file omits.
func importConfig(tx *store.Tx, cfg *Config) error {
	for i, cg := range cfg.CustomerGateways {
		path := fmt.Sprintf("customer_gateways[%d]", i)
		have, err := tx.GetCustomerGateway(cg.Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if _, err := tx.CreateCustomerGateway(store.CustomerGateway{Name: cg.Name, IP: cg.IP, BGPASN: cg.BGPASN}); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		case err != nil:
			return fmt.Errorf("%s: %w", path, err)
		case have.IP != cg.IP || have.BGPASN != cg.BGPASN:
			// Like AWS, a customer gateway cannot be modified.
			return fmt.Errorf("%s: %s exists in the state store with ip %v and bgp_asn %d; "+
				"customer gateways cannot be modified: delete it (and its connections) or rename it in the file",
				path, have.ID, have.IP, have.BGPASN)
		}
	}
	if len(cfg.Gateway.VPCCIDRs) == 0 {
		return nil // the file declares no VPN gateway
	}
	g := cfg.Gateway
	vgw, err := tx.GetVPNGateway(g.Name)
	if errors.Is(err, store.ErrNotFound) {
		vgw, err = tx.CreateVPNGateway(store.VPNGateway{Name: g.Name, ASN: g.ASN})
	}
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if vgw.ASN != g.ASN {
		return fmt.Errorf("gateway.asn: %s has ASN %d in the state store; a VPN gateway's ASN cannot change", vgw.ID, vgw.ASN)
	}
	if !vgw.Attached {
		if err := attachExclusive(tx, vgw.ID); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		vgw, err = tx.AttachVPNGateway(vgw.ID, g.VPCCIDRs, g.RouteTable)
	} else if !slices.Equal(vgw.VPCCIDRs, g.VPCCIDRs) || vgw.RouteTable != g.RouteTable {
		vgw, err = tx.ModifyVPNGatewayAttachment(vgw.ID, g.VPCCIDRs, g.RouteTable)
	}
	if err != nil {
		return fmt.Errorf("gateway.vpc_cidrs: %w", err)
	}
	if vgw.RoutePropagation != g.RoutePropagation {
		if _, err := tx.SetRoutePropagation(vgw.ID, g.RoutePropagation); err != nil {
			return fmt.Errorf("gateway.route_propagation: %w", err)
		}
	}
	for i, vc := range cfg.VPNConnections {
		path := fmt.Sprintf("vpn_connections[%d]", i)
		if err := importConnection(tx, vgw.ID, vc); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

func importConnection(tx *store.Tx, vgwID string, vc VPNConnection) error {
	have, err := tx.GetVPNConnection(vc.Name)
	if errors.Is(err, store.ErrNotFound) {
		c := store.VPNConnection{Name: vc.Name, CustomerGatewayID: vc.CustomerGateway, VPNGatewayID: vgwID,
			Routing: vc.Routing, StaticRoutes: vc.StaticRoutes}
		for i := range c.Tunnels {
			if i < len(vc.Tunnels) {
				c.Tunnels[i] = toStoreTunnel(vc.Tunnels[i])
			}
		}
		_, err = tx.CreateVPNConnection(c)
		return err
	}
	if err != nil {
		return err
	}
	cg, err := tx.GetCustomerGateway(vc.CustomerGateway)
	if err != nil {
		return err
	}
	if have.CustomerGatewayID != cg.ID || have.VPNGatewayID != vgwID || have.Routing != vc.Routing {
		return fmt.Errorf("%s exists in the state store with another customer gateway, VPN gateway or routing type; "+
			"those cannot change: delete the connection first", have.ID)
	}
	for _, p := range have.StaticRoutes {
		if !slices.Contains(vc.StaticRoutes, p) {
			if _, err := tx.DeleteStaticRoute(have.ID, p); err != nil {
				return err
			}
		}
	}
	for _, p := range vc.StaticRoutes {
		if !slices.Contains(have.StaticRoutes, p) {
			if _, err := tx.AddStaticRoute(have.ID, p); err != nil {
				return err
			}
		}
	}
	for i := range min(len(vc.Tunnels), 2) {
		want := toStoreTunnel(vc.Tunnels[i])
		if want.PSK == "" {
			want.PSK = have.Tunnels[i].PSK // generated earlier: keep it
		}
		if _, err := tx.ModifyTunnelOptions(have.ID, i+1, func(o *store.TunnelOptions) { *o = want }); err != nil {
			return err
		}
	}
	return nil
}

// attachExclusive refuses to attach a second VPN gateway: one vpgw is one
// virtual private gateway serving one VPC.
func attachExclusive(tx *store.Tx, id string) error {
	gws, err := tx.ListVPNGateways()
	if err != nil {
		return err
	}
	for _, g := range gws {
		if g.Attached && g.ID != id {
			return fmt.Errorf("VPN gateway %s (%s) is already attached: this vpgw serves one VPC, detach it first", g.ID, g.Name)
		}
	}
	return nil
}

// deriveConfig builds the running configuration from the store: the
// attached VPN gateway, its connections and their customer gateways, with
// the daemon's own settings (state_dir, sockets) from the file.
func deriveConfig(tx *store.Tx, settings GatewayConfig) (*Config, error) {
	cfg := &Config{Gateway: settings}
	cfg.Gateway.VPCCIDRs = nil
	cgws, err := tx.ListCustomerGateways()
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, cg := range cgws {
		names[cg.ID] = cg.Name
		cfg.CustomerGateways = append(cfg.CustomerGateways, CustomerGateway{Name: cg.Name, IP: cg.IP, BGPASN: cg.BGPASN})
	}
	gws, err := tx.ListVPNGateways()
	if err != nil {
		return nil, err
	}
	var vgw *store.VPNGateway
	for i := range gws {
		if gws[i].Attached {
			vgw = &gws[i]
			break
		}
	}
	if vgw == nil {
		return cfg, nil
	}
	cfg.Gateway.Name, cfg.Gateway.ASN = vgw.Name, vgw.ASN
	cfg.Gateway.VPCCIDRs = slices.Clone(vgw.VPCCIDRs)
	cfg.Gateway.RouteTable, cfg.Gateway.RoutePropagation = vgw.RouteTable, vgw.RoutePropagation
	conns, err := tx.ListVPNConnections()
	if err != nil {
		return nil, err
	}
	for _, c := range conns {
		if c.VPNGatewayID != vgw.ID {
			continue
		}
		vc := VPNConnection{Name: c.Name, CustomerGateway: names[c.CustomerGatewayID], Routing: c.Routing,
			StaticRoutes: slices.Clone(c.StaticRoutes)}
		for _, t := range c.Tunnels {
			vc.Tunnels = append(vc.Tunnels, fromStoreTunnel(t))
		}
		cfg.VPNConnections = append(cfg.VPNConnections, vc)
	}
	return cfg, nil
}

func toStoreTunnel(t Tunnel) store.TunnelOptions {
	return store.TunnelOptions{
		OutsideIP: t.OutsideIP, InsideCIDR: t.InsideCIDR, PSK: t.PSK, IKEVersions: slices.Clone(t.IKEVersions),
		Phase1: toStorePhase(t.Phase1), Phase2: toStorePhase(t.Phase2),
		RekeyMargin: t.RekeyMargin, RekeyFuzz: t.RekeyFuzz, ReplayWindow: t.ReplayWindow,
		DPDTimeout: t.DPDTimeout, DPDTimeoutAction: t.DPDTimeoutAction, StartupAction: t.StartupAction,
		ForceUDPEncap: t.ForceUDPEncap,
	}
}

func fromStoreTunnel(t store.TunnelOptions) Tunnel {
	return Tunnel{
		OutsideIP: t.OutsideIP, InsideCIDR: t.InsideCIDR, PSK: t.PSK, IKEVersions: slices.Clone(t.IKEVersions),
		Phase1: fromStorePhase(t.Phase1), Phase2: fromStorePhase(t.Phase2),
		RekeyMargin: t.RekeyMargin, RekeyFuzz: t.RekeyFuzz, ReplayWindow: t.ReplayWindow,
		DPDTimeout: t.DPDTimeout, DPDTimeoutAction: t.DPDTimeoutAction, StartupAction: t.StartupAction,
		ForceUDPEncap: t.ForceUDPEncap,
	}
}

func toStorePhase(p PhaseConfig) store.Phase {
	return store.Phase{Encryption: slices.Clone(p.Encryption), Integrity: slices.Clone(p.Integrity),
		DHGroups: slices.Clone(p.DHGroups), Lifetime: p.Lifetime}
}

func fromStorePhase(p store.Phase) PhaseConfig {
	return PhaseConfig{Encryption: slices.Clone(p.Encryption), Integrity: slices.Clone(p.Integrity),
		DHGroups: slices.Clone(p.DHGroups), Lifetime: p.Lifetime}
}
