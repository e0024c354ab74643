package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/types/known/anypb"
)

// Export policy. GoBGP keeps one export policy for all ordinary (non route
// server) neighbors, so per-neighbor MEDs are statements matching on a
// neighbor set:
//
//	policy vpgw-export, assigned to global export, default reject:
//	  statement per neighbor: prefix in vpgw-vpc AND neighbor in vpgw-nbr-<addr>
//	                          -> set MED <n.MED>, accept
//
// Everything else is rejected: only the VPC CIDRs are advertised, and routes
// learned from one tunnel never leak to another neighbor. Import takes
// GoBGP's default (accept all), bounded by each neighbor's prefix limit.
const (
	exportPolicy  = "vpgw-export"
	vpcPrefixSet  = "vpgw-vpc"
	neighborSetPf = "vpgw-nbr-"
)

var ipv4Unicast = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}

// exportPolicies builds the whole routing policy for the given neighbors
// (sorted by peer address, so the result is deterministic).
func exportPolicies(vpc []netip.Prefix, neighbors []Neighbor) *api.SetPoliciesRequest {
	prefixes := make([]*api.Prefix, 0, len(vpc))
	for _, p := range vpc {
		prefixes = append(prefixes, &api.Prefix{
			IpPrefix:      p.String(),
			MaskLengthMin: uint32(p.Bits()),
			MaskLengthMax: uint32(p.Bits()),
		})
	}
	sets := []*api.DefinedSet{{DefinedType: api.DefinedType_PREFIX, Name: vpcPrefixSet, Prefixes: prefixes}}
	policy := &api.Policy{Name: exportPolicy}

	ns := slices.Clone(neighbors)
	slices.SortFunc(ns, func(a, b Neighbor) int { return a.Peer.Compare(b.Peer) })
	for _, n := range ns {
		set := neighborSetName(n.Peer)
		sets = append(sets, &api.DefinedSet{
			DefinedType: api.DefinedType_NEIGHBOR,
			Name:        set,
			List:        []string{netip.PrefixFrom(n.Peer, 32).String()},
		})
		policy.Statements = append(policy.Statements, &api.Statement{
			Name: "vpgw-out-" + addrName(n.Peer),
			Conditions: &api.Conditions{
				PrefixSet:   &api.MatchSet{Type: api.MatchSet_ANY, Name: vpcPrefixSet},
				NeighborSet: &api.MatchSet{Type: api.MatchSet_ANY, Name: set},
			},
			Actions: &api.Actions{
				RouteAction: api.RouteAction_ACCEPT,
				Med:         &api.MedAction{Type: api.MedAction_REPLACE, Value: int64(n.MED)},
			},
		})
	}
	return &api.SetPoliciesRequest{DefinedSets: sets, Policies: []*api.Policy{policy}}
}

func neighborSetName(a netip.Addr) string { return neighborSetPf + addrName(a) }

func addrName(a netip.Addr) string { return strings.ReplaceAll(a.String(), ".", "-") }

// installPolicy replaces GoBGP's routing policy with exportPolicies for ns.
// The global export assignment refers to the policy by name, so it survives
// the replacement; first marks the call that creates it.
func (s *Server) installPolicy(ctx context.Context, ns []Neighbor, first bool) error {
	if err := s.bgp.SetPolicies(ctx, exportPolicies(s.cfg.VPCCIDRs, ns)); err != nil {
		return fmt.Errorf("bgp: set export policy: %w", err)
	}
	if !first {
		return nil
	}
	err := s.bgp.AddPolicyAssignment(ctx, &api.AddPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name:          "global",
		Direction:     api.PolicyDirection_EXPORT,
		Policies:      []*api.Policy{{Name: exportPolicy}},
		DefaultAction: api.RouteAction_REJECT,
	}})
	if err != nil {
		return fmt.Errorf("bgp: assign export policy: %w", err)
	}
	return nil
}

// originateVPC puts the VPC CIDRs into GoBGP's global RIB as locally
// originated paths (origin IGP, next hop self), for the export policy to
// hand out.
func (s *Server) originateVPC(ctx context.Context) error {
	for _, p := range s.cfg.VPCCIDRs {
		nlri, err := anypb.New(&api.IPAddressPrefix{Prefix: p.Addr().String(), PrefixLen: uint32(p.Bits())})
		if err != nil {
			return err
		}
		origin, err := anypb.New(&api.OriginAttribute{Origin: 0}) // IGP
		if err != nil {
			return err
		}
		nh, err := anypb.New(&api.NextHopAttribute{NextHop: "0.0.0.0"}) // rewritten to the session's local address
		if err != nil {
			return err
		}
		_, err = s.bgp.AddPath(ctx, &api.AddPathRequest{
			TableType: api.TableType_GLOBAL,
			Path:      &api.Path{Family: ipv4Unicast, Nlri: nlri, Pattrs: []*anypb.Any{origin, nh}},
		})
		if err != nil {
			return fmt.Errorf("bgp: originate %v: %w", p, err)
		}
	}
	return nil
}
