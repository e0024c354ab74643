package lab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func needFRR(t *testing.T) {
	t.Helper()
	needRoot(t)
	for _, bin := range []string{frrZebra, frrBGPd, "/usr/bin/vtysh"} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("FRR tests need %s: run lab/install-deps.sh (%v)", bin, err)
		}
	}
}

// TestFRRBGPOverTunnels runs the BGP customer gateway (strongSwan with the
// inside selectors + FRR) against a stand-in VGW made of a strongSwan
// responder and a second FRR that, like vpgw, opens both sessions from the
// inside .1 addresses and sets MED 100 on tunnel 1, 200 on tunnel 2.
func TestFRRBGPOverTunnels(t *testing.T) {
	needFRR(t)
	start := time.Now()
	const prefix = "vlt6"
	l := upLab(t, prefix, false)

	resp, err := l.StartCharon(CharonConfig{NS: RoleVGW, Connections: []CharonConn{
		{Name: "t1", LocalAddr: VGWOutside1, RemoteAddr: CGWWANIP, PSK: testPSK,
			InsideLocal: Tunnel1VGWInside, InsideRemote: Tunnel1CGWInside},
		{Name: "t2", LocalAddr: VGWOutside2, RemoteAddr: CGWWANIP, PSK: testPSK + "2",
			InsideLocal: Tunnel2VGWInside, InsideRemote: Tunnel2CGWInside},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cgw, err := l.StartCharon(BGPCustomerGatewayCharon(testPSK, testPSK+"2"))
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, cgw, resp)
	for _, tun := range []string{"t1", "t2"} {
		if err := cgw.WaitChild(tun, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := resp.WaitChild(tun, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// Each tunnel's inside /32s travel in that tunnel, from the right source.
	for _, dst := range []string{Tunnel1VGWInside, Tunnel2VGWInside} {
		if err := l.WaitPing(RoleCGW, dst, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	out, err := l.Exec(RoleCGW, "ip", "route", "get", Tunnel2VGWInside)
	if err != nil || !bytes.Contains(out, []byte("dev ipsec0 src "+Tunnel2CGWInside)) {
		t.Fatalf("route to %s: %v %s", Tunnel2VGWInside, err, out)
	}
	// The VPC is routed by BGP only: no path before the sessions are up.
	if err := l.Ping(RoleOnprem, VPCIP, 1); err == nil {
		t.Fatal("onprem reaches the VPC before BGP")
	}

	cfrr, err := l.StartFRR(BGPCustomerGatewayFRR())
	if err != nil {
		t.Fatal(err)
	}
	vfrr, err := l.StartFRR(FRRConfig{NS: RoleVGW, ASN: VGWASN, Networks: []string{VPCCIDR},
		Neighbors: []FRRNeighbor{
			{Addr: Tunnel1CGWInside, RemoteAS: CGWASN, UpdateSource: Tunnel1VGWInside, MED: 100},
			{Addr: Tunnel2CGWInside, RemoteAS: CGWASN, UpdateSource: Tunnel2VGWInside, MED: 200},
		}})
	if err != nil {
		t.Fatal(err)
	}
	dumped := false
	dump := func() {
		if !t.Failed() || dumped {
			return
		}
		dumped = true
		for _, f := range []*FRR{cfrr, vfrr} {
			t.Logf("FRR %s:\n%s", f.Name, f.Log(4000))
			out, _ := f.Vtysh("show bgp summary", "show ip bgp", "show ip nht", "show ip route")
			t.Logf("FRR %s:\n%s", f.Name, out)
		}
	}
	t.Cleanup(dump)
	if err := vfrr.WaitEstablished(30*time.Second, Tunnel1CGWInside, Tunnel2CGWInside); err != nil {
		t.Fatal(err)
	}
	if err := cfrr.WaitEstablished(5*time.Second, Tunnel1VGWInside, Tunnel2VGWInside); err != nil {
		t.Fatal(err)
	}
	t.Logf("both BGP sessions Established after %v", time.Since(start).Round(time.Millisecond))

	// The stand-in VGW learns both on-prem prefixes over both tunnels.
	for _, p := range []string{OnpremCIDR, OnpremCIDR2} {
		err := vfrr.WaitRoute(p, 10*time.Second, func(paths []BGPPath) bool {
			got := map[string]bool{}
			for _, x := range paths {
				if x.Valid && x.ASPath == fmt.Sprint(CGWASN) {
					got[x.Peer] = true
				}
			}
			return got[Tunnel1CGWInside] && got[Tunnel2CGWInside]
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The customer gateway learns the VPC with the MED set per neighbor and
	// prefers tunnel 1 (lower MED).
	err = cfrr.WaitRoute(VPCCIDR, 10*time.Second, func(paths []BGPPath) bool { return len(paths) == 2 && anyBest(paths) })
	if err != nil {
		t.Fatal(err)
	}
	paths, err := cfrr.Route(VPCCIDR)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cgw paths for %s: %+v", VPCCIDR, paths)
	for _, want := range []struct {
		peer string
		med  uint32
		best bool
	}{{Tunnel1VGWInside, 100, true}, {Tunnel2VGWInside, 200, false}} {
		p, ok, err := cfrr.PathFrom(VPCCIDR, want.peer)
		if err != nil || !ok {
			t.Fatalf("no path for %s from %s: %v", VPCCIDR, want.peer, err)
		}
		if !p.HasMED || p.MED != want.med || p.Best != want.best || !p.Valid || p.NextHop != want.peer || p.ASPath != fmt.Sprint(VGWASN) {
			t.Errorf("path from %s: %+v, want MED %d best %v", want.peer, p, want.med, want.best)
		}
	}
	// zebra resolved the next hop through the /32 into ipsec0 and installed
	// the best path in the kernel, with the LAN address as source; traffic
	// flows on it both ways and from the gateway itself.
	if err := waitFor(5*time.Second, nil, func() bool {
		out, err := l.Exec(RoleCGW, "ip", "route", "show", VPCCIDR, "proto", "bgp")
		return err == nil && bytes.Contains(out, []byte("via "+Tunnel1VGWInside+" dev ipsec0")) &&
			bytes.Contains(out, []byte("src "+CGWLANIP))
	}); err != nil {
		out, _ := l.Exec(RoleCGW, "ip", "route")
		t.Fatalf("cgw kernel has no BGP route to %s via %s: %v\n%s", VPCCIDR, Tunnel1VGWInside, err, out)
	}
	if err := l.WaitPing(RoleOnprem, VPCIP, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(RoleVPC, OnpremIP, 2); err != nil {
		t.Fatal(err)
	}
	if err := l.Ping(RoleCGW, VPCIP, 1); err != nil {
		t.Fatal(err)
	}

	// Announce and withdraw propagate within seconds.
	const extra = "10.1.0.0/16"
	if err := vfrr.Announce(extra); err != nil {
		t.Fatal(err)
	}
	if err := cfrr.WaitRoute(extra, 10*time.Second, func(p []BGPPath) bool { return len(p) == 2 }); err != nil {
		t.Fatal(err)
	}
	w := time.Now()
	if err := vfrr.Withdraw(VPCCIDR); err != nil {
		t.Fatal(err)
	}
	if err := cfrr.WaitRoute(VPCCIDR, 5*time.Second, func(p []BGPPath) bool { return len(p) == 0 }); err != nil {
		t.Fatal(err)
	}
	t.Logf("withdrawal of %s seen by the customer gateway after %v", VPCCIDR, time.Since(w).Round(time.Millisecond))
	if err := waitFor(5*time.Second, nil, func() bool {
		out, err := l.Exec(RoleCGW, "ip", "route", "show", VPCCIDR)
		return err == nil && len(bytes.TrimSpace(out)) == 0
	}); err != nil {
		t.Errorf("kernel route to %s stayed after the withdrawal: %v", VPCCIDR, err)
	}
	if err := cfrr.Withdraw(OnpremCIDR2); err != nil {
		t.Fatal(err)
	}
	if err := vfrr.WaitRoute(OnpremCIDR2, 5*time.Second, func(p []BGPPath) bool { return len(p) == 0 }); err != nil {
		t.Fatal(err)
	}

	dump() // while the daemons still run
	procs := []*Proc{cgw.Proc, resp.Proc, cfrr.Zebra, cfrr.BGPd, vfrr.Zebra, vfrr.BGPd}
	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	if left := netnsWithPrefix(t, prefix); len(left) > 0 {
		t.Fatalf("namespaces left after Down: %v", left)
	}
	for _, p := range procs {
		if Alive(p.PID) {
			t.Errorf("%s (pid %d) alive after Down", p.Name, p.PID)
		}
	}
	for _, f := range []*FRR{cfrr, vfrr} {
		for _, d := range []string{fmt.Sprintf("zebra.%d", f.Zebra.PID), fmt.Sprintf("bgpd.%d", f.BGPd.PID)} {
			if _, err := os.Stat(filepath.Join(frrTmpBase, d)); err == nil {
				t.Errorf("%s/%s left behind (daemon did not exit cleanly)", frrTmpBase, d)
			}
		}
	}
	t.Logf("FRR over strongSwan self-test took %v", time.Since(start).Round(time.Millisecond))
}

func anyBest(paths []BGPPath) bool {
	for _, p := range paths {
		if p.Best {
			return true
		}
	}
	return false
}

// TestFRRConfigRendering checks the generated zebra/bgpd configs and the
// inside-address handling of the charon config (no root needed).
func TestFRRConfigRendering(t *testing.T) {
	l := &Lab{opts: Options{Prefix: "vlt7"}, dir: t.TempDir()}
	c := BGPCustomerGatewayFRR()
	c.Neighbors[1].Prepend = 2
	c.ExtraConfig = "ip prefix-list X seq 5 permit 10.0.0.0/8 le 24"
	if err := l.frrDefaults(&c); err != nil {
		t.Fatal(err)
	}
	f := &FRR{dir: l.dir}
	if err := l.writeFRRFiles(c, f); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(l.dir, "bgpd.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"router bgp 65000", "bgp router-id 169.254.10.2", "no bgp ebgp-requires-policy",
		"no bgp network import-check", "neighbor 169.254.10.1 remote-as 64512", "neighbor 169.254.10.1 timers 10 30",
		"neighbor 169.254.10.1 update-source 169.254.10.2", "neighbor 169.254.11.1 passive",
		"neighbor 169.254.11.1 disable-connected-check", "network 172.16.0.0/24", "network 172.16.1.0/24",
		"neighbor 169.254.11.1 activate", "neighbor 169.254.11.1 route-map LAB-OUT-169-254-11-1 out",
		"set as-path prepend 65000 65000", "ip prefix-list X seq 5"} {
		if !bytes.Contains(conf, []byte(want)) {
			t.Errorf("bgpd.conf lacks %q:\n%s", want, conf)
		}
	}
	if bytes.Contains(conf, []byte("route-map LAB-OUT-169-254-10-1")) {
		t.Errorf("route-map generated for a neighbor without MED/prepend:\n%s", conf)
	}
	for _, bad := range []FRRConfig{
		{Neighbors: []FRRNeighbor{{Addr: "169.254.10.1", RemoteAS: 1}}},                                           // no router ID
		{RouterID: "1.1.1.1", Neighbors: []FRRNeighbor{{Addr: "169.254.10.1"}}},                                   // no remote AS
		{RouterID: "1.1.1.1", Networks: []string{"10.0.0.1/16"}},                                                  // not masked
		{RouterID: "1.1.1.1", Neighbors: []FRRNeighbor{{Addr: "1.2.3.4", RemoteAS: 1, MED: 5, RouteMapOut: "X"}}}, // both
	} {
		if err := l.frrDefaults(&bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}

	cc := BGPCustomerGatewayCharon("psk.one", "psk.two")
	if err := l.charonDefaults(&cc); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cc.Connections[1].LocalTS, " "); got != "172.16.0.0/24 169.254.11.2/32" {
		t.Errorf("t2 local TS %s", got)
	}
	if got := strings.Join(cc.Connections[0].RemoteTS, " "); got != "10.0.0.0/16 169.254.10.1/32" {
		t.Errorf("t1 remote TS %s", got)
	}
	if got := fmt.Sprint(cc.Routes); got != "[169.254.10.1/32 169.254.11.1/32]" {
		t.Errorf("routes %s", got)
	}
	for route, src := range map[string]string{"10.0.0.0/16": CGWLANIP, "169.254.10.1/32": Tunnel1CGWInside, "169.254.11.1/32": Tunnel2CGWInside} {
		if got := routeSrc(cc.Connections, route); got != src {
			t.Errorf("routeSrc(%s) = %q, want %s", route, got, src)
		}
	}
	half := CharonConfig{PSK: "x", Connections: []CharonConn{{Name: "t1", RemoteAddr: VGWOutside1, InsideLocal: Tunnel1CGWInside}}}
	if err := l.charonDefaults(&half); err == nil {
		t.Error("InsideLocal without InsideRemote accepted")
	}
	// The caller's connections are not modified by the defaults.
	conns := []CharonConn{{Name: "t1", RemoteAddr: VGWOutside1, PSK: "p", InsideLocal: Tunnel1CGWInside, InsideRemote: Tunnel1VGWInside}}
	cfg := CharonConfig{Connections: conns}
	if err := l.charonDefaults(&cfg); err != nil {
		t.Fatal(err)
	}
	if conns[0].LocalTS != nil || conns[0].LocalAddr != "" {
		t.Errorf("charonDefaults changed the caller's connection: %+v", conns[0])
	}
}
