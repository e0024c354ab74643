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
	mIKEPackets = prometheus.NewDesc("vpgw_tunnel_ike_packets_total",
		"IKE packets by what became of them (received, wrong_peer, malformed, unknown_spi, decrypt_failed, "+
			"cookies_sent, half_open_limit, ...), per IKE version.", append(tunnelLabels, "version", "counter"), nil)
	mBGPRoutes = prometheus.NewDesc("vpgw_tunnel_bgp_accepted_routes",
		"Prefixes accepted from the tunnel's BGP neighbor (dynamic routing).", tunnelLabels, nil)
)

// tunnelCounters are the daemon's own per-tunnel event counts.
type tunnelCounters struct {
	rekeys, dpdTimeouts uint64
}

type metricsCollector struct{ d *Daemon }

func (metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mTunnelState, mBytes, mPackets, mDrops, mIKESAs, mChildSAs, mRekeys, mDPDTimeouts, mIKEPackets, mBGPRoutes} {
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
	ike                              map[string]map[string]uint64 // version → counter → value
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
			s.ike = map[string]map[string]uint64{}
			if t.v1 != nil {
				st := t.v1.Status()
				s.ikeSAs += st.IKESAs
				c := st.Counters
				s.ike["ikev1"] = map[string]uint64{"received": c.Received, "wrong_peer": c.WrongPeer,
					"malformed": c.Malformed, "unknown_spi": c.UnknownSPI, "decrypt_failed": c.DecryptFailed,
					"unexpected": c.Unexpected, "refused": c.Refused, "retransmits": c.Retransmits,
					"send_errors": c.SendErrors, "half_open_limit": c.HalfOpenLimit, "half_open_evicted": c.HalfOpenEvicted}
			}
			if t.v2 != nil {
				st := t.v2.Status()
				s.ikeSAs += st.IKESAs
				c := st.Counters
				s.ike["ikev2"] = map[string]uint64{"received": c.Received, "wrong_peer": c.WrongPeer,
					"malformed": c.Malformed, "unknown_spi": c.UnknownSPI, "bad_message_id": c.BadMessageID,
					"decrypt_failed": c.DecryptFailed, "unexpected": c.Unexpected, "retransmits": c.Retransmits,
					"send_errors": c.SendErrors, "cookies_sent": c.CookiesSent, "bad_cookies": c.BadCookies,
					"half_open_limit": c.HalfOpenLimit, "half_open_evicted": c.HalfOpenEvicted}
			}
			if t.bgp != nil {
				s.bgpRoutes = len(t.bgp.routes)
			}
			if t.dp != nil {
				st := t.dp.Stats()
				s.bytesIn, s.bytesOut, s.pktIn, s.pktOut = st.BytesIn, st.BytesOut, st.PacketsIn, st.PacketsOut
				s.drops = st.Drops
				if t.ep != nil {
					// Packets the endpoint dropped before any SA (no_sa,
					// malformed) belong to this tunnel: one outside IP each.
					for k, v := range t.ep.Stats().Drops {
						s.drops[k] += v
					}
				}
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
		for version, cs := range s.ike {
			for name, v := range cs {
				counter(mIKEPackets, v, append(l, version, name)...)
			}
		}
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
