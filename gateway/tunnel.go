package gateway

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"time"

	"github.com/vpgw/vpgw/esp"
	"github.com/vpgw/vpgw/ike"
	v2 "github.com/vpgw/vpgw/ike/v2"
	"github.com/vpgw/vpgw/routing"
)

// tunnelMTU leaves room for the worst case outer overhead we negotiate
// (IPv4 + UDP 4500 + ESP header + CBC IV + padding + SHA-512 ICV).
const tunnelMTU = 1400

// tunnel is one of a VPN connection's two tunnels. Everything below is
// owned by the daemon's loop goroutine.
type tunnel struct {
	connIdx, index int    // index is 1 or 2, as the console numbers tunnels
	name           string // "vpn-1/1": how logs and events name it
	dev            string // TUN name
	log            *slog.Logger

	ep  *esp.Endpoint
	dp  *esp.Tunnel
	ike *v2.Responder

	state      string
	since      time.Time
	message    string
	ikeVersion ike.Version
	natt       bool
	children   map[uint32]ike.ChildSA // by inbound SPI
}

func (d *Daemon) startTunnel(ci, ti int) error {
	c := &d.cfg.VPNConnections[ci]
	tc := &c.Tunnels[ti]
	cgw, ok := d.cfg.CustomerGatewayByName(c.CustomerGateway)
	if !ok {
		return fmt.Errorf("vpn_connections[%d].customer_gateway: %q does not exist", ci, c.CustomerGateway)
	}
	t := &tunnel{
		connIdx:  ci,
		index:    ti + 1,
		name:     fmt.Sprintf("%s/%d", c.Name, ti+1),
		dev:      tunName(c.Name, ti+1),
		state:    StateDown,
		since:    time.Now(),
		message:  "waiting for the customer gateway to initiate",
		children: map[uint32]ike.ChildSA{},
	}
	t.log = d.log.With("tunnel", t.name)
	field := fmt.Sprintf("vpn_connections[%d].tunnels[%d]", ci, ti)

	p1, err := ike.ParsePolicy(tc.Phase1.Encryption, tc.Phase1.Integrity, tc.Phase1.DHGroups)
	if err != nil {
		return fmt.Errorf("%s.phase1: %w", field, err)
	}
	p2, err := ike.ParsePolicy(tc.Phase2.Encryption, tc.Phase2.Integrity, tc.Phase2.DHGroups)
	if err != nil {
		return fmt.Errorf("%s.phase2: %w", field, err)
	}

	if _, dup := d.eps[tc.OutsideIP]; dup {
		return fmt.Errorf("%s.outside_ip: %s is used by another tunnel", field, tc.OutsideIP)
	}
	ep, err := esp.Listen(tc.OutsideIP, func(pkt []byte, local, remote netip.AddrPort) {
		t.handleIKE(pkt, local, remote)
	}, t.log.With("component", "esp"))
	if err != nil {
		return fmt.Errorf("%s.outside_ip: %w", field, err)
	}
	d.eps[tc.OutsideIP] = ep
	t.ep = ep

	allowed := append([]netip.Prefix{tc.InsideCIDR.Masked()}, d.cfg.Gateway.VPCCIDRs...)
	dp, err := ep.NewTunnel(esp.TunnelConfig{Name: t.dev, MTU: tunnelMTU, AllowedDst: allowed}, t.log.With("component", "esp"))
	if err != nil {
		return fmt.Errorf("%s: creating TUN %s: %w", field, t.dev, err)
	}
	t.dp = dp
	if err := routing.ConfigureLink(t.dev, netip.PrefixFrom(tc.VGWInsideAddr(), tc.InsideCIDR.Bits()), tunnelMTU); err != nil {
		return fmt.Errorf("%s: configuring %s: %w", field, t.dev, err)
	}

	t.ike = v2.NewResponder(v2.Config{
		Tunnel:        t.name,
		Local:         tc.OutsideIP,
		Peer:          cgw.IP,
		PSK:           []byte(tc.PSK),
		IKE:           p1,
		ESP:           p2,
		IKELifetime:   tc.Phase1.Lifetime,
		ChildLifetime: tc.Phase2.Lifetime,
	}, func(pkt []byte, local, remote netip.AddrPort) error {
		return ep.SendIKE(pkt, local.Port(), remote)
	}, d.events, ike.SystemClock{}, randReader, t.log.With("component", "ikev2"))

	d.tunnels = append(d.tunnels, t)
	d.byName[t.name] = t
	t.log.Info("tunnel ready: waiting for the customer gateway",
		"outside_ip", tc.OutsideIP, "customer_gateway", cgw.IP, "dev", t.dev,
		"inside", netip.PrefixFrom(tc.VGWInsideAddr(), tc.InsideCIDR.Bits()))
	return nil
}

// handleIKE runs on the endpoint's reader goroutine.
func (t *tunnel) handleIKE(pkt []byte, local, remote netip.AddrPort) {
	if t.ike == nil {
		return
	}
	// Byte 17 of the ISAKMP/IKE header is the version: 0x10 IKEv1, 0x20 IKEv2.
	if len(pkt) > 17 && pkt[17]>>4 == 1 {
		t.log.Warn("IKEv1 packet dropped: IKEv1 is not supported by this build", "from", remote)
		return
	}
	t.ike.HandlePacket(pkt, local, remote)
}

func (d *Daemon) handleEvent(ev ike.Event) {
	t := d.byName[ev.TunnelName()]
	if t == nil {
		d.log.Warn("event for unknown tunnel", "tunnel", ev.TunnelName())
		return
	}
	switch e := ev.(type) {
	case ike.IKEUp:
		t.ikeVersion, t.natt = e.Version, e.NATT
		t.log.Info("IKE SA up", "version", e.Version, "peer", e.Remote, "nat_t", e.NATT)
	case ike.ChildUp:
		d.childUp(t, e.Child)
	case ike.ChildDown:
		d.childDown(t, e.InSPI, e.OutSPI, e.Reason)
	case ike.IKEDown:
		for in, c := range t.children {
			d.childDown(t, in, c.OutSPI, e.Reason)
		}
		t.setState(StateDown, e.Reason)
		d.applyRoutes()
	case ike.NegotiationFailed:
		t.log.Warn("negotiation failed", "reason", e.Reason)
		if t.state == StateDown {
			t.message = e.Reason
			t.since = time.Now()
		}
	}
}

func (d *Daemon) childUp(t *tunnel, c ike.ChildSA) {
	rw := d.cfg.VPNConnections[t.connIdx].Tunnels[t.index-1].ReplayWindow
	in := esp.SAConfig{SPI: c.InSPI, ESP: c.ESP, EncrKey: c.InKeys.Encr, IntegKey: c.InKeys.Integ, ReplayWindow: rw}
	out := esp.SAConfig{SPI: c.OutSPI, ESP: c.ESP, EncrKey: c.OutKeys.Encr, IntegKey: c.OutKeys.Integ, ReplayWindow: rw}
	if err := t.dp.Install(in, out, c.Remote, c.UDPEncap); err != nil {
		t.log.Error("installing CHILD_SA failed", "err", err)
		return
	}
	t.children[c.InSPI] = c
	t.natt = c.UDPEncap
	if c.IKEVersion != "" {
		t.ikeVersion = c.IKEVersion
	}
	t.log.Info("CHILD_SA installed", "in_spi", fmt.Sprintf("0x%08x", c.InSPI),
		"out_spi", fmt.Sprintf("0x%08x", c.OutSPI), "esp", c.ESP.String(), "remote", c.Remote,
		"udp_encap", c.UDPEncap, "local_ts", c.LocalTS, "remote_ts", c.RemoteTS)
	t.setState(StateUp, "")
	d.applyRoutes()
}

func (d *Daemon) childDown(t *tunnel, in, out uint32, reason string) {
	if _, ok := t.children[in]; !ok {
		return
	}
	t.dp.Remove(in, out)
	delete(t.children, in)
	t.log.Info("CHILD_SA removed", "in_spi", fmt.Sprintf("0x%08x", in), "reason", reason)
	if len(t.children) == 0 {
		t.setState(StateDown, reason)
		d.applyRoutes()
	}
}

func (t *tunnel) setState(state, message string) {
	if t.state != state {
		t.log.Info("tunnel "+state, "was", t.state, "reason", message)
		t.state = state
		t.since = time.Now()
	}
	t.message = message
}

func (t *tunnel) status(cfg *Config) TunnelStatus {
	tc := cfg.VPNConnections[t.connIdx].Tunnels[t.index-1]
	st := TunnelStatus{
		OutsideIP:        tc.OutsideIP.String(),
		InsideCIDR:       tc.InsideCIDR.String(),
		Status:           t.state,
		LastStatusChange: t.since.UTC().Truncate(time.Second),
		StatusMessage:    t.message,
		IKEVersion:       string(t.ikeVersion),
		NATT:             t.natt,
	}
	if t.state == StateUp && cfg.VPNConnections[t.connIdx].Routing != "dynamic" {
		st.AcceptedRouteCount = len(cfg.VPNConnections[t.connIdx].StaticRoutes)
	}
	if t.dp != nil {
		s := t.dp.Stats()
		st.BytesIn, st.BytesOut = s.BytesIn, s.BytesOut
	}
	return st
}

func (t *tunnel) closeIKE() {
	if t.ike != nil {
		t.ike.Close()
	}
}

func (t *tunnel) closeDatapath() {
	if t.dp != nil {
		t.dp.Close()
	}
}

// tunName names a TUN after its connection and tunnel number within the
// kernel's 15-byte limit: "vpn-1-t1"; long names keep a prefix and a hash.
func tunName(conn string, idx int) string {
	suffix := fmt.Sprintf("-t%d", idx)
	clean := make([]byte, 0, len(conn))
	for _, r := range []byte(conn) {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			clean = append(clean, r)
		}
	}
	if len(clean)+len(suffix) <= 15 && len(clean) == len(conn) {
		return conn + suffix
	}
	h := fnv.New32a()
	h.Write([]byte(conn))
	keep := 15 - len(suffix) - 5
	if len(clean) < keep {
		keep = len(clean)
	}
	return fmt.Sprintf("%s-%04x%s", clean[:keep], h.Sum32()&0xffff, suffix)
}
