package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/gateway"
	"github.com/vpgw/vpgw/lab"
)

// dynamicTunnels makes both tunnels of the lab connection use BGP.
func dynamicConfig(dir string, t1, t2 tunnelOpts, staticRoutes string) string {
	cfg := labConfig(dir, lab.CGWWANIP, t1, t2)
	return strings.Replace(cfg, "    routing: static\n    static_routes: [172.16.0.0/24]\n",
		"    routing: dynamic\n    static_routes: ["+staticRoutes+"]\n", 1)
}

// bgpLab is a customer gateway running strongSwan and FRR (AS 65000)
// that announces 172.16.0.0/24 and 172.16.1.0/24 over both tunnels.
func bgpLab(t *testing.T, prefix string, frr lab.FRRConfig, staticRoutes string, t1extra ...string) (*lab.Lab, *vpgwInstance, *lab.FRR) {
	t.Helper()
	l := newLab(t, prefix, false)
	t1, t2 := defaultTunnels()
	t1.extra = append(t1.extra, t1extra...)
	t2.extra = append(t2.extra, "dpd_timeout: 30s")
	v := startVPGW(t, l, dynamicConfig(l.Dir()+"/vpgw", t1, t2, staticRoutes))
	// The customer gateway runs DPD too, as AWS asks of it: with
	// kernel-libipsec both tunnels' policies cover the same selectors, and
	// without DPD it would keep sending into a cut tunnel whose SAs it
	// still holds, whatever BGP says.
	cc := lab.BGPCustomerGatewayCharon(labPSK, labPSK2)
	cc.DPDDelay = 5 * time.Second
	ch, err := l.StartCharon(cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Stop() })
	logOnFailure(t, ch)
	fr, err := l.StartFRR(frr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FRR log:\n%s", fr.Log(4000))
		}
		fr.Stop()
	})
	return l, v, fr
}

func routeDev(routes, dst string) string {
	for _, line := range strings.Split(routes, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[0] == dst && strings.Contains(line, "proto 245") {
			for i := range f[:len(f)-1] {
				if f[i] == "dev" {
					return f[i+1]
				}
			}
		}
	}
	return ""
}

func (v *vpgwInstance) waitRoute(t *testing.T, dst, dev string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for routeDev(v.routes(), dst) != dev {
		if time.Since(start) > timeout {
			t.Fatalf("route %s not via %q within %v:\n%s", dst, dev, timeout, v.routes())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// TestBGPDynamicRouting: FRR on the customer gateway peers with vpgw's
// embedded GoBGP over both tunnels' inside addresses.
func TestBGPDynamicRouting(t *testing.T) {
	l, v, fr := bgpLab(t, "vpgw-e2ebgp", lab.BGPCustomerGatewayFRR(), "", "dpd_timeout: 30s", "dpd_timeout_action: restart")

	t.Run("established-routes-med-ping", func(t *testing.T) {
		for i := 1; i <= 2; i++ {
			st := v.waitTunnel(t, i, 60*time.Second, "UP with BGP Established and 2 routes", func(s gateway.TunnelStatus) bool {
				return isUp(s) && s.AcceptedRouteCount == 2
			})
			if st.StatusMessage != "" {
				t.Errorf("tunnel %d UP with message %q", i, st.StatusMessage)
			}
		}
		for _, p := range []string{lab.OnpremCIDR, lab.OnpremCIDR2} {
			v.waitRoute(t, p, "vpn-1-t1", 5*time.Second)
		}
		if err := fr.WaitRoute(lab.VPCCIDR, 15*time.Second, func(ps []lab.BGPPath) bool { return len(ps) == 2 }); err != nil {
			t.Fatal(err)
		}
		p1, ok1, _ := fr.PathFrom(lab.VPCCIDR, lab.Tunnel1VGWInside)
		p2, ok2, _ := fr.PathFrom(lab.VPCCIDR, lab.Tunnel2VGWInside)
		if !ok1 || !ok2 || !p1.HasMED || !p2.HasMED || p1.MED >= p2.MED {
			t.Errorf("FRR's paths to the VPC: via t1 %+v, via t2 %+v; want the preferred tunnel 1 with the lower MED", p1, p2)
		}
		if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
			t.Fatalf("VPC → on-prem: %v", err)
		}
		if err := l.Ping(lab.RoleOnprem, lab.VPCIP, 3); err != nil {
			t.Errorf("on-prem → VPC: %v", err)
		}
	})

	t.Run("withdraw", func(t *testing.T) {
		if err := fr.Withdraw(lab.OnpremCIDR2); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for routeDev(v.routes(), lab.OnpremCIDR2) != "" {
			if time.Since(start) > 2*time.Second {
				t.Fatalf("withdrawn %s still in the kernel after 2 s:\n%s", lab.OnpremCIDR2, v.routes())
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("FRR withdrew %s: kernel route gone after %v", lab.OnpremCIDR2, time.Since(start).Round(time.Millisecond))
		if st := v.tunnel(t, 1); st.AcceptedRouteCount != 1 {
			t.Errorf("accepted_route_count after the withdrawal = %d, want 1", st.AcceptedRouteCount)
		}
	})

	t.Run("failover-without-hold-timer", func(t *testing.T) {
		if err := l.Cut(lab.VGWOutside1); err != nil {
			t.Fatal(err)
		}
		cut := time.Now()
		// DPD's verdict (10 s without a sign of life, then 3 unanswered
		// retransmits: about 31 s) and the BGP hold timer (30 s after the
		// last keepalive, sent every 10 s) end at about the same time:
		// whichever comes first takes the tunnel DOWN and moves the routes
		// at once; DPD must then remove the IPsec SAs in any case.
		st := v.waitTunnel(t, 1, 60*time.Second, "DOWN", isDown)
		down := time.Now()
		lag := v.waitRoute(t, lab.OnpremCIDR, "vpn-1-t2", 5*time.Second)
		t.Logf("tunnel 1 cut: DOWN after %v (%s); route on tunnel 2 %v after that",
			down.Sub(cut).Round(100*time.Millisecond), st.StatusMessage, lag.Round(time.Millisecond))
		if lag > 2*time.Second {
			t.Errorf("routes moved %v after tunnel 1 went DOWN, want at once", lag)
		}
		v.waitTunnel(t, 1, 60*time.Second, "IPsec SAs removed by DPD", func(s gateway.TunnelStatus) bool {
			return isDown(s) && strings.Contains(s.StatusMessage, "DPD") && s.Phase2State == "NONE"
		})
		if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
			t.Errorf("VPC → on-prem over tunnel 2: %v", err)
		}
		if err := l.Restore(); err != nil {
			t.Fatal(err)
		}
		v.waitTunnel(t, 1, 90*time.Second, "UP again with BGP", isUp)
		v.waitRoute(t, lab.OnpremCIDR, "vpn-1-t1", 5*time.Second)
	})

	t.Run("prefix-limit", func(t *testing.T) {
		cmds := []string{"configure terminal", fmt.Sprintf("router bgp %d", lab.CGWASN), "address-family ipv4 unicast"}
		for i := 0; i < 101; i++ {
			cmds = append(cmds, fmt.Sprintf("network 192.168.%d.0/24", i))
		}
		if _, err := fr.Vtysh(cmds...); err != nil {
			t.Fatal(err)
		}
		v.waitTunnel(t, 1, 30*time.Second, "reset by the prefix limit", func(s gateway.TunnelStatus) bool {
			return isDown(s) && strings.Contains(s.StatusMessage, "prefix limit 100 exceeded")
		})
	})
}

// TestBGPStaticBeatsBGP: for the same prefix a static route wins over BGP;
// between BGP paths the shorter AS_PATH wins over the preferred tunnel.
func TestBGPStaticBeatsBGP(t *testing.T) {
	frr := lab.BGPCustomerGatewayFRR()
	frr.Neighbors[0].Prepend = 2 // tunnel 1's paths get a longer AS_PATH
	_, v, _ := bgpLab(t, "vpgw-e2ebgps", frr, lab.OnpremCIDR2)
	v.waitTunnel(t, 1, 60*time.Second, "UP", isUp)
	v.waitTunnel(t, 2, 60*time.Second, "UP", isUp)
	v.waitRoute(t, lab.OnpremCIDR, "vpn-1-t2", 10*time.Second) // BGP: shorter AS_PATH via tunnel 2
	v.waitRoute(t, lab.OnpremCIDR2, "vpn-1-t1", 5*time.Second) // static (preferred tunnel 1) beats BGP
}
