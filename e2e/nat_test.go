package e2e

import (
	"testing"
	"time"

	"github.com/vpgw/vpgw/gateway"
	"github.com/vpgw/vpgw/lab"
)

// TestIKEv2BehindNAT puts the customer gateway behind an nftables
// masquerade: vpgw sees it at the NAT device's address (its configured
// customer gateway ip, as AWS's guide says) and both tunnels carry traffic.
func TestIKEv2BehindNAT(t *testing.T) {
	l := newLab(t, "vpgw-e2enat", true)
	t1, t2 := defaultTunnels()
	v := startVPGW(t, l, labConfig(l.Dir()+"/vpgw", l.CGWPublicIP(), t1, t2))
	ch, err := l.StartCharon(lab.CharonConfig{
		Name: "cgw",
		Connections: []lab.CharonConn{
			{Name: "t1", RemoteAddr: lab.VGWOutside1, PSK: labPSK},
			{Name: "t2", RemoteAddr: lab.VGWOutside2, PSK: labPSK2},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	logOnFailure(t, ch)
	for idx := 1; idx <= 2; idx++ {
		st := v.waitTunnel(t, idx, 30*time.Second, "UP", func(s gateway.TunnelStatus) bool { return s.Status == gateway.StateUp })
		if !st.NATT {
			t.Errorf("tunnel %d behind NAT: nat_t = false", idx)
		}
	}
	if !hasRoute(v.routes(), "172.16.0.0/24", "vpn-1-t1") {
		t.Fatalf("with both tunnels UP the route must use tunnel 1:\n%s", v.routes())
	}
	if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
		t.Fatalf("VPC → on-prem through the NAT: %v", err)
	}
	if err := l.Ping(lab.RoleOnprem, lab.VPCIP, 5); err != nil {
		t.Errorf("on-prem → VPC through the NAT: %v", err)
	}

	// Tunnel 1 goes away: the route moves to tunnel 2 and traffic follows.
	if err := ch.Terminate("t1"); err != nil {
		t.Fatal(err)
	}
	v.waitTunnel(t, 1, 10*time.Second, "DOWN", func(s gateway.TunnelStatus) bool { return s.Status == gateway.StateDown })
	if routes := v.routes(); !hasRoute(routes, "172.16.0.0/24", "vpn-1-t2") || hasRoute(routes, "172.16.0.0/24", "vpn-1-t1") {
		t.Fatalf("after tunnel 1 went DOWN the route must use tunnel 2 only:\n%s", routes)
	}
	if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
		t.Fatalf("VPC → on-prem over tunnel 2: %v", err)
	}
}
