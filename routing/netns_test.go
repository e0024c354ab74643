package routing

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// These tests need root: they create a network namespace and TUN devices in
// it, and never touch the host's own interfaces or routes.

var nsSeq atomic.Int32

// testNetns creates a fresh, uniquely named network namespace, deleted when
// the test ends (also on failure), and returns its name, its handle and a
// netlink handle bound to it.
func testNetns(t *testing.T) (string, netns.NsHandle, *netlink.Handle) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("routing netns test needs root (euid is %d): it creates a network namespace, TUN devices and routes; run as root, e.g. `sudo go test ./routing`", os.Geteuid())
	}
	name := fmt.Sprintf("vpgw-rt-%d-%d", os.Getpid(), nsSeq.Add(1))
	ipCmd(t, "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", name, err)
	}
	t.Cleanup(h.Close)
	return name, ns, h
}

// createTUN creates TUN device name inside ns. The device lives as long as
// the returned file is open; it is closed at cleanup.
func createTUN(t *testing.T, ns netns.NsHandle, name string) *os.File {
	t.Helper()
	f, err := openTUNIn(ns, name)
	if err != nil {
		t.Fatalf("create TUN %s: %v", name, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// openTUNIn opens /dev/net/tun on a thread switched into ns: a TUN is
// created in the namespace of the thread that opens it.
func openTUNIn(ns netns.NsHandle, name string) (*os.File, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer func() {
		// A thread left in the wrong namespace must die with the
		// goroutine, so it is only unlocked once restored.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()

	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// kernelRoutes returns `ip route show` lines for table and protocol in the
// namespace, as "DST dev DEV", sorted. iproute2 is an independent reader of
// what the Applier wrote.
func kernelRoutes(t *testing.T, ns string, table int, proto string) []string {
	t.Helper()
	out := ipCmd(t, "-n", ns, "-4", "route", "show", "table", fmt.Sprint(table), "proto", proto)
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dev := ""
		if i := slices.Index(f, "dev"); i >= 0 && i+1 < len(f) {
			dev = f[i+1]
		}
		got = append(got, f[0]+" dev "+dev)
	}
	slices.Sort(got)
	return got
}

func expectRoutes(t *testing.T, ns string, table int, proto string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := kernelRoutes(t, ns, table, proto); !slices.Equal(got, want) {
		t.Fatalf("table %d proto %s:\n  got  %q\n  want %q", table, proto, got, want)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestConfigureLinkNetns(t *testing.T) {
	nsName, ns, h := testNetns(t)
	tunFile := createTUN(t, ns, "vpn-1-t1")

	addr := netip.MustParsePrefix("169.254.10.1/30")
	if err := ConfigureLinkAt(h, "vpn-1-t1", addr, 1436); err != nil {
		t.Fatalf("ConfigureLinkAt: %v", err)
	}
	// A second call must be a no-op, not an "address exists" error.
	if err := ConfigureLinkAt(h, "vpn-1-t1", addr, 1436); err != nil {
		t.Fatalf("ConfigureLinkAt again: %v", err)
	}
	link, err := h.LinkByName("vpn-1-t1")
	if err != nil {
		t.Fatal(err)
	}
	if link.Attrs().MTU != 1436 {
		t.Errorf("MTU = %d, want 1436", link.Attrs().MTU)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("link is not up: flags %v", link.Attrs().Flags)
	}
	expectAddrs(t, h, link, "169.254.10.1/30")
	// The peer-less /30 gives the kernel's connected route to the CGW's .2.
	expectRoutes(t, nsName, 254, "kernel", "169.254.10.0/30 dev vpn-1-t1")

	// A new inside CIDR replaces the old address instead of adding one.
	if err := ConfigureLinkAt(h, "vpn-1-t1", netip.MustParsePrefix("169.254.20.1/30"), 1400); err != nil {
		t.Fatalf("ConfigureLinkAt new address: %v", err)
	}
	expectAddrs(t, h, link, "169.254.20.1/30")
	if l, _ := h.LinkByName("vpn-1-t1"); l.Attrs().MTU != 1400 {
		t.Errorf("MTU = %d, want 1400", l.Attrs().MTU)
	}

	for _, bad := range []struct {
		addr string
		mtu  int
	}{{"169.254.10.0/30", 1436}, {"2001:db8::1/64", 1436}, {"169.254.10.1/30", 0}} {
		if err := ConfigureLinkAt(h, "vpn-1-t1", netip.MustParsePrefix(bad.addr), bad.mtu); err == nil {
			t.Errorf("ConfigureLinkAt(%s, mtu %d) succeeded, want an error", bad.addr, bad.mtu)
		}
	}
	if err := ConfigureLinkAt(h, "no-such-link", addr, 1436); err == nil {
		t.Error("ConfigureLinkAt on a missing link succeeded")
	}

	// Closing the TUN removes it; DeleteLink then has nothing to do.
	tunFile.Close()
	if err := DeleteLinkAt(h, "vpn-1-t1"); err != nil {
		t.Fatalf("DeleteLinkAt after close: %v", err)
	}
	// A link that is still there is deleted.
	createTUN(t, ns, "vpn-1-t2")
	if err := DeleteLinkAt(h, "vpn-1-t2"); err != nil {
		t.Fatalf("DeleteLinkAt: %v", err)
	}
	if _, err := h.LinkByName("vpn-1-t2"); err == nil {
		t.Fatal("vpn-1-t2 still exists after DeleteLinkAt")
	}
}

func expectAddrs(t *testing.T, h *netlink.Handle, link netlink.Link, want ...string) {
	t.Helper()
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range addrs {
		if a.Peer != nil {
			t.Errorf("address %v has peer %v, want none", a.IPNet, a.Peer)
		}
		got = append(got, a.IPNet.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("addresses = %v, want %v", got, want)
	}
}

func TestApplierNetns(t *testing.T) {
	const table = 100
	nsName, ns, h := testNetns(t)
	for i, dev := range []string{"vpn-1-t1", "vpn-1-t2"} {
		createTUN(t, ns, dev)
		if err := ConfigureLinkAt(h, dev, netip.MustParsePrefix(fmt.Sprintf("169.254.1%d.1/30", i)), 1436); err != nil {
			t.Fatalf("ConfigureLinkAt %s: %v", dev, err)
		}
	}
	proto := fmt.Sprint(RouteProtocol)

	// Routes vpgw must never touch: foreign ones in its table (one on a
	// destination it will want), and its own protocol in another table.
	ipCmd(t, "-n", nsName, "route", "add", "192.0.2.0/24", "dev", "vpn-1-t1", "table", fmt.Sprint(table), "proto", "static")
	ipCmd(t, "-n", nsName, "route", "add", "172.16.9.0/24", "dev", "vpn-1-t1", "table", fmt.Sprint(table), "proto", "static")
	ipCmd(t, "-n", nsName, "route", "add", "198.51.100.0/24", "dev", "vpn-1-t1", "table", "main", "proto", proto)
	foreign := []string{"172.16.9.0/24 dev vpn-1-t1", "192.0.2.0/24 dev vpn-1-t1"}
	checkUntouched := func() {
		t.Helper()
		expectRoutes(t, nsName, table, "static", foreign...)
		expectRoutes(t, nsName, 254, proto, "198.51.100.0/24 dev vpn-1-t1")
	}
	// Left over from an earlier run.
	ipCmd(t, "-n", nsName, "route", "add", "10.99.0.0/16", "dev", "vpn-1-t2", "table", fmt.Sprint(table), "proto", proto)

	a := NewApplierAt(h, table, testLogger(t))
	t.Cleanup(func() { a.Flush() })

	if err := a.Flush(); err != nil {
		t.Fatalf("Flush at start: %v", err)
	}
	expectRoutes(t, nsName, table, proto)
	checkUntouched()

	conns := func(up1, up2 bool) []ConnectionRoutes {
		return []ConnectionRoutes{{
			Name:     "vpn-1",
			Prefixes: pfx("172.16.0.0/24", "172.16.1.0/24"),
			Tunnels: [2]TunnelState{
				{Connection: "vpn-1", Index: 1, Dev: "vpn-1-t1", Up: up1},
				{Connection: "vpn-1", Index: 2, Dev: "vpn-1-t2", Up: up2},
			},
		}}
	}
	apply := func(desired []Route, want ...string) {
		t.Helper()
		if err := a.Apply(desired); err != nil {
			t.Fatalf("Apply(%v): %v", desired, err)
		}
		expectRoutes(t, nsName, table, proto, want...)
		got, err := a.List()
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if !slices.Equal(got, desired) {
			t.Fatalf("List = %v, want %v", got, desired)
		}
		checkUntouched()
	}

	viaT1 := []string{"172.16.0.0/24 dev vpn-1-t1", "172.16.1.0/24 dev vpn-1-t1"}
	viaT2 := []string{"172.16.0.0/24 dev vpn-1-t2", "172.16.1.0/24 dev vpn-1-t2"}
	apply(Desired(conns(true, true), table, true), viaT1...)
	apply(Desired(conns(true, true), table, true), viaT1...) // idempotent
	apply(Desired(conns(false, true), table, true), viaT2...)
	apply(Desired(conns(true, false), table, true), viaT1...)
	apply(Desired(conns(false, false), table, true))
	apply(Desired(conns(true, true), table, true), viaT1...)
	apply(Desired(conns(true, true), table, false))

	// The route kernel fields are ours: scope link, no gateway, protocol.
	apply(Desired(conns(true, false), table, true), viaT1...)
	rs, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: table, Protocol: RouteProtocol}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Scope != netlink.SCOPE_LINK || r.Gw != nil || r.Type != unix.RTN_UNICAST {
			t.Errorf("route %v: scope %v gw %v type %d, want link, none, unicast", r.Dst, r.Scope, r.Gw, r.Type)
		}
	}

	// A desired destination held by a foreign route is reported and left
	// alone; the rest is still applied.
	clash := conns(true, false)
	clash[0].Prefixes = append(clash[0].Prefixes, netip.MustParsePrefix("172.16.9.0/24"))
	err = a.Apply(Desired(clash, table, true))
	if err == nil || !strings.Contains(err.Error(), "172.16.9.0/24") {
		t.Fatalf("Apply over a foreign route: err = %v, want one naming 172.16.9.0/24", err)
	}
	expectRoutes(t, nsName, table, proto, viaT1...)
	checkUntouched()

	// A missing device fails its route only.
	missing := append(Desired(conns(true, false), table, true), Route{Dst: netip.MustParsePrefix("172.16.5.0/24"), Dev: "vpn-9-t1", Table: table})
	if err := a.Apply(missing); err == nil || !strings.Contains(err.Error(), "vpn-9-t1") {
		t.Fatalf("Apply with a missing device: err = %v, want one naming vpn-9-t1", err)
	}
	expectRoutes(t, nsName, table, proto, viaT1...)

	if err := a.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	expectRoutes(t, nsName, table, proto)
	checkUntouched()
	if got, err := a.List(); err != nil || len(got) != 0 {
		t.Fatalf("List after Flush = %v, %v; want nothing", got, err)
	}
}

// TestApplierNetnsTables runs against table 254, where the kernel's own
// connected routes live next to vpgw's, and a table above 255 (carried in
// RTA_TABLE instead of the header byte).
func TestApplierNetnsTables(t *testing.T) {
	for _, table := range []int{254, 1000} {
		t.Run(fmt.Sprint(table), func(t *testing.T) {
			nsName, ns, h := testNetns(t)
			createTUN(t, ns, "vpn-1-t1")
			if err := ConfigureLinkAt(h, "vpn-1-t1", netip.MustParsePrefix("169.254.10.1/30"), 1436); err != nil {
				t.Fatal(err)
			}
			a := NewApplierAt(h, table, testLogger(t))
			desired := []Route{{Dst: netip.MustParsePrefix("10.50.0.0/16"), Dev: "vpn-1-t1", Table: table}}
			if err := a.Apply(desired); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			expectRoutes(t, nsName, table, fmt.Sprint(RouteProtocol), "10.50.0.0/16 dev vpn-1-t1")
			if got, err := a.List(); err != nil || !slices.Equal(got, desired) {
				t.Fatalf("List = %v, %v; want %v", got, err, desired)
			}
			if err := a.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			expectRoutes(t, nsName, table, fmt.Sprint(RouteProtocol))
			// The kernel's connected route for the inside /30 survives.
			expectRoutes(t, nsName, 254, "kernel", "169.254.10.0/30 dev vpn-1-t1")
		})
	}
}
