package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	api "github.com/osrg/gobgp/v3/api"
)

// Neighbor is the customer gateway's BGP speaker at the far end of one
// tunnel.
type Neighbor struct {
	Tunnel  string     // vpgw's tunnel name, e.g. "vpn-1/1"; names the events
	Local   netip.Addr // the gateway's inside address (.1 of the /30)
	Peer    netip.Addr // the customer gateway's inside address (.2)
	PeerASN uint32
	MED     uint32 // sent with the VPC CIDRs; lower is preferred
}

func (n Neighbor) String() string {
	return fmt.Sprintf("%s: %v -> %v AS%d (MED %d)", n.Tunnel, n.Local, n.Peer, n.PeerASN, n.MED)
}

func (s *Server) checkNeighbor(n Neighbor) error {
	switch {
	case n.Tunnel == "":
		return fmt.Errorf("bgp: neighbor %v: tunnel name is required", n.Peer)
	case !n.Local.Is4() || !n.Peer.Is4():
		return fmt.Errorf("bgp: neighbor %s: local %v and peer %v must be IPv4 addresses", n.Tunnel, n.Local, n.Peer)
	case n.Local == n.Peer:
		return fmt.Errorf("bgp: neighbor %s: local and peer address are both %v", n.Tunnel, n.Peer)
	case n.PeerASN == 0:
		return fmt.Errorf("bgp: neighbor %s: peer ASN is required", n.Tunnel)
	case n.PeerASN == s.cfg.ASN:
		return fmt.Errorf("bgp: neighbor %s: peer ASN %d equals the gateway's; only eBGP is supported", n.Tunnel, n.PeerASN)
	}
	return nil
}

// AddNeighbor configures the neighbor of a tunnel and starts connecting to
// it: vpgw opens the TCP session from n.Local to n.Peer port 179 (TTL 1,
// retried every ConnectRetry). The neighbor is sent the VPC CIDRs with
// n.MED and may advertise up to MaxPrefixes IPv4 unicast prefixes; one more
// resets the session (Reason "prefix limit N exceeded") for
// PrefixLimitRetry.
func (s *Server) AddNeighbor(n Neighbor) error {
	if err := s.checkNeighbor(n); err != nil {
		return err
	}
	s.apiMu.Lock()
	defer s.apiMu.Unlock()

	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return fmt.Errorf("bgp: add neighbor %s: server closed", n.Tunnel)
	case s.byName[n.Tunnel] != nil:
		s.mu.Unlock()
		return fmt.Errorf("bgp: neighbor %s already exists", n.Tunnel)
	case s.byPeer[n.Peer] != nil:
		s.mu.Unlock()
		return fmt.Errorf("bgp: neighbor %s: peer %v is already the neighbor of %s", n.Tunnel, n.Peer, s.byPeer[n.Peer].Tunnel)
	}
	nb := &neighbor{Neighbor: n, state: "Idle"}
	s.byName[n.Tunnel] = nb
	s.byPeer[n.Peer] = nb
	ns := s.neighborsLocked()
	s.mu.Unlock()

	err := s.installPolicy(s.ctx, ns, false)
	if err == nil {
		err = s.bgp.AddPeer(s.ctx, &api.AddPeerRequest{Peer: s.peerConfig(n)})
		if err != nil {
			err = fmt.Errorf("bgp: add neighbor %s: %w", n.Tunnel, err)
		}
	}
	if err != nil {
		s.mu.Lock()
		delete(s.byName, n.Tunnel)
		delete(s.byPeer, n.Peer)
		ns = s.neighborsLocked()
		s.mu.Unlock()
		_ = s.installPolicy(s.ctx, ns, false)
		return err
	}
	s.log.Info("bgp neighbor added", "tunnel", n.Tunnel, "local", n.Local, "peer", n.Peer, "peer_asn", n.PeerASN, "med", n.MED)
	return nil
}

func (s *Server) peerConfig(n Neighbor) *api.Peer {
	return &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: n.Peer.String(),
			PeerAsn:         n.PeerASN,
			Description:     n.Tunnel,
		},
		Transport: &api.Transport{LocalAddress: n.Local.String()},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:      seconds(s.cfg.ConnectRetry),
			HoldTime:          seconds(s.cfg.HoldTime),
			KeepaliveInterval: seconds(s.cfg.KeepaliveInterval),
		}},
		AfiSafis: []*api.AfiSafi{{
			Config:       &api.AfiSafiConfig{Family: ipv4Unicast, Enabled: true},
			PrefixLimits: &api.PrefixLimit{Family: ipv4Unicast, MaxPrefixes: uint32(s.cfg.MaxPrefixes)},
		}},
	}
}

func seconds(d time.Duration) uint64 { return uint64(d / time.Second) }

// lockNeighbor takes s.mu and returns tunnel's neighbor with s.mu held, or
// an error with it released.
func (s *Server) lockNeighbor(tunnel string) (*neighbor, error) {
	s.mu.Lock()
	if nb := s.byName[tunnel]; nb != nil {
		return nb, nil
	}
	s.mu.Unlock()
	return nil, fmt.Errorf("bgp: no neighbor %s", tunnel)
}

// SetNeighborMED changes the MED sent with the VPC CIDRs to a tunnel's
// neighbor (e.g. when the preferred tunnel changes) and re-advertises them
// at once if the session is established.
func (s *Server) SetNeighborMED(tunnel string, med uint32) error {
	s.apiMu.Lock()
	defer s.apiMu.Unlock()
	nb, err := s.lockNeighbor(tunnel)
	if err != nil {
		return err
	}
	if nb.MED == med {
		s.mu.Unlock()
		return nil
	}
	old := nb.MED
	nb.MED = med
	ns := s.neighborsLocked()
	s.mu.Unlock()

	if err := s.installPolicy(s.ctx, ns, false); err != nil {
		s.mu.Lock()
		nb.MED = old
		s.mu.Unlock()
		return err
	}
	err = s.bgp.ResetPeer(s.ctx, &api.ResetPeerRequest{
		Address:   nb.Peer.String(),
		Soft:      true,
		Direction: api.ResetPeerRequest_OUT,
	})
	if err != nil {
		return fmt.Errorf("bgp: re-advertise to %s: %w", tunnel, err)
	}
	s.log.Info("bgp neighbor MED changed", "tunnel", tunnel, "med", med, "previous_med", old)
	return nil
}

// DisableNeighbor shuts a tunnel's session down administratively (a Cease/
// Administrative Shutdown NOTIFICATION carrying reason, RFC 8203) and keeps
// it down until EnableNeighbor. Call it when the tunnel goes DOWN: the
// neighbor's routes are dropped at once (a SessionState with Reason
// "administratively down: <reason>" and an empty RoutesChanged follow,
// unless the session was already idle).
func (s *Server) DisableNeighbor(tunnel, reason string) error {
	s.apiMu.Lock()
	defer s.apiMu.Unlock()
	nb, err := s.lockNeighbor(tunnel)
	if err != nil {
		return err
	}
	nb.disabled = true
	nb.adminDown = reason
	nb.stopRetry()
	if !nb.established {
		nb.reason = adminDownReason(reason)
	}
	s.mu.Unlock()

	err = s.bgp.DisablePeer(s.ctx, &api.DisablePeerRequest{Address: nb.Peer.String(), Communication: reason})
	if err != nil {
		return fmt.Errorf("bgp: disable neighbor %s: %w", tunnel, err)
	}
	return nil
}

// EnableNeighbor lets a disabled neighbor (or one waiting out a prefix-limit
// shutdown) connect again. GoBGP waits its idle hold time (5 s) before the
// first attempt.
func (s *Server) EnableNeighbor(tunnel string) error {
	s.apiMu.Lock()
	defer s.apiMu.Unlock()
	nb, err := s.lockNeighbor(tunnel)
	if err != nil {
		return err
	}
	nb.disabled = false
	nb.adminDown = ""
	nb.stopRetry()
	if strings.HasPrefix(nb.reason, reasonAdminDown) {
		nb.reason = ""
	}
	s.mu.Unlock()

	if err := s.bgp.EnablePeer(s.ctx, &api.EnablePeerRequest{Address: nb.Peer.String()}); err != nil {
		return fmt.Errorf("bgp: enable neighbor %s: %w", tunnel, err)
	}
	return nil
}

// RemoveNeighbor deletes a tunnel's neighbor (a Cease/Peer De-configured
// NOTIFICATION if established). No events for the tunnel are produced after
// it returns, though some may still be queued in Events: the caller drops
// the tunnel's routes itself.
func (s *Server) RemoveNeighbor(tunnel string) error {
	s.apiMu.Lock()
	defer s.apiMu.Unlock()
	nb, err := s.lockNeighbor(tunnel)
	if err != nil {
		return err
	}
	nb.stopRetry()
	delete(s.byName, tunnel)
	delete(s.byPeer, nb.Peer)
	ns := s.neighborsLocked()
	s.mu.Unlock()

	err = s.bgp.DeletePeer(s.ctx, &api.DeletePeerRequest{Address: nb.Peer.String()})
	if err != nil {
		err = fmt.Errorf("bgp: remove neighbor %s: %w", tunnel, err)
	}
	if perr := s.installPolicy(s.ctx, ns, false); err == nil {
		err = perr
	}
	s.log.Info("bgp neighbor removed", "tunnel", tunnel, "peer", nb.Peer)
	return err
}

// neighborsLocked lists the configured neighbors, sorted by tunnel name.
func (s *Server) neighborsLocked() []Neighbor {
	ns := make([]Neighbor, 0, len(s.byName))
	for _, nb := range s.byName {
		ns = append(ns, nb.Neighbor)
	}
	slices.SortFunc(ns, func(a, b Neighbor) int { return strings.Compare(a.Tunnel, b.Tunnel) })
	return ns
}
