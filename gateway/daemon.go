package gateway

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/vpgw/vpgw/esp"
	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/routing"
)

// eventQueueLen bounds the ike → gateway event channel; ike blocks briefly
// when the supervisor falls behind rather than losing a state change.
const eventQueueLen = 256

// Daemon is the running gateway. Its loop goroutine is the single owner of
// tunnel state: IKE events and control-socket calls both arrive on channels,
// as in GoBGP's BgpServer.Serve.
type Daemon struct {
	cfg     *Config
	log     *slog.Logger
	events  chan ike.Event
	ops     chan func()
	tunnels []*tunnel
	byName  map[string]*tunnel
	eps     map[netip.Addr]*esp.Endpoint
	routes  *routing.Applier
	control *controlServer
}

// Run starts the gateway described by cfg and serves until ctx is done, then
// removes every route, TUN and socket it made.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	if err := EnsurePSKs(cfg, cfg.Gateway.StateDir); err != nil {
		return err
	}
	d := &Daemon{
		cfg:    cfg,
		log:    log,
		events: make(chan ike.Event, eventQueueLen),
		ops:    make(chan func()),
		byName: map[string]*tunnel{},
		eps:    map[netip.Addr]*esp.Endpoint{},
		routes: routing.NewApplier(cfg.Gateway.RouteTable, log.With("component", "routing")),
	}
	defer d.shutdown()
	if err := d.routes.Flush(); err != nil {
		return fmt.Errorf("removing stale routes: %w", err)
	}
	for ci := range cfg.VPNConnections {
		for ti := range cfg.VPNConnections[ci].Tunnels {
			if err := d.startTunnel(ci, ti); err != nil {
				return err
			}
		}
	}
	ctl, err := listenControl(cfg.Gateway.ControlSocket, d.Status, log)
	if err != nil {
		return err
	}
	d.control = ctl
	log.Info("vpgw running", "gateway", cfg.Gateway.Name, "tunnels", len(d.tunnels),
		"control_socket", cfg.Gateway.ControlSocket)
	d.loop(ctx)
	return nil
}

func (d *Daemon) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-d.events:
			d.handleEvent(ev)
		case op := <-d.ops:
			op()
		}
	}
}

// Status returns a snapshot, computed on the owner goroutine.
func (d *Daemon) Status() *Status {
	done := make(chan *Status, 1)
	select {
	case d.ops <- func() { done <- d.status() }:
		return <-done
	case <-time.After(5 * time.Second):
		return &Status{}
	}
}

func (d *Daemon) status() *Status {
	s := &Status{VPNConnections: []ConnectionStatus{}}
	for ci, c := range d.cfg.VPNConnections {
		cs := ConnectionStatus{Name: c.Name, CustomerGateway: c.CustomerGateway, Routing: c.Routing}
		for _, t := range d.tunnels {
			if t.connIdx == ci {
				cs.Tunnels = append(cs.Tunnels, t.status(d.cfg))
			}
		}
		s.VPNConnections = append(s.VPNConnections, cs)
	}
	return s
}

// applyRoutes makes the kernel table match the tunnels' states.
func (d *Daemon) applyRoutes() {
	var conns []routing.ConnectionRoutes
	for ci, c := range d.cfg.VPNConnections {
		cr := routing.ConnectionRoutes{Name: c.Name, Prefixes: c.StaticRoutes}
		for _, t := range d.tunnels {
			if t.connIdx == ci && t.index >= 1 && t.index <= 2 {
				cr.Tunnels[t.index-1] = routing.TunnelState{
					Connection: c.Name, Index: t.index, Dev: t.dev, Up: t.state == StateUp,
				}
			}
		}
		conns = append(conns, cr)
	}
	want := routing.Desired(conns, d.cfg.Gateway.RouteTable, d.cfg.Gateway.RoutePropagation)
	if err := d.routes.Apply(want); err != nil {
		d.log.Error("programming routes failed", "err", err)
	}
}

func (d *Daemon) shutdown() {
	for _, t := range d.tunnels {
		t.closeIKE()
	}
	if d.control != nil {
		d.control.Close()
	}
	if err := d.routes.Flush(); err != nil {
		d.log.Error("removing routes at shutdown", "err", err)
	}
	for _, t := range d.tunnels {
		t.closeDatapath()
	}
	for _, ep := range d.eps {
		ep.Close()
	}
	d.log.Info("vpgw stopped: routes, TUNs and sockets removed")
}

// randReader is the randomness handed to ike; a var so tests can pin it.
var randReader = rand.Reader
