package gateway

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Status is what `vpgw status -o json` prints (DESIGN.md, "Status — the contract").
type Status struct {
	VPNConnections []ConnectionStatus `json:"vpn_connections"`
}

// ConnectionStatus is one VPN connection and its two tunnels.
type ConnectionStatus struct {
	Name            string         `json:"name"`
	CustomerGateway string         `json:"customer_gateway"`
	Routing         string         `json:"routing"`
	Tunnels         []TunnelStatus `json:"tunnels"`
}

// TunnelStatus mirrors AWS's VgwTelemetry for one tunnel.
type TunnelStatus struct {
	OutsideIP          string    `json:"outside_ip"`
	InsideCIDR         string    `json:"inside_cidr"`
	Status             string    `json:"status"` // UP | DOWN
	LastStatusChange   time.Time `json:"last_status_change"`
	StatusMessage      string    `json:"status_message"`
	AcceptedRouteCount int       `json:"accepted_route_count"`
	IKEVersion         string    `json:"ike_version"`
	Phase1State        string    `json:"phase1_state"` // NONE | ESTABLISHED: the IKE (ISAKMP) SA
	Phase2State        string    `json:"phase2_state"` // NONE | INSTALLED: CHILD (IPsec) SAs in the datapath
	NATT               bool      `json:"nat_t"`
	BytesIn            uint64    `json:"bytes_in"`
	BytesOut           uint64    `json:"bytes_out"`
}

// Tunnel states as AWS names them.
const (
	StateUp   = "UP"
	StateDown = "DOWN"
)

// WriteTable prints the status as an operator reads it on a terminal.
func (s *Status) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTION\tTUNNEL\tOUTSIDE IP\tINSIDE CIDR\tSTATUS\tIKE\tPHASE 1\tPHASE 2\tNAT-T\tROUTES\tBYTES IN\tBYTES OUT\tSINCE\tMESSAGE")
	for _, c := range s.VPNConnections {
		for i, t := range c.Tunnels {
			since := "-"
			if !t.LastStatusChange.IsZero() {
				since = t.LastStatusChange.UTC().Format(time.RFC3339)
			}
			ikev := t.IKEVersion
			if ikev == "" {
				ikev = "-"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n",
				c.Name, i+1, t.OutsideIP, t.InsideCIDR, t.Status, ikev, dash(t.Phase1State), dash(t.Phase2State), yesNo(t.NATT),
				t.AcceptedRouteCount, t.BytesIn, t.BytesOut, since, oneLine(t.StatusMessage))
		}
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
