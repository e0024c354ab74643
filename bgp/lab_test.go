package bgp

// TestLab runs the Server against a second GoBGP playing the customer
// gateway, over a veth pair between two fresh network namespaces:
//
//	netns A (this test, re-executed)        netns B (customer, re-executed)
//	vA 169.254.10.1/30  ─────── veth ─────── vB 169.254.10.2/30  GoBGP AS65000 :179
//	   169.254.11.1/30                          169.254.11.2/30  (nothing listens)
//
// The parent test creates the namespaces and runs the test binary twice
// under `ip netns exec`: as the customer (TestMain sees labRoleEnv=cgw) and
// as TestLab itself (labRoleEnv=vgw). The customer is driven over its GoBGP
// gRPC API on a unix socket. Network namespaces are per thread, so
// re-executing is the only reliable way to put each GoBGP (with its many
// goroutines) into its own namespace.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
)

const (
	labRoleEnv = "VPGW_BGP_LAB_ROLE" // "cgw" or "vgw" in the re-executed children
	labSockEnv = "VPGW_BGP_LAB_SOCK" // the customer's gRPC unix socket
	labPIDEnv  = "VPGW_BGP_LAB_CGW_PID"

	labVGWASN = 64512
	labCGWASN = 65000
)

var (
	labVGW1 = netip.MustParseAddr("169.254.10.1")
	labCGW1 = netip.MustParseAddr("169.254.10.2")
	labVGW2 = netip.MustParseAddr("169.254.11.1")
	labCGW2 = netip.MustParseAddr("169.254.11.2")
	labVPC  = netip.MustParsePrefix("10.0.0.0/16")
)

func TestMain(m *testing.M) {
	if os.Getenv(labRoleEnv) == "cgw" {
		os.Exit(runCustomer(os.Getenv(labSockEnv)))
	}
	os.Exit(m.Run())
}

func TestLab(t *testing.T) {
	if os.Getenv(labRoleEnv) == "vgw" {
		labVGW(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Fatal("TestLab needs root (network namespaces, veth): run `sudo go test ./bgp`")
	}
	id := strconv.Itoa(os.Getpid())
	nsA, nsB := "vpgwbgp-a-"+id, "vpgwbgp-b-"+id
	vA, vB := "vbgpa"+id, "vbgpb"+id
	if len(vA) > 15 {
		vA, vB = vA[:15], vB[:15]
	}
	t.Cleanup(func() {
		// Deleting the namespaces also deletes the veth pair.
		exec.Command("ip", "netns", "del", nsA).Run()
		exec.Command("ip", "netns", "del", nsB).Run()
	})
	for _, args := range [][]string{
		{"netns", "add", nsA},
		{"netns", "add", nsB},
		{"link", "add", vA, "netns", nsA, "type", "veth", "peer", "name", vB, "netns", nsB},
		{"-n", nsA, "addr", "add", "169.254.10.1/30", "dev", vA},
		{"-n", nsA, "addr", "add", "169.254.11.1/30", "dev", vA},
		{"-n", nsB, "addr", "add", "169.254.10.2/30", "dev", vB},
		{"-n", nsB, "addr", "add", "169.254.11.2/30", "dev", vB},
		{"-n", nsA, "link", "set", "lo", "up"},
		{"-n", nsB, "link", "set", "lo", "up"},
		{"-n", nsA, "link", "set", vA, "up"},
		{"-n", nsB, "link", "set", vB, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	dir := t.TempDir()
	sock := filepath.Join(dir, "cgw.sock")
	cgwLog, err := os.Create(filepath.Join(dir, "cgw.log"))
	if err != nil {
		t.Fatal(err)
	}
	cgw := exec.Command("ip", "netns", "exec", nsB, os.Args[0], "-test.run=^$")
	cgw.Env = append(os.Environ(), labRoleEnv+"=cgw", labSockEnv+"="+sock)
	cgw.Stdout, cgw.Stderr = cgwLog, cgwLog
	if err := cgw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cgw.Process.Signal(syscall.SIGCONT) // in case the test stopped it
		cgw.Process.Kill()
		cgw.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(cgwLog.Name())
			t.Logf("customer gateway log:\n%s", b)
		}
	})
	waitFile(t, sock, 10*time.Second)

	vgw := exec.Command("ip", "netns", "exec", nsA, os.Args[0], "-test.run=^TestLab$", "-test.v", "-test.count=1", "-test.timeout=4m")
	// ip netns exec replaces itself with the test binary, so the customer's
	// PID is the one of the process we started.
	vgw.Env = append(os.Environ(), labRoleEnv+"=vgw", labSockEnv+"="+sock, labPIDEnv+"="+strconv.Itoa(cgw.Process.Pid))
	out, err := vgw.CombinedOutput()
	t.Logf("gateway side (netns %s):\n%s", nsA, out)
	if err != nil {
		t.Fatalf("gateway side failed: %v", err)
	}
}

func waitFile(t *testing.T, path string, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear within %v", path, d)
}

// runCustomer is the customer gateway: GoBGP AS 65000 listening on
// 169.254.10.2:179 with the gateway as its neighbor, controlled over gRPC.
func runCustomer(sock string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := server.NewBgpServer(
		server.LoggerOption(&logAdapter{log: log.With("side", "cgw")}),
		server.GrpcListenAddress("unix://"+sock),
	)
	go s.Serve()
	ctx := context.Background()
	err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:             labCGWASN,
		RouterId:        labCGW1.String(),
		ListenPort:      179,
		ListenAddresses: []string{labCGW1.String()},
	}})
	if err == nil {
		err = s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
			Conf:      &api.PeerConf{NeighborAddress: labVGW1.String(), PeerAsn: labVGWASN},
			Transport: &api.Transport{LocalAddress: labCGW1.String()},
			Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1, HoldTime: 30, KeepaliveInterval: 10}},
		}})
	}
	if err != nil {
		log.Error("customer gateway", "err", err)
		return 1
	}
	select {}
}

// labVGW is TestLab inside netns A.
func labVGW(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn, err := grpc.Dial("unix://"+os.Getenv(labSockEnv), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cgw := api.NewGobgpApiClient(conn)
	cgwPID, err := strconv.Atoi(os.Getenv(labPIDEnv))
	if err != nil {
		t.Fatalf("%s: %v", labPIDEnv, err)
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := New(Config{
		ASN:               labVGWASN,
		RouterID:          labVGW1,
		VPCCIDRs:          []netip.Prefix{labVPC},
		HoldTime:          3 * time.Second,
		KeepaliveInterval: time.Second,
		ConnectRetry:      time.Second,
		PrefixLimitRetry:  2 * time.Second,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	evs := s.Events()
	const t1, t2 = "vpn-1/1", "vpn-1/2"

	// Tunnel 2's customer address has no BGP listener.
	must(t, s.AddNeighbor(Neighbor{Tunnel: t2, Local: labVGW2, Peer: labCGW2, PeerASN: labCGWASN, MED: 200}))
	expect(t, evs, 10*time.Second, "tunnel 2 refused", func(ev Event) bool {
		st, ok := ev.(SessionState)
		return ok && st.Tunnel == t2 && !st.Established && st.Reason == "connection refused"
	})

	must(t, s.AddNeighbor(Neighbor{Tunnel: t1, Local: labVGW1, Peer: labCGW1, PeerASN: labCGWASN, MED: 100}))
	expectState(t, evs, t1, true, "", 15*time.Second)

	t.Run("advertises VPC CIDR with MED", func(t *testing.T) {
		waitCGWRoutes(t, ctx, cgw, "VPC CIDR with MED 100", func(rs []Route) bool {
			return len(rs) == 1 && rs[0].Prefix == labVPC && rs[0].MED == 100 && rs[0].ASPathLen == 1 && rs[0].NextHop == labVGW1
		})
	})

	p0, p1 := netip.MustParsePrefix("172.16.0.0/24"), netip.MustParsePrefix("172.16.1.0/24")
	t.Run("peer routes arrive", func(t *testing.T) {
		cgwAdd(t, ctx, cgw, p0, 0)
		cgwAdd(t, ctx, cgw, p1, 50)
		expect(t, evs, 5*time.Second, "both customer routes", func(ev Event) bool {
			rc, ok := ev.(RoutesChanged)
			return ok && rc.Tunnel == t1 && len(rc.Routes) == 2 &&
				rc.Routes[0] == Route{Prefix: p0, ASPathLen: 1, MED: 0, NextHop: labCGW1} &&
				rc.Routes[1] == Route{Prefix: p1, ASPathLen: 1, MED: 50, NextHop: labCGW1}
		})
	})

	t.Run("MED change re-advertises", func(t *testing.T) {
		must(t, s.SetNeighborMED(t1, 300))
		waitCGWRoutes(t, ctx, cgw, "VPC CIDR with MED 300", func(rs []Route) bool {
			return len(rs) == 1 && rs[0].Prefix == labVPC && rs[0].MED == 300
		})
	})

	t.Run("withdrawal shrinks the set", func(t *testing.T) {
		start := time.Now()
		cgwDel(t, ctx, cgw, p1, 50)
		expect(t, evs, 2*time.Second, "one route left", func(ev Event) bool {
			rc, ok := ev.(RoutesChanged)
			return ok && rc.Tunnel == t1 && len(rc.Routes) == 1 && rc.Routes[0].Prefix == p0
		})
		t.Logf("withdrawal reported after %v", time.Since(start))
	})

	t.Run("disable tears down at once", func(t *testing.T) {
		must(t, s.DisableNeighbor(t1, "tunnel down"))
		expectState(t, evs, t1, false, "administratively down: tunnel down", time.Second)
		expectRoutes(t, evs, t1, 0, time.Second)
		waitCGWRoutes(t, ctx, cgw, "VPC CIDR withdrawn", func(rs []Route) bool { return len(rs) == 0 })
		must(t, s.EnableNeighbor(t1))
		expectState(t, evs, t1, true, "", 20*time.Second)
		expectRoutes(t, evs, t1, 1, 5*time.Second)
	})

	t.Run("prefix limit resets the session", func(t *testing.T) {
		var extra []netip.Prefix
		for i := range 101 {
			extra = append(extra, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 17, byte(i), 0}), 24))
		}
		for _, p := range extra {
			cgwAdd(t, ctx, cgw, p, 0)
		}
		expectState(t, evs, t1, false, "prefix limit 100 exceeded", 10*time.Second)
		expectRoutes(t, evs, t1, 0, time.Second)
		for _, p := range extra {
			cgwDel(t, ctx, cgw, p, 0)
		}
		// PrefixLimitRetry (2 s), then GoBGP's idle hold time (5 s).
		expectState(t, evs, t1, true, "", 20*time.Second)
		expectRoutes(t, evs, t1, 1, 5*time.Second)
	})

	t.Run("hold timer expires when the peer stalls", func(t *testing.T) {
		must(t, syscall.Kill(cgwPID, syscall.SIGSTOP))
		defer syscall.Kill(cgwPID, syscall.SIGCONT)
		expectState(t, evs, t1, false, "hold timer expired", 6*time.Second)
		expectRoutes(t, evs, t1, 0, time.Second)
		must(t, syscall.Kill(cgwPID, syscall.SIGCONT))
		expectState(t, evs, t1, true, "", 20*time.Second)
	})

	t.Run("remove and close", func(t *testing.T) {
		must(t, s.RemoveNeighbor(t2))
		if err := s.RemoveNeighbor(t2); err == nil {
			t.Error("second RemoveNeighbor succeeded")
		}
		must(t, s.Close())
		closed = true
		for ev := range evs { // drains, then ends: Close closed the channel
			t.Logf("event after close: %v", ev)
		}
		waitCGWRoutes(t, ctx, cgw, "VPC CIDR withdrawn after Close", func(rs []Route) bool { return len(rs) == 0 })
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// expect reads events until ok accepts one, logging every event read.
func expect(t *testing.T, evs <-chan Event, d time.Duration, what string, ok func(Event) bool) Event {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, open := <-evs:
			if !open {
				t.Fatalf("events closed while waiting for %s", what)
			}
			t.Logf("event %T %+v", ev, ev)
			if ok(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s within %v", what, d)
		}
	}
}

func expectState(t *testing.T, evs <-chan Event, tunnel string, up bool, reason string, d time.Duration) {
	t.Helper()
	expect(t, evs, d, fmt.Sprintf("%s established=%v reason=%q", tunnel, up, reason), func(ev Event) bool {
		st, ok := ev.(SessionState)
		return ok && st.Tunnel == tunnel && st.Established == up && st.Reason == reason &&
			(st.State == "Established") == up
	})
}

func expectRoutes(t *testing.T, evs <-chan Event, tunnel string, n int, d time.Duration) {
	t.Helper()
	expect(t, evs, d, fmt.Sprintf("%s with %d routes", tunnel, n), func(ev Event) bool {
		rc, ok := ev.(RoutesChanged)
		return ok && rc.Tunnel == tunnel && len(rc.Routes) == n
	})
}

// waitCGWRoutes polls what the customer accepted from the gateway.
func waitCGWRoutes(t *testing.T, ctx context.Context, c api.GobgpApiClient, what string, ok func([]Route) bool) {
	t.Helper()
	var rs []Route
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		stream, err := c.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_ADJ_IN, Name: labVGW1.String(), Family: ipv4Unicast})
		if err != nil {
			t.Fatal(err)
		}
		var dsts []*api.Destination
		for {
			r, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			dsts = append(dsts, r.Destination)
		}
		if rs = toRoutes(dsts, labCGWASN); ok(rs) {
			return
		}
	}
	t.Fatalf("customer gateway: no %s; it has %v", what, rs)
}

func cgwPath(p netip.Prefix, med uint32) *api.Path {
	nlri, _ := anypb.New(&api.IPAddressPrefix{Prefix: p.Addr().String(), PrefixLen: uint32(p.Bits())})
	origin, _ := anypb.New(&api.OriginAttribute{Origin: 0})
	nh, _ := anypb.New(&api.NextHopAttribute{NextHop: labCGW1.String()})
	attrs := []*anypb.Any{origin, nh}
	if med != 0 {
		m, _ := anypb.New(&api.MultiExitDiscAttribute{Med: med})
		attrs = append(attrs, m)
	}
	return &api.Path{Family: ipv4Unicast, Nlri: nlri, Pattrs: attrs}
}

func cgwAdd(t *testing.T, ctx context.Context, c api.GobgpApiClient, p netip.Prefix, med uint32) {
	t.Helper()
	if _, err := c.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: cgwPath(p, med)}); err != nil {
		t.Fatalf("customer: add %v: %v", p, err)
	}
}

func cgwDel(t *testing.T, ctx context.Context, c api.GobgpApiClient, p netip.Prefix, med uint32) {
	t.Helper()
	if _, err := c.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: ipv4Unicast, Path: cgwPath(p, med)}); err != nil {
		t.Fatalf("customer: delete %v: %v", p, err)
	}
}
