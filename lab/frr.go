package lab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
	"time"
)

// BGP over the tunnels, as AWS sets it up for a VPN with dynamic routing:
// each tunnel has an inside /30, the VGW (vpgw) takes .1 and the customer
// gateway .2; vpgw opens the session from .1 to .2:179.
const (
	Tunnel1InsideCIDR = "169.254.10.0/30"
	Tunnel2InsideCIDR = "169.254.11.0/30"
	Tunnel1VGWInside  = "169.254.10.1"
	Tunnel1CGWInside  = "169.254.10.2"
	Tunnel2VGWInside  = "169.254.11.1"
	Tunnel2CGWInside  = "169.254.11.2"

	// CGWASN is the customer gateway's ASN (vpgw's bgp_asn of the customer
	// gateway); VGWASN is Amazon's default side ASN, vpgw's own.
	CGWASN = 65000
	VGWASN = 64512

	// OnpremCIDR2 is a second on-prem prefix the BGP customer gateway
	// announces (only announced: nothing in the lab lives there).
	OnpremCIDR2 = "172.16.1.0/24"
)

// FRR daemons (Debian 12's frr package, FRR 8.4).
const (
	frrZebra = "/usr/lib/frr/zebra"
	frrBGPd  = "/usr/lib/frr/bgpd"
	// frrVTYGroup is FRR's compiled-in vty group. The daemons refuse to start
	// unless their user belongs to it; running as root with it as the group
	// (-u root -g frrvty) satisfies that check without touching /etc/group.
	frrVTYGroup = "frrvty"
	// frrTmpBase is where FRR 8 keeps a per-process crash-log directory
	// (DAEMON.PID), removed on a clean exit (SIGTERM) but not after SIGKILL.
	frrTmpBase = "/var/tmp/frr"
)

// FRRConfig describes one FRR instance (zebra + bgpd) in a namespace. One
// instance per namespace: bgpd listens on TCP 179 on all addresses.
type FRRConfig struct {
	// NS is the namespace role (or name); default "cgw".
	NS string
	// Name of the instance (its directory frr-NAME and processes
	// frr-NAME-zebra, frr-NAME-bgpd); default the role.
	Name string
	// ASN is the local AS; default CGWASN (65000).
	ASN uint32
	// RouterID defaults to the first neighbor's UpdateSource.
	RouterID string
	// Neighbors are the BGP peers (IPv4 unicast).
	Neighbors []FRRNeighbor
	// Networks are announced with `network` statements (no RIB route needed).
	Networks []string
	// Keepalive and Hold default to AWS's 10 s and 30 s; ConnectRetry
	// (FRR's `timers connect`, for non-passive neighbors) to 5 s.
	Keepalive, Hold, ConnectRetry time.Duration
	// ExtraConfig is appended to bgpd's config (route-maps, prefix-lists,
	// more `router bgp` lines must re-enter the node themselves).
	ExtraConfig string
	// ExtraZebraConfig is appended to zebra's config (e.g.
	// `ip nht resolve-via-default`).
	ExtraZebraConfig string
}

// FRRNeighbor is one BGP peer of an FRR instance.
type FRRNeighbor struct {
	Addr     string
	RemoteAS uint32
	// UpdateSource is the local address of the session (the tunnel's inside
	// address); empty lets the kernel choose.
	UpdateSource string
	// Passive only accepts the session (vpgw always opens it itself).
	Passive bool
	// Multihop > 0 sets `ebgp-multihop N`; 0 keeps single hop with
	// `disable-connected-check` (the peer is behind a /32 route into
	// ipsec0, not on a connected subnet).
	Multihop int
	// MED, when not 0, is set on every route sent to this neighbor, and
	// Prepend > 0 prepends the local ASN that many times (both through a
	// generated outbound route-map; not with RouteMapOut).
	MED     uint32
	Prepend int
	// RouteMapIn and RouteMapOut name route-maps defined in ExtraConfig.
	RouteMapIn, RouteMapOut string
}

// FRR is a running FRR instance.
type FRR struct {
	Name  string
	NS    string
	ASN   uint32
	Zebra *Proc
	BGPd  *Proc

	l      *Lab
	dir    string
	runDir string
}

// BGPCustomerGatewayFRR is the FRR side of the two-tunnel BGP customer
// gateway (see BGPCustomerGatewayCharon): ASN 65000, router ID 169.254.10.2,
// passive neighbors 169.254.10.1 and 169.254.11.1 (AS 64512) sourced from the
// inside addresses, announcing 172.16.0.0/24 and 172.16.1.0/24. zebra
// installs the learned routes with source 172.16.0.1, so the gateway's own
// traffic to the VPC matches the 172.16.0.0/24 selectors.
func BGPCustomerGatewayFRR() FRRConfig {
	return FRRConfig{
		NS:       RoleCGW,
		ASN:      CGWASN,
		RouterID: Tunnel1CGWInside,
		Neighbors: []FRRNeighbor{
			{Addr: Tunnel1VGWInside, RemoteAS: VGWASN, UpdateSource: Tunnel1CGWInside, Passive: true},
			{Addr: Tunnel2VGWInside, RemoteAS: VGWASN, UpdateSource: Tunnel2CGWInside, Passive: true},
		},
		Networks:         []string{OnpremCIDR, OnpremCIDR2},
		ExtraZebraConfig: "route-map LAB-SRC permit 10\n set src " + CGWLANIP + "\nexit\nip protocol bgp route-map LAB-SRC",
	}
}

// frrNeighborView is a neighbor as the template sees it.
type frrNeighborView struct {
	FRRNeighbor
	Prepend string // "65000 65000"
	GenOut  bool   // RouteMapOut is generated from MED/Prepend
}

func (l *Lab) frrDefaults(c *FRRConfig) error {
	if c.NS == "" {
		c.NS = RoleCGW
	}
	if c.Name == "" {
		for _, r := range Roles {
			if l.NS(r) == l.NS(c.NS) {
				c.Name = r
			}
		}
	}
	if !connNameRE.MatchString(c.Name) {
		return fmt.Errorf("lab: FRR name %q: want [A-Za-z0-9_-]", c.Name)
	}
	if c.ASN == 0 {
		c.ASN = CGWASN
	}
	if c.Keepalive == 0 {
		c.Keepalive = 10 * time.Second
	}
	if c.Hold == 0 {
		c.Hold = 30 * time.Second
	}
	if c.ConnectRetry == 0 {
		c.ConnectRetry = 5 * time.Second
	}
	if c.Keepalive < time.Second || c.Hold < 3*time.Second || c.Keepalive >= c.Hold || c.ConnectRetry < time.Second {
		return fmt.Errorf("lab: FRR %s: timers keepalive %v hold %v connect %v", c.Name, c.Keepalive, c.Hold, c.ConnectRetry)
	}
	c.Neighbors = append([]FRRNeighbor(nil), c.Neighbors...)
	seen := map[string]bool{}
	for i := range c.Neighbors {
		n := &c.Neighbors[i]
		if a, err := netip.ParseAddr(n.Addr); err != nil || !a.Is4() || seen[n.Addr] {
			return fmt.Errorf("lab: FRR %s: neighbor address %q: want a unique IPv4 address", c.Name, n.Addr)
		}
		seen[n.Addr] = true
		if n.RemoteAS == 0 {
			return fmt.Errorf("lab: FRR %s: neighbor %s: RemoteAS missing", c.Name, n.Addr)
		}
		if n.UpdateSource != "" {
			if _, err := netip.ParseAddr(n.UpdateSource); err != nil {
				return fmt.Errorf("lab: FRR %s: neighbor %s: update source %q: %w", c.Name, n.Addr, n.UpdateSource, err)
			}
		}
		if n.Multihop < 0 || n.Multihop > 255 || n.Prepend < 0 || n.Prepend > 10 {
			return fmt.Errorf("lab: FRR %s: neighbor %s: multihop %d / prepend %d out of range", c.Name, n.Addr, n.Multihop, n.Prepend)
		}
		for _, rm := range []string{n.RouteMapIn, n.RouteMapOut} {
			if rm != "" && !connNameRE.MatchString(rm) {
				return fmt.Errorf("lab: FRR %s: neighbor %s: route-map name %q", c.Name, n.Addr, rm)
			}
		}
		if (n.MED != 0 || n.Prepend > 0) && n.RouteMapOut != "" {
			return fmt.Errorf("lab: FRR %s: neighbor %s: MED/Prepend and RouteMapOut exclude each other", c.Name, n.Addr)
		}
	}
	if c.RouterID == "" {
		for _, n := range c.Neighbors {
			if n.UpdateSource != "" {
				c.RouterID = n.UpdateSource
				break
			}
		}
	}
	if a, err := netip.ParseAddr(c.RouterID); err != nil || !a.Is4() {
		return fmt.Errorf("lab: FRR %s: router ID %q: set RouterID or a neighbor's UpdateSource", c.Name, c.RouterID)
	}
	for _, p := range c.Networks {
		if pp, err := netip.ParsePrefix(p); err != nil || !pp.Addr().Is4() || pp.Masked() != pp {
			return fmt.Errorf("lab: FRR %s: network %q: want a masked IPv4 prefix", c.Name, p)
		}
	}
	return nil
}

// FRRTemplateDir finds testdata/frr: next to the strongSwan template
// directory (Options.TemplateDir, $VPGW_LAB_TEMPLATES or the repository's).
func (l *Lab) FRRTemplateDir() (string, error) {
	tdir := l.opts.TemplateDir
	if tdir == "" {
		var err error
		if tdir, err = TemplateDir(); err != nil {
			return "", err
		}
	}
	d := filepath.Join(filepath.Dir(filepath.Clean(tdir)), "frr")
	if _, err := os.Stat(filepath.Join(d, "bgpd.conf.tmpl")); err != nil {
		return "", fmt.Errorf("lab: FRR templates not found next to %s: %w", tdir, err)
	}
	return d, nil
}

func (l *Lab) writeFRRFiles(c FRRConfig, f *FRR) error {
	tdir, err := l.FRRTemplateDir()
	if err != nil {
		return err
	}
	var ns []frrNeighborView
	for _, n := range c.Neighbors {
		v := frrNeighborView{FRRNeighbor: n}
		if n.Prepend > 0 {
			v.Prepend = strings.TrimSpace(strings.Repeat(fmt.Sprint(c.ASN)+" ", n.Prepend))
		}
		if n.MED != 0 || n.Prepend > 0 {
			v.GenOut = true
			v.RouteMapOut = "LAB-OUT-" + strings.ReplaceAll(n.Addr, ".", "-")
		}
		ns = append(ns, v)
	}
	data := map[string]any{
		"Name": c.Name, "Hostname": "frr-" + c.Name, "ASN": c.ASN, "RouterID": c.RouterID,
		"Neighbors": ns, "Networks": c.Networks,
		"Keepalive": int(c.Keepalive / time.Second), "Hold": int(c.Hold / time.Second),
		"ConnectRetry": int(c.ConnectRetry / time.Second),
		"ExtraConfig":  strings.TrimRight(c.ExtraConfig, "\n"), "ExtraZebraConfig": strings.TrimRight(c.ExtraZebraConfig, "\n"),
	}
	for _, name := range []string{"zebra", "bgpd"} {
		tmpl := name + ".conf.tmpl"
		t, err := template.New(tmpl).Option("missingkey=error").ParseFiles(filepath.Join(tdir, tmpl))
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return fmt.Errorf("lab: %s: %w", tmpl, err)
		}
		if err := os.WriteFile(filepath.Join(f.dir, name+".conf"), b.Bytes(), 0o600); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	return nil
}

// StartFRR writes zebra's and bgpd's configs from testdata/frr and starts
// both daemons in the namespace, in the foreground and tracked by PID (Down
// stops them). No mount namespace is needed: every path is an option (-f
// config, -i pid file, -z zserv socket, --vty_socket dir) under the instance's
// directory, and Vtysh talks to that directory. It returns once bgpd answers.
func (l *Lab) StartFRR(c FRRConfig) (*FRR, error) {
	if err := l.frrDefaults(&c); err != nil {
		return nil, err
	}
	if _, err := user.LookupGroup(frrVTYGroup); err != nil {
		return nil, fmt.Errorf("lab: FRR: group %s missing (install frr: lab/install-deps.sh): %w", frrVTYGroup, err)
	}
	for _, bin := range []string{frrZebra, frrBGPd} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("lab: FRR: %s missing (run lab/install-deps.sh): %w", bin, err)
		}
	}
	f := &FRR{Name: c.Name, NS: l.NS(c.NS), ASN: c.ASN, l: l}
	f.dir = filepath.Join(l.dir, "frr-"+c.Name)
	f.runDir = filepath.Join(f.dir, "run")
	if _, err := os.Stat(f.dir); err == nil {
		return nil, fmt.Errorf("lab: FRR instance %q already exists", c.Name)
	}
	// One bgpd per namespace: a second could not bind TCP 179.
	if out, err := l.run("ip", "netns", "exec", f.NS, "ss", "-Htln", "sport = :179"); err != nil || len(bytes.TrimSpace(out)) > 0 {
		return nil, fmt.Errorf("lab: FRR %s: TCP 179 already in use in %s (another bgpd?): %v %s", c.Name, f.NS, err, bytes.TrimSpace(out))
	}
	if err := os.MkdirAll(f.runDir, 0o700); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if err := l.writeFRRFiles(c, f); err != nil {
		return nil, err
	}
	zserv := filepath.Join(f.runDir, "zserv.api")
	common := func(daemon string) []string {
		return []string{
			"-u", "root", "-g", frrVTYGroup,
			"-f", filepath.Join(f.dir, daemon+".conf"),
			"-i", filepath.Join(f.runDir, daemon+".pid"),
			"-z", zserv,
			"--vty_socket", f.runDir,
			"-P", "0", // no TCP vty
			"--log", "stdout", "--log-level", "info",
		}
	}
	fail := func(err error) (*FRR, error) {
		var tails strings.Builder
		for _, p := range []*Proc{f.BGPd, f.Zebra} {
			if p != nil {
				_ = p.Stop()
				fmt.Fprintf(&tails, "\n--- %s output ---\n%s", p.Name, p.Tail(3000))
			}
		}
		f.cleanTmp()
		return nil, fmt.Errorf("%w%s", err, tails.String())
	}
	z, err := l.Start(c.NS, "frr-"+c.Name+"-zebra", nil, append([]string{frrZebra}, common("zebra")...)...)
	if err != nil {
		return nil, err
	}
	f.Zebra = z
	if err := waitFor(waitReady, z, func() bool {
		return fileExists(zserv) && fileExists(filepath.Join(f.runDir, "zebra.vty"))
	}); err != nil {
		return fail(fmt.Errorf("lab: FRR %s: zebra not ready: %w", c.Name, err))
	}
	b, err := l.Start(c.NS, "frr-"+c.Name+"-bgpd", nil, append([]string{frrBGPd}, append(common("bgpd"), "-p", "179")...)...)
	if err != nil {
		return fail(err)
	}
	f.BGPd = b
	if err := waitFor(waitReady, b, func() bool {
		if !fileExists(filepath.Join(f.runDir, "bgpd.vty")) {
			return false
		}
		out, err := f.vtysh(false, "show running-config")
		return err == nil && bytes.Contains(out, []byte(fmt.Sprintf("router bgp %d", c.ASN)))
	}); err != nil {
		return fail(fmt.Errorf("lab: FRR %s: bgpd not ready: %w", c.Name, err))
	}
	// A config line FRR rejects is only logged ("No such command on config
	// line N: ..."); a typo in ExtraConfig must not go unnoticed.
	var bad []string
	for _, p := range []*Proc{z, b} {
		for _, line := range strings.Split(p.Tail(64<<10), "\n") {
			if strings.Contains(line, "on config line") {
				bad = append(bad, p.Name+": "+strings.TrimSpace(line))
			}
		}
	}
	if len(bad) > 0 {
		return fail(fmt.Errorf("lab: FRR %s: config rejected:\n%s", c.Name, strings.Join(bad, "\n")))
	}
	return f, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Vtysh runs `vtysh -c CMD ...` against this instance (one vtysh session, so
// `configure terminal`, `router bgp N`, ... carry over) and returns its output.
// vtysh exits non-zero when a command fails.
func (f *FRR) Vtysh(cmds ...string) ([]byte, error) { return f.vtysh(true, cmds...) }

func (f *FRR) vtysh(log bool, cmds ...string) ([]byte, error) {
	if len(cmds) == 0 {
		return nil, errors.New("lab: Vtysh: no command")
	}
	args := []string{"--vty_socket", f.runDir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	w := io.Discard
	if log {
		w = f.l.logWriter()
	}
	out, err := runCmd(w, nil, "vtysh", args...)
	if err == nil && bytes.Contains(out, []byte("% Unknown command")) {
		err = fmt.Errorf("lab: vtysh %s: %s", strings.Join(cmds, " / "), bytes.TrimSpace(out))
	}
	return out, err
}

// Announce starts announcing prefix (`network PREFIX`).
func (f *FRR) Announce(prefix string) error { return f.network(prefix, "network ") }

// Withdraw stops announcing prefix (`no network PREFIX`).
func (f *FRR) Withdraw(prefix string) error { return f.network(prefix, "no network ") }

func (f *FRR) network(prefix, cmd string) error {
	pp, err := netip.ParsePrefix(prefix)
	if err != nil || !pp.Addr().Is4() || pp.Masked() != pp {
		return fmt.Errorf("lab: FRR %s: prefix %q: want a masked IPv4 prefix", f.Name, prefix)
	}
	_, err = f.Vtysh("configure terminal", fmt.Sprintf("router bgp %d", f.ASN),
		"address-family ipv4 unicast", cmd+prefix)
	return err
}

// BGPPath is one path of a prefix in FRR's BGP table.
type BGPPath struct {
	Prefix string
	// Peer is the neighbor the path came from; "" for a local one.
	Peer    string
	NextHop string
	// ASPath as FRR prints it ("64512", "" for local paths).
	ASPath string
	// MED is the MULTI_EXIT_DISC; HasMED tells whether the path carries one.
	MED       uint32
	HasMED    bool
	LocalPref uint32
	Origin    string
	Valid     bool
	Best      bool
}

// frrRIBPath is one path in `show ip bgp json` (FRR 8.4).
type frrRIBPath struct {
	Valid     bool    `json:"valid"`
	Best      bool    `json:"bestpath"`
	PathFrom  string  `json:"pathFrom"`
	PeerID    string  `json:"peerId"`
	Path      string  `json:"path"`
	Origin    string  `json:"origin"`
	Metric    *uint32 `json:"metric"`
	LocPrf    uint32  `json:"locPrf"`
	Prefix    string  `json:"prefix"`
	PrefixLen int     `json:"prefixLen"`
	Nexthops  []struct {
		IP string `json:"ip"`
	} `json:"nexthops"`
}

// RIB returns FRR's IPv4 unicast BGP table: every path of every prefix
// (learned and local), by prefix.
func (f *FRR) RIB() (map[string][]BGPPath, error) {
	out, err := f.vtysh(false, "show ip bgp json")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Routes map[string][]frrRIBPath `json:"routes"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("lab: FRR %s: show ip bgp json: %w: %.300s", f.Name, err, out)
	}
	rib := map[string][]BGPPath{}
	for prefix, paths := range doc.Routes {
		for _, p := range paths {
			bp := BGPPath{Prefix: prefix, ASPath: p.Path, Origin: p.Origin, Valid: p.Valid, Best: p.Best, LocalPref: p.LocPrf}
			if p.PeerID != "" && p.PeerID != "(unspec)" && p.PathFrom != "" {
				bp.Peer = p.PeerID
			}
			if p.Metric != nil {
				bp.MED, bp.HasMED = *p.Metric, true
			}
			if len(p.Nexthops) > 0 {
				bp.NextHop = p.Nexthops[0].IP
			}
			rib[prefix] = append(rib[prefix], bp)
		}
		sort.Slice(rib[prefix], func(i, j int) bool { return rib[prefix][i].Peer < rib[prefix][j].Peer })
	}
	return rib, nil
}

// Route returns the paths FRR holds for exactly prefix (none: nil).
func (f *FRR) Route(prefix string) ([]BGPPath, error) {
	rib, err := f.RIB()
	if err != nil {
		return nil, err
	}
	return rib[prefix], nil
}

// PathFrom returns the path of prefix learned from neighbor, if any.
func (f *FRR) PathFrom(prefix, neighbor string) (BGPPath, bool, error) {
	paths, err := f.Route(prefix)
	if err != nil {
		return BGPPath{}, false, err
	}
	for _, p := range paths {
		if p.Peer == neighbor {
			return p, true, nil
		}
	}
	return BGPPath{}, false, nil
}

// WaitRoute polls the BGP table until cond holds for prefix's paths (nil
// when FRR has none) or timeout passes.
func (f *FRR) WaitRoute(prefix string, timeout time.Duration, cond func([]BGPPath) bool) error {
	var last []BGPPath
	err := waitFor(timeout, f.BGPd, func() bool {
		paths, err := f.Route(prefix)
		last = paths
		return err == nil && cond(paths)
	})
	if err != nil {
		return fmt.Errorf("lab: FRR %s: %s: condition not met: %w (last paths %+v)", f.Name, prefix, err, last)
	}
	return nil
}

// FRRPeer is a neighbor's state from `show bgp summary json`.
type FRRPeer struct {
	RemoteAS uint32 `json:"remoteAs"`
	State    string `json:"state"`
	PfxRcd   int    `json:"pfxRcd"`
	PfxSnt   int    `json:"pfxSnt"`
}

// Peers returns the IPv4 unicast neighbors by address.
func (f *FRR) Peers() (map[string]FRRPeer, error) {
	out, err := f.vtysh(false, "show bgp ipv4 unicast summary json")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Peers map[string]FRRPeer `json:"peers"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("lab: FRR %s: summary json: %w: %.300s", f.Name, err, out)
	}
	return doc.Peers, nil
}

// WaitEstablished waits until every given neighbor (default: all) is
// Established.
func (f *FRR) WaitEstablished(timeout time.Duration, neighbors ...string) error {
	var last map[string]FRRPeer
	err := waitFor(timeout, f.BGPd, func() bool {
		peers, err := f.Peers()
		if err != nil {
			return false
		}
		last = peers
		want := neighbors
		if len(want) == 0 {
			for a := range peers {
				want = append(want, a)
			}
		}
		for _, a := range want {
			if peers[a].State != "Established" {
				return false
			}
		}
		return len(want) > 0
	})
	if err != nil {
		return fmt.Errorf("lab: FRR %s: neighbors %v not Established: %w (last %+v)", f.Name, neighbors, err, last)
	}
	return nil
}

// Dir holds the instance's zebra.conf, bgpd.conf and run/ (sockets, pid files).
func (f *FRR) Dir() string { return f.dir }

// Log returns the tail of both daemons' output (their logs go to stdout).
func (f *FRR) Log(n int64) string {
	return "--- zebra ---\n" + f.Zebra.Tail(n) + "\n--- bgpd ---\n" + f.BGPd.Tail(n)
}

// Stop stops bgpd and zebra (SIGTERM: bgpd sends a Cease NOTIFICATION, zebra
// removes its kernel routes), then SIGKILL after the grace period.
func (f *FRR) Stop() error {
	stopAll([]*Proc{f.BGPd, f.Zebra})
	f.cleanTmp()
	var errs []error
	for _, p := range []*Proc{f.BGPd, f.Zebra} {
		if p.Running() {
			errs = append(errs, fmt.Errorf("lab: %s (pid %d) survived SIGKILL", p.Name, p.PID))
		}
	}
	return errors.Join(errs...)
}

// cleanTmp removes the crash-log directories FRR leaves in /var/tmp/frr when
// a daemon did not exit cleanly (only those of this instance's PIDs).
func (f *FRR) cleanTmp() {
	for daemon, p := range map[string]*Proc{"zebra": f.Zebra, "bgpd": f.BGPd} {
		if p != nil && !p.Running() {
			_ = os.RemoveAll(filepath.Join(frrTmpBase, fmt.Sprintf("%s.%d", daemon, p.PID)))
		}
	}
}
