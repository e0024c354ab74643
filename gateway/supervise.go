package gateway

import (
	"fmt"
	"strings"
	"time"

	"github.com/vpgw/vpgw/esp"
	"github.com/vpgw/vpgw/ike"
)

// handleEvent turns what ike reports into installed SAs, tunnel state and
// routes. It runs on the daemon's loop goroutine.
func (d *Daemon) handleEvent(ev ike.Event) {
	t := d.byName[ev.TunnelName()]
	if t == nil {
		d.log.Debug("event for a tunnel that is gone", "tunnel", ev.TunnelName())
		return
	}
	switch e := ev.(type) {
	case ike.IKEUp:
		t.ikeVersion, t.natt, t.ikeUp = e.Version, e.NATT, true
		t.log.Info("IKE SA up", "version", e.Version, "peer", e.Remote, "nat_t", e.NATT)
		d.tunnelLog.event(t, "", fmt.Sprintf("IKE SA established with %v", e.Remote))
	case ike.ChildUp:
		d.childUp(t, e.Child)
	case ike.ChildDown:
		d.childDown(t, e.InSPI, e.OutSPI, e.Reason)
	case ike.IKEDown:
		if strings.HasPrefix(e.Reason, "DPD timeout") {
			t.counters.dpdTimeouts++
		}
		t.ikeUp = false
		for in, c := range t.children {
			d.childDown(t, in, c.OutSPI, e.Reason)
		}
		d.refresh(t, e.Reason)
		d.tunnelLog.event(t, "", "IKE SA down: "+e.Reason)
	case ike.PeerDead:
		t.counters.dpdTimeouts++
		// dpd_timeout_action none: the SAs stay, the operator is told.
		t.log.Warn("peer dead, keeping its SAs (dpd_timeout_action none)", "reason", e.Reason)
		t.message = e.Reason + " (dpd_timeout_action none: SAs kept)"
		d.tunnelLog.event(t, "", t.message)
	case ike.NegotiationFailed:
		t.log.Warn("negotiation failed", "reason", e.Reason)
		d.tunnelLog.event(t, phaseNegotiating, e.Reason)
		if t.state == StateDown {
			t.message = e.Reason
			t.since = time.Now()
		}
	}
}

func (d *Daemon) childUp(t *tunnel, c ike.ChildSA) {
	rw := t.setup.Tunnel.ReplayWindow
	in := esp.SAConfig{SPI: c.InSPI, ESP: c.ESP, EncrKey: c.InKeys.Encr, IntegKey: c.InKeys.Integ, ReplayWindow: rw}
	out := esp.SAConfig{SPI: c.OutSPI, ESP: c.ESP, EncrKey: c.OutKeys.Encr, IntegKey: c.OutKeys.Integ, ReplayWindow: rw}
	if err := t.dp.Install(in, out, c.Remote, c.UDPEncap); err != nil {
		t.log.Error("installing CHILD_SA failed", "err", err)
		return
	}
	rekey := len(t.children) > 0
	if rekey {
		t.counters.rekeys++
	}
	t.children[c.InSPI] = c
	t.natt = c.UDPEncap
	if c.IKEVersion != "" {
		t.ikeVersion = c.IKEVersion
	}
	t.log.Info("CHILD_SA installed", "in_spi", fmt.Sprintf("0x%08x", c.InSPI),
		"out_spi", fmt.Sprintf("0x%08x", c.OutSPI), "esp", c.ESP.String(), "remote", c.Remote,
		"udp_encap", c.UDPEncap, "local_ts", c.LocalTS, "remote_ts", c.RemoteTS)
	d.refresh(t, "")
	if rekey {
		d.tunnelLog.event(t, phaseRekeying, fmt.Sprintf("CHILD_SA rekeyed: new in=0x%08x out=0x%08x %s", c.InSPI, c.OutSPI, c.ESP))
	} else {
		d.tunnelLog.event(t, "", fmt.Sprintf("CHILD_SA established in=0x%08x out=0x%08x %s", c.InSPI, c.OutSPI, c.ESP))
	}
}

func (d *Daemon) childDown(t *tunnel, in, out uint32, reason string) {
	if _, ok := t.children[in]; !ok {
		return
	}
	t.dp.Remove(in, out)
	delete(t.children, in)
	t.log.Info("CHILD_SA removed", "in_spi", fmt.Sprintf("0x%08x", in), "reason", reason)
	d.refresh(t, reason)
	d.tunnelLog.event(t, "", fmt.Sprintf("CHILD_SA in=0x%08x removed: %s", in, reason))
}

// refresh recomputes a tunnel's state after any change, as AWS defines it:
// UP when a CHILD_SA is installed and, for dynamic routing, its BGP session
// is Established too. It keeps the BGP neighbor and the MEDs in step and
// reprograms the routes. reason explains a DOWN caused by IKE.
func (d *Daemon) refresh(t *tunnel, reason string) {
	d.syncNeighbor(t)
	ipsec := len(t.children) > 0
	switch {
	case ipsec && (t.bgp == nil || t.bgp.established):
		t.setState(StateUp, "")
	case ipsec:
		t.setState(StateDown, t.bgp.message())
	case reason != "" || t.state == StateUp:
		t.setState(StateDown, reason)
	}
	d.syncMEDs()
	d.applyRoutes()
}

func (t *tunnel) setState(state, message string) {
	if t.state != state {
		t.log.Info("tunnel "+state, "was", t.state, "reason", message)
		t.state = state
		t.since = time.Now()
	}
	t.message = message
}

func (t *tunnel) status(c *VPNConnection) TunnelStatus {
	tc := t.setup.Tunnel
	st := TunnelStatus{
		OutsideIP:        tc.OutsideIP.String(),
		InsideCIDR:       tc.InsideCIDR.String(),
		Status:           t.state,
		LastStatusChange: t.since.UTC().Truncate(time.Second),
		StatusMessage:    t.message,
		IKEVersion:       string(t.ikeVersion),
		NATT:             t.natt,
		Phase1State:      "NONE",
		Phase2State:      "NONE",
	}
	if t.ikeUp {
		st.Phase1State = "ESTABLISHED"
	}
	if len(t.children) > 0 {
		st.Phase2State = "INSTALLED"
	}
	switch {
	case t.bgp != nil:
		st.AcceptedRouteCount = len(t.bgp.routes)
	case t.state == StateUp:
		st.AcceptedRouteCount = len(c.StaticRoutes)
	}
	if t.dp != nil {
		s := t.dp.Stats()
		st.BytesIn, st.BytesOut = s.BytesIn, s.BytesOut
	}
	return st
}
