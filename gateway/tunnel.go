package gateway

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"github.com/vpgw/vpgw/esp"
	"github.com/vpgw/vpgw/ike"
	v1 "github.com/vpgw/vpgw/ike/v1"
	v2 "github.com/vpgw/vpgw/ike/v2"
	"github.com/vpgw/vpgw/routing"
)

// dpdDelay is how long a tunnel may be idle (no IKE message, no ESP in)
// before vpgw asks the peer whether it is alive (AWS uses 10 s).
const dpdDelay = 10 * time.Second

// refuseEvery rate-limits reports of a refused IKE version.
const refuseEvery = 10 * time.Second

// tunnelMTU leaves room for the worst case outer overhead we negotiate
// (IPv4 + UDP 4500 + ESP header + CBC IV + padding + SHA-512 ICV).
const tunnelMTU = 1400

// tunnelSetup is everything a tunnel is built from. A reload restarts a
// tunnel only when its setup changed.
type tunnelSetup struct {
	Conn     string
	Index    int // 1 or 2, as the console numbers tunnels
	Tunnel   Tunnel
	CGW      netip.Addr
	VPCCIDRs []netip.Prefix
	PeerASN  uint32 // the customer's BGP ASN when the connection is dynamic; 0: static
}

func (s tunnelSetup) name() string { return fmt.Sprintf("%s/%d", s.Conn, s.Index) }

func (s tunnelSetup) equal(o tunnelSetup) bool { return reflect.DeepEqual(s, o) }

// tunnel is one of a VPN connection's two tunnels. Its fields below the
// setup are owned by the daemon's loop goroutine.
type tunnel struct {
	setup   tunnelSetup
	connIdx int    // position of its connection in the current config
	name    string // "vpn-1/1": how logs and events name it
	dev     string // TUN name
	log     *slog.Logger

	ep      *esp.Endpoint
	dp      *esp.Tunnel
	v1      *v1.Responder // nil when ike_versions leaves IKEv1 out
	v2      *v2.Responder // nil when ike_versions leaves IKEv2 out
	events  chan<- ike.Event
	refused atomic.Int64 // unix nanoseconds of the last refusal reported

	state      string
	since      time.Time
	message    string
	ikeVersion ike.Version
	natt       bool
	ikeUp      bool                   // an IKE (ISAKMP) SA is established
	children   map[uint32]ike.ChildSA // by inbound SPI
	bgp        *bgpState              // nil for static routing
	counters   tunnelCounters
}

// startTunnel opens the tunnel's sockets and TUN and starts its IKE
// responders. On error it has released whatever it had made.
func (d *Daemon) startTunnel(s tunnelSetup, connIdx int) (_ *tunnel, err error) {
	tc := s.Tunnel
	t := &tunnel{
		setup:    s,
		connIdx:  connIdx,
		name:     s.name(),
		dev:      tunName(s.Conn, s.Index),
		events:   d.events,
		state:    StateDown,
		since:    time.Now(),
		message:  "waiting for the customer gateway to initiate",
		children: map[uint32]ike.ChildSA{},
	}
	t.log = d.log.With("tunnel", t.name)
	defer func() {
		if err != nil {
			d.stopTunnel(t)
		}
	}()

	p1, err := ike.ParsePolicy(tc.Phase1.Encryption, tc.Phase1.Integrity, tc.Phase1.DHGroups)
	if err != nil {
		return nil, fmt.Errorf("phase1: %w", err)
	}
	p2, err := ike.ParsePolicy(tc.Phase2.Encryption, tc.Phase2.Integrity, tc.Phase2.DHGroups)
	if err != nil {
		return nil, fmt.Errorf("phase2: %w", err)
	}
	t.ep, err = esp.Listen(tc.OutsideIP, t.handleIKE, t.log.With("component", "esp"))
	if err != nil {
		return nil, fmt.Errorf("outside_ip: %w", err)
	}
	allowed := append([]netip.Prefix{tc.InsideCIDR.Masked()}, s.VPCCIDRs...)
	t.dp, err = t.ep.NewTunnel(esp.TunnelConfig{Name: t.dev, MTU: tunnelMTU, AllowedDst: allowed}, t.log.With("component", "esp"))
	if err != nil {
		return nil, fmt.Errorf("creating TUN %s: %w", t.dev, err)
	}
	if err := routing.ConfigureLink(t.dev, netip.PrefixFrom(tc.VGWInsideAddr(), tc.InsideCIDR.Bits()), tunnelMTU); err != nil {
		return nil, fmt.Errorf("configuring %s: %w", t.dev, err)
	}

	send := func(pkt []byte, local, remote netip.AddrPort) error {
		return t.ep.SendIKE(pkt, local.Port(), remote)
	}
	if slices.Contains(tc.IKEVersions, IKEVersion2) {
		t.v2 = v2.NewResponder(v2.Config{
			Tunnel:        t.name,
			Local:         tc.OutsideIP,
			Peer:          s.CGW,
			PSK:           []byte(tc.PSK),
			IKE:           p1,
			ESP:           p2,
			IKELifetime:   tc.Phase1.Lifetime,
			ChildLifetime: tc.Phase2.Lifetime,
			DPDDelay:      dpdDelay,
			DPDTimeout:    tc.DPDTimeout,
			DPDAction:     tc.DPDTimeoutAction,
			LastInbound:   t.dp.LastInbound,
			RekeyMargin:   tc.RekeyMargin,
			RekeyFuzz:     tc.RekeyFuzz,
			StartupAction: tc.StartupAction,
			ForceUDPEncap: tc.ForceUDPEncap,
		}, send, d.events, ike.SystemClock{}, randReader, t.log.With("component", "ikev2"))
	}
	if slices.Contains(tc.IKEVersions, IKEVersion1) {
		t.v1 = v1.NewResponder(v1.Config{
			Tunnel:        t.name,
			Local:         tc.OutsideIP,
			Peer:          s.CGW,
			PSK:           []byte(tc.PSK),
			IKE:           p1,
			ESP:           p2,
			IKELifetime:   tc.Phase1.Lifetime,
			ChildLifetime: tc.Phase2.Lifetime,
			DPDDelay:      dpdDelay,
			DPDTimeout:    tc.DPDTimeout,
			DPDAction:     tc.DPDTimeoutAction,
			LastInbound:   t.dp.LastInbound,
			RekeyMargin:   tc.RekeyMargin,
			RekeyFuzz:     tc.RekeyFuzz,
			StartupAction: tc.StartupAction,
		}, send, d.events, ike.SystemClock{}, randReader, t.log.With("component", "ikev1"))
	}
	if s.PeerASN != 0 {
		if err := d.addNeighbor(t); err != nil {
			return nil, err
		}
	}
	if tc.StartupAction == StartupStart {
		t.message = "initiating to the customer gateway"
		if err := t.initiate(); err != nil {
			return nil, err
		}
	}
	t.log.Info("tunnel ready",
		"startup_action", tc.StartupAction,
		"outside_ip", tc.OutsideIP, "customer_gateway", s.CGW, "dev", t.dev,
		"inside", netip.PrefixFrom(tc.VGWInsideAddr(), tc.InsideCIDR.Bits()), "ike_versions", tc.IKEVersions)
	return t, nil
}

// initiate brings the tunnel up from our side, with the newest IKE version
// it accepts (IKEv2 unless the tunnel is IKEv1-only).
func (t *tunnel) initiate() error {
	if t.v2 != nil {
		return t.v2.Initiate()
	}
	return t.v1.Initiate()
}

// rekey rekeys the tunnel's newest CHILD_SA, or its IKE SA, now.
func (t *tunnel) rekey(ikeSA bool) error {
	switch {
	case t.ikeVersion == ike.IKEv1 && t.v1 != nil:
		return t.v1.Rekey(ikeSA)
	case t.ikeVersion == ike.IKEv2 && t.v2 != nil:
		return t.v2.Rekey(ikeSA)
	}
	return fmt.Errorf("tunnel %s has no established IKE SA", t.name)
}

// stopTunnel stops a tunnel and forgets its BGP neighbor.
func (d *Daemon) stopTunnel(t *tunnel) {
	if t.bgp != nil && d.bgp != nil {
		if err := d.bgp.RemoveNeighbor(t.name); err != nil {
			t.log.Warn("removing BGP neighbor", "err", err)
		}
		t.bgp = nil
	}
	t.stop()
}

// stop deletes the tunnel's SAs politely, then closes its TUN and sockets.
// Routes through it are the caller's to recompute.
func (t *tunnel) stop() {
	if t.v1 != nil {
		t.v1.Close()
	}
	if t.v2 != nil {
		t.v2.Close()
	}
	if t.dp != nil {
		t.dp.Close()
	}
	if t.ep != nil {
		t.ep.Close()
	}
	clear(t.children)
}

// handleIKE runs on the endpoint's reader goroutine and hands the packet to
// the responder of its IKE version.
func (t *tunnel) handleIKE(pkt []byte, local, remote netip.AddrPort) {
	// Byte 17 of the ISAKMP/IKE header is the version: 0x10 IKEv1, 0x20 IKEv2.
	if len(pkt) < 28 {
		return
	}
	switch pkt[17] >> 4 {
	case 1:
		if t.v1 != nil {
			t.v1.HandlePacket(pkt, local, remote)
			return
		}
		t.refuse("IKEv1", remote)
	case 2:
		if t.v2 != nil {
			t.v2.HandlePacket(pkt, local, remote)
			return
		}
		t.refuse("IKEv2", remote)
	}
}

// refuse reports, at most every refuseEvery, that the peer speaks an IKE
// version this tunnel does not accept; the packet itself is dropped.
func (t *tunnel) refuse(version string, remote netip.AddrPort) {
	now := time.Now().UnixNano()
	last := t.refused.Load()
	if now-last < int64(refuseEvery) || !t.refused.CompareAndSwap(last, now) {
		return
	}
	reason := fmt.Sprintf("%s refused: the tunnel accepts ike_versions %v", version, t.setup.Tunnel.IKEVersions)
	t.log.Warn(reason, "from", remote)
	select {
	case t.events <- ike.NegotiationFailed{Tunnel: t.name, Reason: reason}:
	default:
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
