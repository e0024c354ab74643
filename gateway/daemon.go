package gateway

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/vpgw/vpgw/bgp"
	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/routing"
	"github.com/vpgw/vpgw/store"
)

// eventQueueLen bounds the ike → gateway event channel; ike blocks briefly
// when the supervisor falls behind rather than losing a state change.
const eventQueueLen = 256

// RunOptions start a daemon.
type RunOptions struct {
	ConfigPath string          // re-read on reload
	Config     *Config         // already validated
	Log        *slog.Logger    //
	Reload     <-chan struct{} // each receive re-reads ConfigPath (SIGHUP)
	Ready      func()          // optional: called once the control socket serves (systemd READY=1)
}

// Daemon is the running gateway. Its loop goroutine is the single owner of
// tunnel state: IKE events, reloads and control-socket calls all arrive on
// channels, as in GoBGP's BgpServer.Serve.
type Daemon struct {
	path     string
	settings GatewayConfig // the file's gateway section: state_dir, sockets, metrics
	store    *store.Store
	cfg      *Config // derived from the store
	log      *slog.Logger
	events   chan ike.Event
	ops      chan func()
	tunnels  []*tunnel // in config order
	byName   map[string]*tunnel
	routes   *routing.Applier
	applied  []routing.Route // what the last Apply installed in full; nil after an error
	control  *controlServer
	metrics  *metricsServer

	tunnelLog *tunnelLog  // nil: off
	bgp       *bgp.Server // nil until a dynamic connection needs it
	bgpEvents <-chan bgp.Event
}

// Run starts the gateway and serves until ctx is done, then removes every
// route, TUN and socket it made.
func Run(ctx context.Context, o RunOptions) error {
	file, log := o.Config, o.Log
	st, err := store.Open(file.Gateway.StateDir)
	if err != nil {
		return fmt.Errorf("gateway.state_dir: %w", err)
	}
	defer st.Close()
	for l, n := range map[store.Limit]int{
		store.LimitVPNConnectionsPerGateway: file.Gateway.MaxVPNConnections,
		store.LimitCustomerGateways:         file.Gateway.MaxCustomerGateways,
	} {
		if err := st.SetLimit(l, n); err != nil {
			return fmt.Errorf("gateway limits: %w", err)
		}
	}
	var cfg *Config
	err = st.Update(func(tx *store.Tx) error {
		if err := importConfig(tx, file); err != nil {
			return err
		}
		var err error
		cfg, err = deriveConfig(tx, file.Gateway)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", o.ConfigPath, err)
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return fmt.Errorf("the state store holds an invalid configuration: %w", FieldErrors(errs))
	}
	d := &Daemon{
		path:     o.ConfigPath,
		settings: file.Gateway,
		store:    st,
		cfg:      cfg,
		log:      log,
		events:   make(chan ike.Event, eventQueueLen),
		ops:      make(chan func()),
		byName:   map[string]*tunnel{},
		routes:   routing.NewApplier(cfg.Gateway.RouteTable, log.With("component", "routing")),
	}
	defer d.shutdown()
	if d.tunnelLog, err = openTunnelLog(file.Gateway.TunnelLog); err != nil {
		return err
	}
	if err := d.routes.Flush(); err != nil {
		return fmt.Errorf("removing stale routes: %w", err)
	}
	for _, s := range cfg.tunnelSetups() {
		t, err := d.startTunnel(s, cfg.connIndex(s.Conn))
		if err != nil {
			return fmt.Errorf("vpn_connections[%d].tunnels[%d]: %w", cfg.connIndex(s.Conn), s.Index-1, err)
		}
		d.addTunnel(t)
	}
	ctl, err := listenControl(d.settings.ControlSocket, d, log)
	if err != nil {
		return err
	}
	d.control = ctl
	if d.settings.MetricsListen != "" {
		if d.metrics, err = listenMetrics(d.settings.MetricsListen, d, log); err != nil {
			return fmt.Errorf("gateway.metrics_listen: %w", err)
		}
	}
	log.Info("vpgw running", "gateway", cfg.Gateway.Name, "tunnels", len(d.tunnels),
		"control_socket", d.settings.ControlSocket, "state", st.Path())
	if o.Ready != nil {
		o.Ready()
	}
	d.loop(ctx, o.Reload)
	return nil
}

func (d *Daemon) addTunnel(t *tunnel) {
	d.tunnels = append(d.tunnels, t)
	d.byName[t.name] = t
}

func (d *Daemon) loop(ctx context.Context, reload <-chan struct{}) {
	check := time.NewTicker(routeCheckInterval)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
			d.checkRoutes()
		case ev := <-d.events:
			d.handleEvent(ev)
		case ev := <-d.bgpEvents:
			d.handleBGPEvent(ev)
		case <-reload:
			if summary, err := d.reload(); err != nil {
				d.log.Error("reload failed; the running configuration is unchanged", "err", err)
			} else {
				d.log.Info("configuration reloaded", "changes", summary)
			}
		case op := <-d.ops:
			op()
		}
	}
}

// do runs f on the loop goroutine and waits for it.
func (d *Daemon) do(f func()) bool {
	done := make(chan struct{})
	select {
	case d.ops <- func() { f(); close(done) }:
		<-done
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

// Status returns a snapshot, computed on the owner goroutine.
func (d *Daemon) Status() *Status {
	var s *Status
	if !d.do(func() { s = d.status() }) {
		return &Status{VPNConnections: []ConnectionStatus{}}
	}
	return s
}

func (d *Daemon) status() *Status {
	s := &Status{VPNConnections: []ConnectionStatus{}}
	for ci := range d.cfg.VPNConnections {
		c := &d.cfg.VPNConnections[ci]
		cs := ConnectionStatus{Name: c.Name, CustomerGateway: c.CustomerGateway, Routing: c.Routing}
		for _, t := range d.tunnels {
			if t.connIdx == ci {
				cs.Tunnels = append(cs.Tunnels, t.status(c))
			}
		}
		s.VPNConnections = append(s.VPNConnections, cs)
	}
	return s
}

// Reload re-reads the configuration file (as SIGHUP does) and reports what changed.
func (d *Daemon) Reload() (summary string, err error) {
	if !d.do(func() { summary, err = d.reload() }) {
		return "", fmt.Errorf("daemon busy")
	}
	return summary, err
}

// Rekey rekeys one tunnel's newest CHILD_SA (or its IKE SA) now.
func (d *Daemon) Rekey(connection string, index int, ikeSA bool) error {
	var err error
	if !d.do(func() {
		t := d.byName[tunnelSetup{Conn: connection, Index: index}.name()]
		if t == nil {
			err = fmt.Errorf("no tunnel %d in connection %q", index, connection)
			return
		}
		err = t.rekey(ikeSA)
	}) {
		return fmt.Errorf("daemon busy")
	}
	return err
}

// connTunnels returns connection ci's tunnels by number (nil if missing).
func (d *Daemon) connTunnels(ci int) [2]*tunnel {
	var ts [2]*tunnel
	for _, t := range d.tunnels {
		if t.connIdx == ci && t.setup.Index >= 1 && t.setup.Index <= 2 {
			ts[t.setup.Index-1] = t
		}
	}
	return ts
}

// desiredRoutes is what the kernel should hold given the tunnels' states:
// each connection's static routes through its preferred UP tunnel, and the
// BGP routes of its UP tunnels, chosen by AWS's priority (routing.Select).
func (d *Daemon) desiredRoutes(propagate bool) []routing.Route {
	if !propagate {
		return nil
	}
	var cands []routing.Candidate
	for ci, c := range d.cfg.VPNConnections {
		ts := d.connTunnels(ci)
		var states [2]routing.TunnelState
		for i, t := range ts {
			if t != nil {
				states[i] = routing.TunnelState{Connection: c.Name, Index: i + 1, Dev: t.dev, Up: t.state == StateUp}
			}
		}
		pref, ok := routing.Choose(states)
		if !ok {
			continue
		}
		for _, p := range c.StaticRoutes {
			cands = append(cands, routing.Candidate{Prefix: p, Tunnel: pref, Dev: ts[pref-1].dev, Static: true})
		}
		for i, t := range ts {
			if t == nil || t.bgp == nil || t.state != StateUp {
				continue
			}
			for _, r := range t.bgp.routes {
				cands = append(cands, routing.Candidate{Prefix: r.Prefix, Tunnel: i + 1, Dev: t.dev,
					ASPathLen: r.ASPathLen, MED: r.MED, Preferred: i+1 == pref})
			}
		}
	}
	return routing.Select(cands, d.cfg.Gateway.RouteTable)
}

// applyRoutes makes the kernel table match the tunnels' states. Most SA
// events (a rekey, a second SA on an UP tunnel) change nothing there, and
// the table is not read again for them; checkRoutes still repairs it.
func (d *Daemon) applyRoutes() {
	if want := d.desiredRoutes(d.cfg.Gateway.RoutePropagation); d.applied == nil || !slices.Equal(want, d.applied) {
		d.programRoutes(want)
	}
}

// checkRoutes applies the desired routes whatever was applied before: after
// links were made again (a reload), and periodically, to put back a route
// someone removed by hand.
func (d *Daemon) checkRoutes() {
	d.programRoutes(d.desiredRoutes(d.cfg.Gateway.RoutePropagation))
}

// routeCheckInterval is how often checkRoutes runs.
const routeCheckInterval = 30 * time.Second

func (d *Daemon) programRoutes(want []routing.Route) {
	d.applied = nil
	if err := d.routes.Apply(want); err != nil {
		d.log.Error("programming routes failed", "err", err)
		return
	}
	d.applied = append([]routing.Route{}, want...) // non-nil, even when empty
}

func (d *Daemon) shutdown() {
	if d.control != nil {
		d.control.Close()
	}
	if d.metrics != nil {
		d.metrics.Close()
	}
	for _, t := range d.tunnels {
		t.stop()
	}
	if d.bgp != nil {
		d.bgp.Close()
	}
	d.tunnelLog.Close()
	if err := d.routes.Flush(); err != nil {
		d.log.Error("removing routes at shutdown", "err", err)
	}
	d.log.Info("vpgw stopped: routes, TUNs and sockets removed")
}

// randReader is the randomness handed to ike; a var so tests can pin it.
var randReader = rand.Reader
