// Package bgp runs the gateway's BGP speaker: an embedded GoBGP server with
// one eBGP neighbor per tunnel (on the tunnel's inside /30), advertising the
// VPC CIDRs to each with a per-neighbor MED, and reporting per neighbor the
// session state and the full set of prefixes it accepted. It never programs
// routes: the gateway combines RoutesChanged of both tunnels and static
// routes (routing.Select) and hands the result to routing.
//
// Goroutines and event flow:
//
//	GoBGP Serve (owns peers and RIBs)
//	  ├─ watch callback (GoBGP's WatchEvent goroutine): peer state changes and
//	  │  adj-RIB-in updates → s.notes (bounded; blocks only that goroutine)
//	  └─ log adapter (GoBGP's FSM goroutines): "Peer Down"/"failed to connect"
//	     reasons → s.reasons map + s.kick (never blocks)
//	routineEvents (ours, one): notes, kicks and a coalescing timer
//	  → ListPath(adj-in) for neighbors whose table changed
//	  → Events() (bounded; blocks this goroutine until the consumer reads)
//
// API methods (AddNeighbor, …) call GoBGP directly and never wait for
// routineEvents, so they may be called from the goroutine that drains
// Events.
package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// Defaults for zero Config fields.
const (
	DefaultMaxPrefixes       = 100
	DefaultHoldTime          = 30 * time.Second
	DefaultKeepaliveInterval = 10 * time.Second
	DefaultConnectRetry      = 5 * time.Second
	DefaultPrefixLimitRetry  = 60 * time.Second
)

const (
	eventQueue  = 64                     // Events() capacity
	noteQueue   = 64                     // watch callback → routineEvents
	routeSettle = 100 * time.Millisecond // coalesces bursts of UPDATEs
)

// Config is the gateway-wide BGP configuration. Zero durations and
// MaxPrefixes take the defaults above.
type Config struct {
	ASN         uint32     // the gateway's (Amazon side) ASN
	RouterID    netip.Addr // IPv4
	VPCCIDRs    []netip.Prefix
	MaxPrefixes int // per neighbor; more resets the session

	HoldTime          time.Duration // whole seconds, at least 3 s
	KeepaliveInterval time.Duration
	ConnectRetry      time.Duration
	// PrefixLimitRetry is how long a neighbor that exceeded MaxPrefixes
	// stays down before vpgw lets it reconnect. Negative: until
	// EnableNeighbor.
	PrefixLimitRetry time.Duration

	// GRPCListen, if set, also serves GoBGP's gRPC API there (for the gobgp
	// CLI), e.g. "127.0.0.1:50051" or "unix:///run/vpgw/gobgp.sock". Off by
	// default; never expose it beyond the host.
	GRPCListen string
}

func (c *Config) setDefaults() {
	if c.MaxPrefixes == 0 {
		c.MaxPrefixes = DefaultMaxPrefixes
	}
	if c.HoldTime == 0 {
		c.HoldTime = DefaultHoldTime
	}
	if c.KeepaliveInterval == 0 {
		c.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if c.ConnectRetry == 0 {
		c.ConnectRetry = DefaultConnectRetry
	}
	if c.PrefixLimitRetry == 0 {
		c.PrefixLimitRetry = DefaultPrefixLimitRetry
	}
}

func (c *Config) validate() error {
	switch {
	case c.ASN == 0:
		return errors.New("bgp: ASN is required")
	case !c.RouterID.Is4():
		return fmt.Errorf("bgp: router ID %v is not an IPv4 address", c.RouterID)
	case c.MaxPrefixes < 0:
		return fmt.Errorf("bgp: MaxPrefixes %d is negative", c.MaxPrefixes)
	case c.HoldTime < 3*time.Second || c.HoldTime%time.Second != 0:
		return fmt.Errorf("bgp: hold time %v must be whole seconds, at least 3s", c.HoldTime)
	case c.KeepaliveInterval < time.Second || c.KeepaliveInterval >= c.HoldTime:
		return fmt.Errorf("bgp: keepalive interval %v must be at least 1s and below the hold time", c.KeepaliveInterval)
	case c.ConnectRetry < time.Second:
		return fmt.Errorf("bgp: connect retry %v is below 1s", c.ConnectRetry)
	}
	for _, p := range c.VPCCIDRs {
		if !p.IsValid() || !p.Addr().Is4() {
			return fmt.Errorf("bgp: VPC CIDR %v is not an IPv4 prefix", p)
		}
	}
	return nil
}

// Server is the embedded BGP speaker. Create it with New; its methods may be
// called from any goroutine.
type Server struct {
	cfg Config
	log *slog.Logger
	bgp *server.BgpServer

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// apiMu serializes the API methods (each is a few GoBGP calls that must
	// not interleave, e.g. rebuilding the export policy).
	apiMu sync.Mutex

	// mu guards the neighbor maps and neighbor state. It is never held
	// while calling GoBGP: GoBGP logs through peerLog from its own
	// goroutines.
	mu      sync.Mutex
	byName  map[string]*neighbor
	byPeer  map[netip.Addr]*neighbor
	closed  bool
	reasons reasonBox

	notes  chan note
	kick   chan struct{}
	events chan Event
}

// neighbor is one tunnel's neighbor. Fields below the line are guarded by
// Server.mu.
type neighbor struct {
	Neighbor
	// ---
	state       string
	established bool
	reason      string // last failure; sticky until established
	disabled    bool   // by DisableNeighbor
	adminDown   string // the reason given to DisableNeighbor
	dirty       bool   // adj-RIB-in changed since routes were read
	routes      []Route
	retry       *time.Timer // re-enable after the prefix limit hit
}

// reasonBox holds failure reasons the log adapter picked up, per neighbor
// address, until routineEvents takes them. It has its own lock so the log
// adapter never waits for Server.mu.
type reasonBox struct {
	mu sync.Mutex
	m  map[string]string
}

func (b *reasonBox) put(addr, reason string) {
	b.mu.Lock()
	if b.m == nil {
		b.m = make(map[string]string)
	}
	b.m[addr] = reason
	b.mu.Unlock()
}

func (b *reasonBox) take() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.m
	b.m = nil
	return m
}

func (b *reasonBox) takeOne(addr string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.m[addr]
	delete(b.m, addr)
	return r
}

// note is what the watch callback passes to routineEvents.
type note struct {
	peer    *api.WatchEventResponse_PeerEvent // a state change, or
	changed []netip.Addr                      // neighbors whose adj-RIB-in changed
}

// New starts the BGP speaker: GoBGP with the given ASN and router ID, no
// listening socket (ListenPort -1: vpgw always opens the session, from the
// tunnel's inside address to the customer gateway's port 179), the VPC
// CIDRs originated, and the export policy installed. Neighbors are added
// with AddNeighbor. log receives GoBGP's log, with component=gobgp.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.VPCCIDRs = normalize(cfg.VPCCIDRs)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:    cfg,
		log:    log,
		byName: make(map[string]*neighbor),
		byPeer: make(map[netip.Addr]*neighbor),
		notes:  make(chan note, noteQueue),
		kick:   make(chan struct{}, 1),
		events: make(chan Event, eventQueue),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	opts := []server.ServerOption{server.LoggerOption(&logAdapter{
		log:     log.With("component", "gobgp"),
		peerLog: s.peerLog,
	})}
	if cfg.GRPCListen != "" {
		// GoBGP starts its gRPC listener in the background and only logs a
		// failure: try the address first so New can report it.
		if err := probeListen(cfg.GRPCListen); err != nil {
			s.cancel()
			return nil, fmt.Errorf("bgp: gRPC listen %s: %w", cfg.GRPCListen, err)
		}
		opts = append(opts, server.GrpcListenAddress(cfg.GRPCListen))
	}
	s.bgp = server.NewBgpServer(opts...)
	// Serve never returns: GoBGP has no way to end it. Close stops
	// everything else; this goroutine stays parked.
	go s.bgp.Serve()

	if err := s.start(); err != nil {
		s.bgp.Stop()
		s.cancel()
		return nil, err
	}
	s.wg.Add(1)
	go s.routineEvents()
	return s, nil
}

func (s *Server) start() error {
	ctx := s.ctx
	err := s.bgp.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:        s.cfg.ASN,
		RouterId:   s.cfg.RouterID.String(),
		ListenPort: -1,          // no listener: sessions are opened by vpgw
		Families:   []uint32{0}, // GoBGP's index of ipv4-unicast (oc.IntToAfiSafiTypeMap)
	}})
	if err != nil {
		return fmt.Errorf("bgp: start: %w", err)
	}
	if err := s.installPolicy(ctx, nil, true); err != nil {
		return err
	}
	if err := s.originateVPC(ctx); err != nil {
		return err
	}
	err = s.bgp.WatchEvent(ctx, &api.WatchEventRequest{
		Peer: &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			{Type: api.WatchEventRequest_Table_Filter_ADJIN},
		}},
	}, s.onWatch)
	if err != nil {
		return fmt.Errorf("bgp: watch: %w", err)
	}
	return nil
}

// Events returns the channel of session and route events. The consumer must
// keep reading it: while it is full, events (and GoBGP's watch queue) back
// up. It is closed by Close.
func (s *Server) Events() <-chan Event { return s.events }

// Close stops every session (a Cease NOTIFICATION to each established
// neighbor), GoBGP and the event goroutine, and closes Events.
func (s *Server) Close() error {
	s.apiMu.Lock()
	defer s.apiMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, n := range s.byName {
		n.stopRetry()
	}
	s.mu.Unlock()

	s.bgp.Stop()
	s.cancel()
	s.wg.Wait()
	close(s.events)
	return nil
}

// onWatch runs on GoBGP's watch goroutine.
func (s *Server) onWatch(r *api.WatchEventResponse) {
	var n note
	switch ev := r.Event.(type) {
	case *api.WatchEventResponse_Peer:
		n.peer = ev.Peer
	case *api.WatchEventResponse_Table:
		for _, p := range ev.Table.Paths {
			if a, err := netip.ParseAddr(p.NeighborIp); err == nil {
				n.changed = append(n.changed, a)
			}
		}
		if len(n.changed) == 0 {
			return
		}
	default:
		return
	}
	select {
	case s.notes <- n:
	case <-s.ctx.Done():
	}
}

// peerLog runs on GoBGP's goroutines (see logAdapter).
func (s *Server) peerLog(msg, addr string, f gobgplog.Fields) {
	var reason string
	switch msg {
	case "Peer Down":
		r, _ := f["Reason"].(string)
		reason = peerDownReason(r, s.cfg.MaxPrefixes)
	case "failed to connect":
		reason = dialReason(f["Error"])
	default:
		return
	}
	s.reasons.put(addr, reason)
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// routineEvents turns GoBGP's notifications into Events. It is the only
// sender on s.events.
func (s *Server) routineEvents() {
	defer s.wg.Done()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	armed := false
	for {
		select {
		case <-s.ctx.Done():
			settle.Stop()
			return
		case n := <-s.notes:
			if n.peer != nil {
				s.handlePeer(n.peer)
				continue
			}
			s.mu.Lock()
			for _, a := range n.changed {
				if nb := s.byPeer[a]; nb != nil {
					nb.dirty = true
				}
			}
			s.mu.Unlock()
			if !armed {
				settle.Reset(routeSettle)
				armed = true
			}
		case <-s.kick:
			s.handleReasons()
		case <-settle.C:
			armed = false
			s.refreshRoutes()
		}
	}
}

// handlePeer reports a session state change, and an empty route set when
// the session left Established.
func (s *Server) handlePeer(ev *api.WatchEventResponse_PeerEvent) {
	if ev.Type != api.WatchEventResponse_PeerEvent_STATE || ev.Peer == nil || ev.Peer.State == nil {
		return
	}
	addr, err := netip.ParseAddr(ev.Peer.State.NeighborAddress)
	if err != nil {
		return
	}
	logged := s.reasons.takeOne(addr.String())

	var out []Event
	s.mu.Lock()
	nb := s.byPeer[addr]
	if nb == nil {
		s.mu.Unlock()
		return
	}
	st := ev.Peer.State
	nb.state = stateName(st.SessionState)
	nb.established = st.SessionState == api.PeerState_ESTABLISHED
	switch {
	case nb.established:
		nb.reason = ""
		nb.dirty = true // read what arrived before this event, if anything
	case st.AdminState == api.PeerState_PFX_CT:
		nb.reason = prefixLimitReason(s.cfg.MaxPrefixes)
		s.scheduleRetryLocked(nb)
	case nb.disabled || st.AdminState == api.PeerState_DOWN:
		nb.reason = adminDownReason(nb.adminDown)
	case logged != "":
		nb.reason = logged
	}
	out = append(out, nb.sessionState())
	if !nb.established && len(nb.routes) > 0 {
		nb.routes = nil
		out = append(out, RoutesChanged{Tunnel: nb.Tunnel})
	}
	up := nb.established
	s.mu.Unlock()
	s.emit(out...)
	if up {
		s.refreshRoutes()
	}
}

// handleReasons reports a new failure reason of a neighbor that is down
// (e.g. the first "connection refused"); a reason logged while the session
// is still established waits for the state change.
func (s *Server) handleReasons() {
	logged := s.reasons.take()
	var out []Event
	s.mu.Lock()
	for a, r := range logged {
		addr, err := netip.ParseAddr(a)
		nb := s.byPeer[addr]
		if err != nil || nb == nil {
			continue
		}
		if nb.established {
			s.reasons.put(a, r) // for handlePeer
			continue
		}
		if nb.disabled || nb.retry != nil || r == nb.reason {
			continue
		}
		nb.reason = r
		out = append(out, nb.sessionState())
	}
	s.mu.Unlock()
	s.emit(out...)
}

// refreshRoutes reads the adj-RIB-in of every dirty neighbor and reports
// the sets that changed.
func (s *Server) refreshRoutes() {
	s.mu.Lock()
	var todo []*neighbor
	for _, nb := range s.byName {
		if nb.dirty {
			nb.dirty = false
			todo = append(todo, nb)
		}
	}
	s.mu.Unlock()

	for _, nb := range todo {
		routes, err := s.adjIn(nb.Peer)
		if err != nil {
			s.log.Debug("bgp: read adj-RIB-in", "tunnel", nb.Tunnel, "err", err)
			continue
		}
		s.mu.Lock()
		current := s.byName[nb.Tunnel] == nb
		if current && !nb.established {
			routes = nil
		}
		changed := current && !equalRoutes(routes, nb.routes)
		if changed {
			nb.routes = routes
		}
		s.mu.Unlock()
		if changed {
			s.emit(RoutesChanged{Tunnel: nb.Tunnel, Routes: routes})
		}
	}
}

func (s *Server) adjIn(peer netip.Addr) ([]Route, error) {
	var dsts []*api.Destination
	// Not EnableFiltered: GoBGP v3.37 then rewrites the timestamps of the
	// live adj-RIB-in paths, racing with its own watch goroutine. There is
	// no import policy to filter with anyway.
	err := s.bgp.ListPath(s.ctx, &api.ListPathRequest{
		TableType: api.TableType_ADJ_IN,
		Name:      peer.String(),
		Family:    ipv4Unicast,
	}, func(d *api.Destination) { dsts = append(dsts, d) })
	if err != nil {
		return nil, err
	}
	return toRoutes(dsts, s.cfg.ASN), nil
}

func (s *Server) emit(evs ...Event) {
	for _, ev := range evs {
		s.log.Debug("bgp event", "event", ev)
		select {
		case s.events <- ev:
		case <-s.ctx.Done():
			return
		}
	}
}

// scheduleRetryLocked re-enables a neighbor PrefixLimitRetry after GoBGP
// shut it down for exceeding its prefix limit (GoBGP itself would keep it
// down for good).
func (s *Server) scheduleRetryLocked(nb *neighbor) {
	if s.cfg.PrefixLimitRetry < 0 || nb.retry != nil || s.closed {
		return
	}
	peer := nb.Peer.String()
	nb.retry = time.AfterFunc(s.cfg.PrefixLimitRetry, func() {
		s.mu.Lock()
		ok := s.byName[nb.Tunnel] == nb && nb.retry != nil && !nb.disabled && !s.closed
		nb.retry = nil
		s.mu.Unlock()
		if !ok {
			return
		}
		if err := s.bgp.EnablePeer(s.ctx, &api.EnablePeerRequest{Address: peer}); err != nil {
			s.log.Warn("bgp: re-enable after prefix limit", "tunnel", nb.Tunnel, "err", err)
		}
	})
}

func (nb *neighbor) stopRetry() {
	if nb.retry != nil {
		nb.retry.Stop()
		nb.retry = nil
	}
}

func (nb *neighbor) sessionState() SessionState {
	return SessionState{Tunnel: nb.Tunnel, Established: nb.established, State: nb.state, Reason: nb.reason}
}

func equalRoutes(a, b []Route) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func normalize(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	seen := make(map[netip.Prefix]bool)
	for _, p := range ps {
		p = p.Masked()
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// probeListen checks that GoBGP will be able to listen on addr.
func probeListen(addr string) error {
	network, address := "tcp", addr
	if rest, ok := strings.CutPrefix(addr, "unix://"); ok {
		network, address = "unix", rest
	}
	l, err := net.Listen(network, address)
	if err != nil {
		return err
	}
	return l.Close()
}
