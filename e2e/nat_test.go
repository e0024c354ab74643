package e2e

import (
	"fmt"
	"strings"
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

// cgwConfig is a second vpgw as the customer gateway: tunnels on
// 198.51.100.2 and .3, peer 203.0.113.2 (tunnel 1's), tunnel 1 initiating
// with extra options.
func cgwConfig(dir string, extra ...string) string {
	t1 := "        startup_action: start\n"
	for _, e := range extra {
		t1 += "        " + e + "\n"
	}
	return fmt.Sprintf(`gateway:
  name: cgw-lab
  asn: 65000
  vpc_cidrs: [172.16.0.0/24]
  route_table: 254
  state_dir: %[1]s/state
  control_socket: %[1]s/vpgw.sock
  metrics_listen: 127.0.0.1:9478
customer_gateways:
  - name: vgw
    ip: %[2]s
    bgp_asn: 64512
vpn_connections:
  - name: vpn-1
    customer_gateway: vgw
    routing: static
    static_routes: [10.0.0.0/16]
    tunnels:
      - outside_ip: %[3]s
        inside_cidr: 169.254.10.0/30
        psk: %[4]s
%[5]s      - outside_ip: 198.51.100.3
        inside_cidr: 169.254.11.0/30
        psk: %[6]s
`, dir, lab.VGWOutside1, lab.CGWWANIP, labPSK, t1, labPSK2)
}

// TestForcedUDPEncapsulation: vpgw ↔ vpgw with no NAT would use raw ESP;
// with force_udp_encapsulation on the initiating side, it fakes its NAT-D
// hash, both move to 4500 and put ESP in UDP (with GSO and GRO); traffic
// flows both ways.
func TestForcedUDPEncapsulation(t *testing.T) {
	l := newLab(t, "vpgw-e2eenc", false)
	if _, err := l.Exec(lab.RoleCGW, "ip", "addr", "add", "198.51.100.3/24", "dev", "wan0"); err != nil {
		t.Fatal(err)
	}
	t1, t2 := defaultTunnels()
	v := startVPGW(t, l, labConfig(l.Dir()+"/vpgw", lab.CGWWANIP, t1, t2))
	c := startVPGWIn(t, l, lab.RoleCGW, "vpgw-cgw", cgwConfig(l.Dir()+"/vpgw-cgw", "force_udp_encapsulation: true"))
	for name, inst := range map[string]*vpgwInstance{"VGW": v, "CGW": c} {
		st := inst.waitTunnel(t, 1, 30*time.Second, "UP", func(s gateway.TunnelStatus) bool { return s.Status == gateway.StateUp })
		if !st.NATT {
			t.Errorf("%s tunnel 1: nat_t = false with UDP encapsulation forced", name)
		}
	}
	if err := l.WaitPing(lab.RoleOnprem, lab.VPCIP, 10*time.Second); err != nil {
		t.Fatalf("on-prem → VPC over the UDP-encapsulated tunnel: %v", err)
	}
	if err := l.Ping(lab.RoleVPC, lab.OnpremIP, 5); err != nil {
		t.Errorf("VPC → on-prem: %v", err)
	}
	if st := v.tunnel(t, 1); st.BytesIn == 0 || st.BytesOut == 0 {
		t.Errorf("tunnel 1 carried nothing: %+v", st)
	}
	if !strings.Contains(v.proc.Tail(200000), "NAT detected (peer behind NAT)") ||
		!strings.Contains(c.proc.Tail(200000), "no NAT, UDP encapsulation forced, moving to port 4500") {
		t.Error("logs do not tell the forced encapsulation")
	}
}
