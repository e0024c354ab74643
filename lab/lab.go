// Package lab builds the network-namespace lab used by the end-to-end tests and
// by `make demo`: an on-prem host behind a strongSwan customer gateway, a WAN
// router, the namespace where vpgw runs and a VPC host.
//
//	onprem 172.16.0.10 ── 172.16.0.1 cgw 198.51.100.2 ── 198.51.100.1 wan 203.0.113.1
//	  ── 203.0.113.2/.3 vgw 10.0.0.1 ── 10.0.0.10 vpc
//
// Everything lives inside namespaces named <prefix>-<role>; the veth pairs are
// created directly inside them, so the host's interfaces and routes are never
// touched. All processes the lab starts are tracked by PID and stopped by Down.
package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Roles of the lab's namespaces, in the order they are built.
const (
	RoleOnprem = "onprem"
	RoleCGW    = "cgw"
	RoleWAN    = "wan"
	RoleVGW    = "vgw"
	RoleVPC    = "vpc"
)

// Roles lists every namespace role.
var Roles = []string{RoleOnprem, RoleCGW, RoleWAN, RoleVGW, RoleVPC}

// Addresses of the lab (TEST-NET and RFC 1918, only ever inside the namespaces).
const (
	OnpremIP     = "172.16.0.10"
	CGWLANIP     = "172.16.0.1"
	CGWWANIP     = "198.51.100.2"
	WANCGWSideIP = "198.51.100.1"
	WANVGWSideIP = "203.0.113.1" // also the customer gateway's public address with NAT
	VGWOutside1  = "203.0.113.2" // vpgw tunnel 1
	VGWOutside2  = "203.0.113.3" // vpgw tunnel 2
	VGWVPCIP     = "10.0.0.1"
	VPCIP        = "10.0.0.10"

	OnpremCIDR = "172.16.0.0/24"
	VPCCIDR    = "10.0.0.0/16"
)

// Options parameterise a lab.
type Options struct {
	// Prefix names the namespaces (<Prefix>-onprem, ...). Short, [a-z0-9-],
	// unique per concurrently running lab (go test runs packages in parallel).
	Prefix string
	// NAT masquerades the customer gateway behind the WAN router's address
	// (203.0.113.1) toward vgw, so vpgw sees the CGW through a NAT.
	NAT bool
	// Log receives one line per command the lab runs; nil discards.
	Log io.Writer
	// KeepDir leaves Dir() (configs and logs) in place after Down.
	KeepDir bool
	// TemplateDir overrides where the strongSwan templates are read from
	// (default: $VPGW_LAB_TEMPLATES, then the repository's testdata/strongswan).
	TemplateDir string
}

// Lab is one running topology.
type Lab struct {
	opts Options
	dir  string

	mu      sync.Mutex
	created []string // namespaces made by this lab
	procs   []*Proc
	down    bool
}

var prefixRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,19}$`)

// link is one veth pair; each end is created directly in its namespace.
type link struct {
	aRole, aIf string
	aAddrs     []string
	bRole, bIf string
	bAddrs     []string
}

var links = []link{
	{RoleOnprem, "eth0", []string{OnpremIP + "/24"}, RoleCGW, "lan0", []string{CGWLANIP + "/24"}},
	{RoleCGW, "wan0", []string{CGWWANIP + "/24"}, RoleWAN, "cgw0", []string{WANCGWSideIP + "/24"}},
	{RoleWAN, "vgw0", []string{WANVGWSideIP + "/24"}, RoleVGW, "out0", []string{VGWOutside1 + "/24", VGWOutside2 + "/24"}},
	{RoleVGW, "vpc0", []string{VGWVPCIP + "/24"}, RoleVPC, "eth0", []string{VPCIP + "/24"}},
}

var defaultRoutes = map[string]string{
	RoleOnprem: CGWLANIP,
	RoleCGW:    WANCGWSideIP,
	RoleVGW:    WANVGWSideIP,
	RoleVPC:    VGWVPCIP,
}

var forwarders = []string{RoleCGW, RoleWAN, RoleVGW}

// Up builds the namespaces and links. On error it tears down what it made.
// It refuses to reuse existing namespaces of the same names: call
// CleanupStale(prefix) first to clear leftovers of a crashed run.
func Up(o Options) (*Lab, error) {
	if !prefixRE.MatchString(o.Prefix) {
		return nil, fmt.Errorf("lab: prefix %q: want 1-20 of [a-z0-9-], starting alphanumeric", o.Prefix)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	existing, err := listNetns()
	if err != nil {
		return nil, err
	}
	for _, r := range Roles {
		if existing[nsName(o.Prefix, r)] {
			return nil, fmt.Errorf("lab: namespace %s already exists (leftover? run `vpgw-lab down --prefix %s`)", nsName(o.Prefix, r), o.Prefix)
		}
	}
	dir, err := os.MkdirTemp(tempBase(), "vpgw-lab-"+o.Prefix+"-")
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	l := &Lab{opts: o, dir: dir}
	if err := l.build(); err != nil {
		_ = l.Down()
		return nil, err
	}
	return l, nil
}

// tempBase is the parent of the lab directory. It must not be under /run:
// charon instances bind-mount a subdirectory of it onto /run.
func tempBase() string {
	d := os.TempDir()
	if d == "/run" || strings.HasPrefix(d, "/run/") || d == "/var/run" || strings.HasPrefix(d, "/var/run/") {
		return "/tmp"
	}
	return d
}

func (l *Lab) build() error {
	for _, r := range Roles {
		ns := l.NS(r)
		if _, err := l.run("ip", "netns", "add", ns); err != nil {
			return err
		}
		l.mu.Lock()
		l.created = append(l.created, ns)
		l.mu.Unlock()
		// rp_filter off before any link exists so every interface inherits it
		// (ipsec0 and vpgw's TUNs carry asymmetric traffic).
		if _, err := l.Exec(ns, "sysctl", "-q", "-w",
			"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"); err != nil {
			return err
		}
		// No IPv6: link-local autoconfiguration only adds noise to charon's logs.
		_, _ = l.Exec(ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
		if _, err := l.run("ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	for _, k := range links {
		a, b := l.NS(k.aRole), l.NS(k.bRole)
		if _, err := l.run("ip", "-n", a, "link", "add", k.aIf, "type", "veth", "peer", "name", k.bIf, "netns", b); err != nil {
			return err
		}
		for _, end := range []struct {
			ns, ifname string
			addrs      []string
		}{{a, k.aIf, k.aAddrs}, {b, k.bIf, k.bAddrs}} {
			for _, addr := range end.addrs {
				if _, err := l.run("ip", "-n", end.ns, "addr", "add", addr, "dev", end.ifname); err != nil {
					return err
				}
			}
			if _, err := l.run("ip", "-n", end.ns, "link", "set", end.ifname, "up"); err != nil {
				return err
			}
			// GRO on, as on a VM's virtio-net NIC (a veth has it off): the
			// kernel then coalesces what a UDP_GRO socket (vpgw's and
			// wireguard-go's 4500) and a TSO TUN receive.
			if _, err := l.Exec(end.ns, "ethtool", "-K", end.ifname, "gro", "on"); err != nil {
				return err
			}
		}
	}
	for _, r := range Roles {
		if gw, ok := defaultRoutes[r]; ok {
			if _, err := l.run("ip", "-n", l.NS(r), "route", "add", "default", "via", gw); err != nil {
				return err
			}
		}
	}
	for _, r := range forwarders {
		if _, err := l.Exec(l.NS(r), "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"); err != nil {
			return err
		}
	}
	if l.opts.NAT {
		// The customer gateway appears as the WAN router's 203.0.113.1 toward vgw.
		rules := "table ip vpgwlab {\n" +
			" chain post { type nat hook postrouting priority srcnat; policy accept;\n" +
			"  oifname \"vgw0\" ip saddr 198.51.100.0/24 masquerade\n }\n}\n"
		if err := l.execStdin(l.NS(RoleWAN), rules, "nft", "-f", "-"); err != nil {
			return err
		}
	}
	return nil
}

// NS returns the namespace name for a role ("onprem", "cgw", "wan", "vgw", "vpc").
// Anything else is returned unchanged, so methods taking a namespace accept
// either a role or a full name.
func (l *Lab) NS(role string) string {
	for _, r := range Roles {
		if r == role {
			return nsName(l.opts.Prefix, r)
		}
	}
	return role
}

func nsName(prefix, role string) string { return prefix + "-" + role }

// Prefix returns the lab's namespace prefix.
func (l *Lab) Prefix() string { return l.opts.Prefix }

// NAT reports whether the WAN router masquerades the customer gateway.
func (l *Lab) NAT() bool { return l.opts.NAT }

// CGWPublicIP is the address vgw sees the customer gateway at: its own WAN
// address, or the WAN router's address with NAT.
func (l *Lab) CGWPublicIP() string {
	if l.opts.NAT {
		return WANVGWSideIP
	}
	return CGWWANIP
}

// Dir is the per-lab temporary directory for configs and logs.
func (l *Lab) Dir() string { return l.dir }

// Exec runs a command inside a namespace (role or name) and returns its combined output.
func (l *Lab) Exec(ns string, args ...string) ([]byte, error) {
	return l.run("ip", append([]string{"netns", "exec", l.NS(ns)}, args...)...)
}

func (l *Lab) execStdin(ns, stdin string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	full := append([]string{"netns", "exec", l.NS(ns)}, args...)
	l.logf("ip %s", strings.Join(full, " "))
	cmd := exec.CommandContext(ctx, "ip", full...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("lab: ip %s: %w: %s", strings.Join(full, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

const cmdTimeout = 60 * time.Second

// run executes a short-lived command in the host namespace (all callers wrap it
// in `ip netns exec` or `ip -n` except swanctl, which only talks to a socket).
func (l *Lab) run(name string, args ...string) ([]byte, error) {
	return runCmd(l.logWriter(), nil, name, args...)
}

func runCmd(log io.Writer, env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	fmt.Fprintf(log, "lab: %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("lab: %s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

func (l *Lab) logWriter() io.Writer {
	if l == nil || l.opts.Log == nil {
		return io.Discard
	}
	return l.opts.Log
}

func (l *Lab) logf(format string, a ...any) {
	fmt.Fprintf(l.logWriter(), "lab: "+format+"\n", a...)
}

// Ping sends count pings from a namespace to dst and fails unless all are answered.
func (l *Lab) Ping(fromNS, dst string, count int) error {
	if count < 1 {
		count = 1
	}
	out, err := l.Exec(fromNS, "ping", "-n", "-q", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "1", dst)
	if err != nil {
		return err
	}
	if !bytes.Contains(out, []byte(fmt.Sprintf("%d received", count))) {
		return fmt.Errorf("lab: ping %s from %s: lost replies: %s", dst, fromNS, bytes.TrimSpace(out))
	}
	return nil
}

// WaitPing pings once a second until one ping is answered or timeout passes.
func (l *Lab) WaitPing(fromNS, dst string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := l.Ping(fromNS, dst, 1)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: no ping reply from %s in %v: %w", dst, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Down stops every process the lab started (SIGTERM, then SIGKILL after 5 s),
// kills anything else left in its namespaces, and deletes them. Safe to call twice.
func (l *Lab) Down() error {
	l.mu.Lock()
	if l.down {
		l.mu.Unlock()
		return nil
	}
	l.down = true
	procs := append([]*Proc(nil), l.procs...)
	created := append([]string(nil), l.created...)
	l.mu.Unlock()

	var errs []error
	stopAll(procs)
	for _, p := range procs {
		if p.Running() {
			errs = append(errs, fmt.Errorf("lab: %s (pid %d) survived SIGKILL", p.Name, p.PID))
		}
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := removeNetns(l.logWriter(), created[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if !l.opts.KeepDir && l.dir != "" {
		if err := os.RemoveAll(l.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// listNetns returns the names of all network namespaces (read-only).
func listNetns() (map[string]bool, error) {
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("lab: ip netns list: %w: %s", err, bytes.TrimSpace(out))
	}
	m := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			m[f[0]] = true // "name (id: 3)"
		}
	}
	return m, nil
}

// CleanupStale removes the namespaces <prefix>-<role> left by a crashed run,
// killing the processes inside them first. Only those exact names are touched.
func CleanupStale(prefix string, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	if !prefixRE.MatchString(prefix) {
		return fmt.Errorf("lab: prefix %q: want 1-20 of [a-z0-9-]", prefix)
	}
	existing, err := listNetns()
	if err != nil {
		return err
	}
	var errs []error
	for i := len(Roles) - 1; i >= 0; i-- {
		ns := nsName(prefix, Roles[i])
		if !existing[ns] {
			continue
		}
		fmt.Fprintf(log, "lab: removing stale namespace %s\n", ns)
		if err := removeNetns(log, ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CleanupStale is CleanupStale(prefix, lab's log); l may be nil.
func (l *Lab) CleanupStale(prefix string) {
	if err := CleanupStale(prefix, l.logWriter()); err != nil {
		fmt.Fprintln(l.logWriter(), err)
	}
}

// removeNetns kills what still runs in ns (a netns with live processes would
// survive `ip netns del` invisibly) and deletes it.
func removeNetns(log io.Writer, ns string) error {
	killPIDs(log, netnsPIDs(ns))
	_, err := runCmd(log, nil, "ip", "netns", "del", ns)
	return err
}

func netnsPIDs(ns string) []int {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
	}
	return pids
}
