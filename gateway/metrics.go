package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The metrics follow CloudWatch's VPN metrics (TunnelState, TunnelDataIn,
// TunnelDataOut) plus what an operator of vpgw needs besides. They are
// computed from a snapshot at scrape time, so the packet path carries no
// instrumentation of its own beyond esp's counters. Tunnels that are DOWN
// still export their series (state 0); they never vanish.

var tunnelLabels = []string{"connection", "tunnel", "outside_ip"}

var (
	mTunnelState = prometheus.NewDesc("vpgw_tunnel_state",
		"1 when the tunnel is UP (CloudWatch TunnelState), else 0.", tunnelLabels, nil)
	mBytes = prometheus.NewDesc("vpgw_tunnel_bytes_total",
		"Inner bytes: direction in = received after decryption, out = sent before encryption.",
		append(tunnelLabels, "direction"), nil)
	mPackets = prometheus.NewDesc("vpgw_tunnel_packets_total",
		"Inner packets by direction.", append(tunnelLabels, "direction"), nil)
	mDrops = prometheus.NewDesc("vpgw_tunnel_drops_total",
		"Packets dropped by the tunnel's datapath, by reason.", append(tunnelLabels, "reason"), nil)
	mIKESAs = prometheus.NewDesc("vpgw_tunnel_ike_sas",
		"Established IKE (ISAKMP) SAs.", tunnelLabels, nil)
	mChildSAs = prometheus.NewDesc("vpgw_tunnel_child_sas",
		"Installed CHILD (IPsec) SAs.", tunnelLabels, nil)
	mRekeys = prometheus.NewDesc("vpgw_tunnel_rekeys_total",
		"CHILD_SAs installed while another one was already up (rekeys, either side).", tunnelLabels, nil)
	mDPDTimeouts = prometheus.NewDesc("vpgw_tunnel_dpd_timeouts_total",
		"Times dead peer detection declared the customer gateway dead.", tunnelLabels, nil)
	mBGPRoutes = prometheus.NewDesc("vpgw_tunnel_bgp_accepted_routes",
		"Prefixes accepted from the tunnel's BGP neighbor (dynamic routing).", tunnelLabels, nil)
)

// tunnelCounters are the daemon's own per-tunnel event counts.
type tunnelCounters struct {
	rekeys, dpdTimeouts uint64
}

type metricsCollector struct{ d *Daemon }

func (metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mTunnelState, mBytes, mPackets, mDrops, mIKESAs, mChildSAs, mRekeys, mDPDTimeouts, mBGPRoutes} {
		ch <- d
	}
}

// tunnelSample is one tunnel's numbers, taken on the loop goroutine.
type tunnelSample struct {
	labels                           []string
	up                               bool
	ikeSAs, childSAs, bgpRoutes      int
	counters                         tunnelCounters
	bytesIn, bytesOut, pktIn, pktOut uint64
	drops                            map[string]uint64
}

func (c metricsCollector) Collect(ch chan<- prometheus.Metric) {
	var samples []tunnelSample
	c.d.do(func() {
		for _, t := range c.d.tunnels {
			s := tunnelSample{
				labels:   []string{t.setup.Conn, strconv.Itoa(t.setup.Index), t.setup.Tunnel.OutsideIP.String()},
				up:       t.state == StateUp,
				childSAs: len(t.children),
				counters: t.counters,
			}
			if t.v1 != nil {
				s.ikeSAs += t.v1.Status().IKESAs
			}
			if t.v2 != nil {
				s.ikeSAs += t.v2.Status().IKESAs
			}
			if t.bgp != nil {
				s.bgpRoutes = len(t.bgp.routes)
			}
			if t.dp != nil {
				st := t.dp.Stats()
				s.bytesIn, s.bytesOut, s.pktIn, s.pktOut = st.BytesIn, st.BytesOut, st.PacketsIn, st.PacketsOut
				s.drops = st.Drops
			}
			samples = append(samples, s)
		}
	})
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	for _, s := range samples {
		l := s.labels
		up := 0.0
		if s.up {
			up = 1
		}
		gauge(mTunnelState, up, l...)
		counter(mBytes, s.bytesIn, append(l, "in")...)
		counter(mBytes, s.bytesOut, append(l, "out")...)
		counter(mPackets, s.pktIn, append(l, "in")...)
		counter(mPackets, s.pktOut, append(l, "out")...)
		for reason, n := range s.drops {
			counter(mDrops, n, append(l, reason)...)
		}
		gauge(mIKESAs, float64(s.ikeSAs), l...)
		gauge(mChildSAs, float64(s.childSAs), l...)
		counter(mRekeys, s.counters.rekeys, l...)
		counter(mDPDTimeouts, s.counters.dpdTimeouts, l...)
		gauge(mBGPRoutes, float64(s.bgpRoutes), l...)
	}
}

// metricsServer serves /metrics on gateway.metrics_listen.
type metricsServer struct{ srv *http.Server }

func listenMetrics(addr string, d *Daemon, log *slog.Logger) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metricsCollector{d})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m := &metricsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics on http://" + ln.Addr().String() + "/metrics")
	return m, nil
}

func (m *metricsServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return m.srv.Shutdown(ctx)
}
