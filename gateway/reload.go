package gateway

import (
	"fmt"

	"github.com/vpgw/vpgw/store"
	"slices"
	"strings"

	"github.com/vpgw/vpgw/routing"
)

// tunnelSetups lists every tunnel of the configuration in order.
func (c *Config) tunnelSetups() []tunnelSetup {
	var out []tunnelSetup
	for _, vc := range c.VPNConnections {
		cgw, _ := c.CustomerGatewayByName(vc.CustomerGateway)
		for ti, tc := range vc.Tunnels {
			s := tunnelSetup{
				Conn: vc.Name, Index: ti + 1, Tunnel: tc, CGW: cgw.IP,
				VPCCIDRs: slices.Clone(c.Gateway.VPCCIDRs),
			}
			if vc.Routing == RoutingDynamic {
				s.PeerASN = cgw.BGPASN
			}
			out = append(out, s)
		}
	}
	return out
}

func (c *Config) connIndex(name string) int {
	return slices.IndexFunc(c.VPNConnections, func(vc VPNConnection) bool { return vc.Name == name })
}

// reload re-reads the configuration file, applies what it declares to the
// state store and the result to the running gateway.
func (d *Daemon) reload() (string, error) {
	if d.path == "" {
		return "", fmt.Errorf("no configuration file to reload")
	}
	file, err := LoadConfig(d.path)
	if err != nil {
		return "", err
	}
	if errs := file.Validate(); len(errs) > 0 {
		return "", FieldErrors(errs)
	}
	var summary []string
	if file.Gateway.ControlSocket != d.settings.ControlSocket || file.Gateway.StateDir != d.settings.StateDir ||
		file.Gateway.MetricsListen != d.settings.MetricsListen || file.Gateway.BGPGRPCListen != d.settings.BGPGRPCListen {
		summary = append(summary, "state_dir/control_socket/metrics_listen/bgp_grpc_listen changes need a restart (kept the old ones)")
		file.Gateway.ControlSocket, file.Gateway.StateDir = d.settings.ControlSocket, d.settings.StateDir
		file.Gateway.MetricsListen, file.Gateway.BGPGRPCListen = d.settings.MetricsListen, d.settings.BGPGRPCListen
	}
	d.settings = file.Gateway
	got, err := d.mutate(func(tx *store.Tx) error { return importConfig(tx, file) })
	return strings.Join(append(summary, got), "; "), err
}

// mutate changes the state store in one transaction, derives the new
// running configuration from it and applies that. A change whose result
// would not validate is rolled back with the reasons.
func (d *Daemon) mutate(fn func(tx *store.Tx) error) (string, error) {
	var cfg *Config
	err := d.store.Update(func(tx *store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		var err error
		if cfg, err = deriveConfig(tx, d.settings); err != nil {
			return err
		}
		if errs := cfg.Validate(); len(errs) > 0 {
			return FieldErrors(errs)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return d.apply(cfg)
}

// apply makes the running gateway match cfg:
// routing changes are applied to the kernel without touching any tunnel;
// a tunnel is restarted only when its own setup (options, PSK, customer
// gateway address, VPC CIDRs) changed; tunnels of removed connections are
// stopped and those of new ones started.
func (d *Daemon) apply(cfg *Config) (string, error) {
	var changes []string
	if cfg.Gateway.RouteTable != d.cfg.Gateway.RouteTable {
		if err := d.routes.Flush(); err != nil {
			return "", fmt.Errorf("leaving route table %d: %w", d.cfg.Gateway.RouteTable, err)
		}
		d.routes = routing.NewApplier(cfg.Gateway.RouteTable, d.log.With("component", "routing"))
		changes = append(changes, fmt.Sprintf("route_table %d → %d", d.cfg.Gateway.RouteTable, cfg.Gateway.RouteTable))
	}

	old := d.byName
	var kept []*tunnel
	var started []tunnelSetup
	for _, s := range cfg.tunnelSetups() {
		t, ok := old[s.name()]
		if ok && t.setup.equal(s) {
			t.connIdx = cfg.connIndex(s.Conn)
			kept = append(kept, t)
			delete(old, s.name())
			continue
		}
		if ok {
			d.stopTunnel(t)
			delete(old, s.name())
			changes = append(changes, "restarted tunnel "+s.name())
		} else {
			changes = append(changes, "added tunnel "+s.name())
		}
		started = append(started, s)
	}
	for name, t := range old {
		d.stopTunnel(t)
		changes = append(changes, "removed tunnel "+name)
	}
	d.tunnels, d.byName, d.cfg = nil, map[string]*tunnel{}, cfg
	for _, t := range kept {
		d.addTunnel(t)
	}
	var errs []string
	for _, s := range started {
		t, err := d.startTunnel(s, cfg.connIndex(s.Conn))
		if err != nil {
			errs = append(errs, fmt.Sprintf("tunnel %s: %v", s.name(), err))
			continue
		}
		d.addTunnel(t)
	}
	slices.SortStableFunc(d.tunnels, func(a, b *tunnel) int {
		if a.connIdx != b.connIdx {
			return a.connIdx - b.connIdx
		}
		return a.setup.Index - b.setup.Index
	})
	d.checkRoutes() // links may have been made again: their routes went with them
	if len(errs) > 0 {
		return strings.Join(changes, "; "), fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	if len(changes) == 0 {
		changes = append(changes, "routes and options re-applied; no tunnel touched")
	}
	return strings.Join(changes, "; "), nil
}
