package gateway

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// RoutesReport is what `vpgw routes` prints: the routes vpgw wants in the
// kernel for the tunnels' current states, and whether each is installed.
// With route_propagation off nothing is installed, but the report still
// shows what would be.
type RoutesReport struct {
	RoutePropagation bool          `json:"route_propagation"`
	Table            int           `json:"route_table"`
	Routes           []RouteStatus `json:"routes"`
}

// RouteStatus is one propagated route.
type RouteStatus struct {
	Destination string `json:"destination"`
	Device      string `json:"device"`
	Connection  string `json:"connection"`
	Tunnel      int    `json:"tunnel"`
	Installed   bool   `json:"installed"`
}

// Routes reports the desired routes, computed on the owner goroutine.
func (d *Daemon) Routes() *RoutesReport {
	r := &RoutesReport{Routes: []RouteStatus{}}
	d.do(func() {
		r.RoutePropagation, r.Table = d.cfg.Gateway.RoutePropagation, d.cfg.Gateway.RouteTable
		installed := map[string]bool{}
		if have, err := d.routes.List(); err == nil {
			for _, h := range have {
				installed[h.Dst.String()+" "+h.Dev] = true
			}
		}
		byDev := map[string]*tunnel{}
		for _, t := range d.tunnels {
			byDev[t.dev] = t
		}
		for _, rt := range d.desiredRoutes(true) {
			rs := RouteStatus{Destination: rt.Dst.String(), Device: rt.Dev, Installed: installed[rt.Dst.String()+" "+rt.Dev]}
			if t := byDev[rt.Dev]; t != nil {
				rs.Connection, rs.Tunnel = t.setup.Conn, t.setup.Index
			}
			r.Routes = append(r.Routes, rs)
		}
	})
	return r
}

// WriteTable prints the report for a terminal.
func (r *RoutesReport) WriteTable(w io.Writer) error {
	state := "on"
	if !r.RoutePropagation {
		state = "off: routes below are NOT installed"
	}
	fmt.Fprintf(w, "route table %d, route propagation %s\n", r.Table, state)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DESTINATION\tDEVICE\tCONNECTION\tTUNNEL\tINSTALLED")
	for _, rt := range r.Routes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", rt.Destination, rt.Device, rt.Connection, rt.Tunnel, yesNo(rt.Installed))
	}
	return tw.Flush()
}
