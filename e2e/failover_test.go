package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/gateway"
	"github.com/vpgw/vpgw/lab"
)

const labDPDTimeout = 30 * time.Second

// twoTunnelCharon is a customer gateway holding two connections, one to
// each vpgw outside address, brought up in order t1 then t2 (so t2 is the
// newest CHILD_SA, the one strongSwan sends on). It never initiates again by
// itself: only vpgw can bring a cleared tunnel back.
func twoTunnelCharon(name string, version int) lab.CharonConfig {
	return lab.CharonConfig{
		Name: name, IKEVersion: version, PSK: labPSK,
		Connections: []lab.CharonConn{
			{Name: "t1", RemoteAddr: lab.VGWOutside1, PSK: labPSK},
			{Name: "t2", RemoteAddr: lab.VGWOutside2, PSK: labPSK2},
		},
		StartAction: "none", DPDAction: "clear", Initiate: true,
		DPDDelay: 10 * time.Second, DPDTimeout: labDPDTimeout,
	}
}

// TestFailoverOnDeadPeer cuts tunnel 1 in the WAN while the VPC pings
// on-prem: vpgw's dead peer detection must move the route to tunnel 2 within
// dpd_timeout + 1 s of the last reply, and when the link returns vpgw
// (dpd_timeout_action: restart) brings tunnel 1 back and the route with it.
func TestFailoverOnDeadPeer(t *testing.T) {
	l := newLab(t, "vpgw-e2efo", false)
	t1, t2 := defaultTunnels()
	t1.extra = append(t1.extra, "dpd_timeout: 30s", "dpd_timeout_action: restart")
	t2.extra = append(t2.extra, "dpd_timeout: 30s")
	v := startVPGW(t, l, labConfig(l.Dir()+"/vpgw", lab.CGWWANIP, t1, t2))
	ch, err := l.StartCharon(twoTunnelCharon("cgw", 2))
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	logOnFailure(t, ch)
	v.waitTunnel(t, 1, 30*time.Second, "UP", isUp)
	v.waitTunnel(t, 2, 30*time.Second, "UP", isUp)
	if !hasRoute(v.routes(), "172.16.0.0/24", "vpn-1-t1") {
		t.Fatalf("both tunnels UP: the route must use tunnel 1:\n%s", v.routes())
	}
	if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	pg := startPing(t, l, lab.RoleVPC, lab.OnpremIP, 200*time.Millisecond)
	time.Sleep(2 * time.Second)
	if err := l.Cut(lab.VGWOutside1); err != nil {
		t.Fatal(err)
	}
	st := v.waitTunnel(t, 1, labDPDTimeout+20*time.Second, "DOWN by DPD", func(s gateway.TunnelStatus) bool {
		return isDown(s) && strings.Contains(s.StatusMessage, "DPD")
	})
	t.Logf("tunnel 1: %s", st.StatusMessage)
	if routes := v.routes(); !hasRoute(routes, "172.16.0.0/24", "vpn-1-t2") || hasRoute(routes, "172.16.0.0/24", "vpn-1-t1") {
		t.Fatalf("tunnel 1 dead: the route must use tunnel 2 only:\n%s", routes)
	}
	time.Sleep(3 * time.Second)
	sent, received, gap := pg.stopWithGap(t)
	t.Logf("failover: longest gap between replies %v (dpd_timeout %v); %d sent, %d received", gap.Round(10*time.Millisecond), labDPDTimeout, sent, received)
	if gap > labDPDTimeout+time.Second {
		t.Errorf("replies resumed %v after the last one, want within dpd_timeout + 1 s = %v", gap, labDPDTimeout+time.Second)
	}
	if err := l.Ping(lab.RoleVPC, lab.OnpremIP, 3); err != nil {
		t.Errorf("after failover: %v", err)
	}

	// The link returns; strongSwan cleared t1 and will not initiate, so
	// tunnel 1 comes back only through vpgw's restart.
	if err := l.Restore(); err != nil {
		t.Fatal(err)
	}
	v.waitTunnel(t, 1, 60*time.Second, "UP again", isUp)
	if routes := v.routes(); !hasRoute(routes, "172.16.0.0/24", "vpn-1-t1") || hasRoute(routes, "172.16.0.0/24", "vpn-1-t2") {
		t.Fatalf("tunnel 1 back: the route must return to it:\n%s", routes)
	}
	if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
		t.Errorf("after tunnel 1 returned: %v", err)
	}
}

// TestDPDActionNoneKeepsSAs: with dpd_timeout_action none a dead peer is
// reported but its SAs stay installed and the tunnel stays UP.
func TestDPDActionNoneKeepsSAs(t *testing.T) {
	l := newLab(t, "vpgw-e2enone", false)
	t1, t2 := defaultTunnels()
	t1.extra = append(t1.extra, "dpd_timeout: 30s", "dpd_timeout_action: none")
	v := startVPGW(t, l, labConfig(l.Dir()+"/vpgw", lab.CGWWANIP, t1, t2))
	c := twoTunnelCharon("cgw", 2)
	c.Connections = c.Connections[:1]
	ch, err := l.StartCharon(c)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	logOnFailure(t, ch)
	since := v.waitTunnel(t, 1, 30*time.Second, "UP", isUp).LastStatusChange
	if err := l.Cut(lab.VGWOutside1); err != nil {
		t.Fatal(err)
	}
	st := v.waitTunnel(t, 1, labDPDTimeout+20*time.Second, "reported dead", func(s gateway.TunnelStatus) bool {
		return strings.Contains(s.StatusMessage, "DPD")
	})
	if st.Status != gateway.StateUp || st.Phase2State != "INSTALLED" || !st.LastStatusChange.Equal(since) {
		t.Errorf("dpd_timeout_action none: status %+v, want still UP with its SAs", st)
	}
	if !hasRoute(v.routes(), "172.16.0.0/24", "vpn-1-t1") {
		t.Errorf("dpd_timeout_action none: route removed:\n%s", v.routes())
	}
}
