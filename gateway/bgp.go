package gateway

import (
	"fmt"
	"net/netip"

	"github.com/vpgw/vpgw/bgp"
	"github.com/vpgw/vpgw/routing"
)

// MEDs vpgw advertises the VPC CIDRs with, as AWS does: the customer side
// then prefers the tunnel vpgw sends on.
const (
	medPreferred = 100
	medOther     = 200
)

// bgpState is a dynamic tunnel's BGP side, owned by the loop goroutine.
type bgpState struct {
	established bool
	state       string // RFC 4271 state name
	reason      string // why not established
	routes      []bgp.Route
	med         uint32 // last MED set on the neighbor
	enabled     bool
}

// ensureBGP starts the embedded BGP speaker the first time a tunnel with
// dynamic routing needs it.
func (d *Daemon) ensureBGP() error {
	if d.bgp != nil {
		return nil
	}
	var rid netip.Addr
	for _, s := range d.cfg.tunnelSetups() {
		rid = s.Tunnel.OutsideIP
		break
	}
	srv, err := bgp.New(bgp.Config{
		ASN:        d.cfg.Gateway.ASN,
		RouterID:   rid,
		VPCCIDRs:   d.cfg.Gateway.VPCCIDRs,
		GRPCListen: d.cfg.Gateway.BGPGRPCListen,
	}, d.log.With("component", "bgp"))
	if err != nil {
		return err
	}
	d.bgp = srv
	d.bgpEvents = srv.Events()
	return nil
}

// addNeighbor registers the customer gateway's BGP speaker at the far end
// of a dynamic tunnel; it stays disabled until the tunnel's IPsec is up.
func (d *Daemon) addNeighbor(t *tunnel) error {
	if err := d.ensureBGP(); err != nil {
		return err
	}
	tc := t.setup.Tunnel
	t.bgp = &bgpState{state: "Idle", reason: "waiting for the tunnel", med: medOther}
	if err := d.bgp.AddNeighbor(bgp.Neighbor{
		Tunnel: t.name, Local: tc.VGWInsideAddr(), Peer: tc.CGWInsideAddr(),
		PeerASN: t.setup.PeerASN, MED: medOther,
	}); err != nil {
		return fmt.Errorf("BGP neighbor %v: %w", tc.CGWInsideAddr(), err)
	}
	return d.bgp.DisableNeighbor(t.name, "tunnel down")
}

// syncNeighbor enables a dynamic tunnel's neighbor while its IPsec SAs are
// installed and shuts it down the moment they go, so its routes are
// withdrawn at once instead of after BGP's hold time.
func (d *Daemon) syncNeighbor(t *tunnel) {
	if t.bgp == nil || d.bgp == nil {
		return
	}
	want := len(t.children) > 0
	if want == t.bgp.enabled {
		return
	}
	var err error
	if want {
		err = d.bgp.EnableNeighbor(t.name)
	} else {
		err = d.bgp.DisableNeighbor(t.name, "tunnel down")
		t.bgp.established, t.bgp.routes = false, nil
	}
	if err != nil {
		t.log.Error("BGP neighbor", "err", err)
		return
	}
	t.bgp.enabled = want
}

// syncMEDs gives each connection's preferred tunnel the lower MED.
func (d *Daemon) syncMEDs() {
	if d.bgp == nil {
		return
	}
	for ci := range d.cfg.VPNConnections {
		ts := d.connTunnels(ci)
		var states [2]routing.TunnelState
		for i, t := range ts {
			if t != nil {
				states[i] = routing.TunnelState{Index: i + 1, Dev: t.dev, Up: len(t.children) > 0}
			}
		}
		pref, _ := routing.Choose(states)
		for i, t := range ts {
			if t == nil || t.bgp == nil {
				continue
			}
			med := uint32(medOther)
			if i+1 == pref {
				med = medPreferred
			}
			if med != t.bgp.med {
				if err := d.bgp.SetNeighborMED(t.name, med); err != nil {
					t.log.Error("BGP MED", "err", err)
					continue
				}
				t.bgp.med = med
			}
		}
	}
}

// handleBGPEvent takes a session or route change of one neighbor.
func (d *Daemon) handleBGPEvent(ev bgp.Event) {
	t := d.byName[ev.TunnelName()]
	if t == nil || t.bgp == nil {
		return
	}
	switch e := ev.(type) {
	case bgp.SessionState:
		if e.Established != t.bgp.established {
			t.log.Info("BGP session "+e.State, "reason", e.Reason)
		}
		t.bgp.established, t.bgp.state, t.bgp.reason = e.Established, e.State, e.Reason
		if !e.Established {
			t.bgp.routes = nil
		}
	case bgp.RoutesChanged:
		t.bgp.routes = d.acceptable(t, e.Routes)
		t.log.Info("BGP routes from the customer gateway", "count", len(t.bgp.routes))
	}
	d.refresh(t, "")
}

// acceptable drops what a customer must not steer into a tunnel: the VPC's
// own CIDRs and the link-local tunnel range.
func (d *Daemon) acceptable(t *tunnel, rs []bgp.Route) []bgp.Route {
	out := rs[:0:0]
	for _, r := range rs {
		bad := linkLocal.Overlaps(r.Prefix)
		for _, vpc := range d.cfg.Gateway.VPCCIDRs {
			bad = bad || vpc.Overlaps(r.Prefix)
		}
		if bad {
			t.log.Warn("ignoring a BGP route that overlaps the VPC or 169.254.0.0/16", "prefix", r.Prefix)
			continue
		}
		out = append(out, r)
	}
	return out
}

var linkLocal = netip.MustParsePrefix("169.254.0.0/16")

// bgpMessage explains a dynamic tunnel whose IPsec is up but whose BGP
// session is not.
func (b *bgpState) message() string {
	if b.reason == "" {
		return "BGP session " + b.state
	}
	return fmt.Sprintf("BGP session %s: %s", b.state, b.reason)
}
