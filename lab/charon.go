package lab

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"text/template"
	"time"
)

// CharonConfig describes one strongSwan (charon) instance. The zero value plus
// a PSK is the customer gateway: IKEv2 from 198.51.100.2 to vpgw's tunnel 1
// (203.0.113.2), 172.16.0.0/24 <-> 10.0.0.0/16, initiating on load.
type CharonConfig struct {
	// NS is the namespace role (or name) to run in; default "cgw".
	NS string
	// Name of the instance (its directory and log); default the role.
	Name string
	// IKEVersion is 2 (default) or 1.
	IKEVersion int
	// PSK for every connection that does not set its own. Never logged.
	PSK string
	// IKEProposal and ESPProposal in swanctl syntax; defaults
	// aes128-sha256-modp2048 and aes128gcm16 (add -modp2048 for PFS).
	IKEProposal, ESPProposal string
	// LocalAddr is the instance's IKE address; default its role's WAN address
	// (cgw 198.51.100.2, vgw 203.0.113.2).
	LocalAddr string
	// LocalTS and RemoteTS are the CHILD_SA selectors; defaults by role
	// (cgw: 172.16.0.0/24 and 10.0.0.0/16; vgw: the reverse).
	LocalTS, RemoteTS []string
	// RemoteAddrs makes one connection per address, named t1, t2, ...
	// Default: cgw → [203.0.113.2]; vgw → [the CGW's public IP].
	// Ignored when Connections is set.
	RemoteAddrs []string
	// Connections, when set, lists the connections explicitly (one per vpgw
	// tunnel); empty fields take the values above.
	Connections []CharonConn
	// StartAction of every CHILD_SA: "start" (initiate on load; default for
	// cgw), "none" (respond only; default elsewhere) or "trap".
	StartAction string
	// DPDAction: default "restart" when StartAction is start, else "clear".
	DPDAction string
	// DPDDelay enables liveness checks; 0 leaves them off.
	DPDDelay time.Duration
	// DPDTimeout is swanctl's dpd_timeout (IKEv1 only; IKEv2 uses
	// retransmission timeouts); 0 keeps strongSwan's default.
	DPDTimeout time.Duration
	// Rekey timers; 0 keeps strongSwan's defaults (4h IKE, 1h CHILD).
	IKERekeyTime, ChildRekeyTime, ChildLifeTime time.Duration
	// KeyingTries as in swanctl.conf; 0 means forever, like a real CGW that
	// keeps trying until vpgw answers.
	KeyingTries int
	// Initiate runs `swanctl --initiate --child` for every connection after
	// loading, and fails if any does not come up (use with StartAction "none").
	Initiate bool
	// Routes are the prefixes routed into ipsec0 in the main table; default
	// the remote selectors except 0.0.0.0/0 (which would swallow the WAN).
	Routes []string
	// Debug raises the log to level 4 (ike, enc): SKEYSEED, keys, raw packets.
	Debug bool
	// SwanctlConf, when set, is used verbatim as swanctl.conf (e.g. the file
	// `vpgw config download --device strongswan-swanctl` produced) instead
	// of the template; Connections then only name its CHILD_SAs (and add
	// the inside addresses and routes they describe).
	SwanctlConf string
}

// CharonConn is one IKE connection with one CHILD_SA, both named Name.
type CharonConn struct {
	Name       string
	LocalAddr  string
	RemoteAddr string
	// LocalID and RemoteID default to the addresses (the cgw's LocalID to its
	// public address, 203.0.113.1 with NAT); "%any" accepts any peer ID.
	LocalID, RemoteID string
	PSK               string
	LocalTS, RemoteTS []string
	// DPDDelay overrides CharonConfig.DPDDelay for this connection.
	DPDDelay time.Duration
	// InsideLocal and InsideRemote are the tunnel's inside (BGP peering)
	// addresses, e.g. 169.254.10.2 and 169.254.10.1 on the customer gateway
	// for AWS's tunnel 1 inside CIDR 169.254.10.0/30. Set both or neither.
	// They add InsideLocal/32 to LocalTS and InsideRemote/32 to RemoteTS,
	// put InsideLocal/32 on the namespace's lo before charon starts
	// (kernel-libipsec wants a local address inside every local selector)
	// and route InsideRemote/32 into ipsec0 with source InsideLocal.
	InsideLocal, InsideRemote string
}

// Charon is a running charon instance.
type Charon struct {
	Name  string
	NS    string
	Proc  *Proc
	Conns []string

	l       *Lab
	dir     string
	conf    string // strongswan.conf
	swanDir string
	logPath string
}

var (
	connNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	idRE       = regexp.MustCompile(`^[A-Za-z0-9.:@%_-]{1,128}$`)
)

const (
	retransmitTimeout = 2 // seconds
	retransmitBase    = 1.4
	retransmitTries   = 3
	// The rule for charon's table 220 sits after main (32766) and default (32767).
	routingRulePrio = 32800
	waitReady       = 15 * time.Second
)

// StartCharon writes the instance's strongswan.conf and swanctl.conf from the
// templates, starts charon in its namespace in a private mount namespace with
// its own /run (two charons cannot share one: the pid file path is compiled in),
// waits for the vici socket, loads the config and routes the remote prefixes
// into ipsec0.
func (l *Lab) StartCharon(c CharonConfig) (*Charon, error) {
	if err := l.charonDefaults(&c); err != nil {
		return nil, err
	}
	ch := &Charon{Name: c.Name, NS: l.NS(c.NS), l: l}
	ch.dir = filepath.Join(l.dir, "charon-"+c.Name)
	ch.conf = filepath.Join(ch.dir, "strongswan.conf")
	ch.swanDir = filepath.Join(ch.dir, "swanctl")
	ch.logPath = filepath.Join(ch.dir, "charon.log")
	runDir := filepath.Join(ch.dir, "run")
	// One charon per namespace: a second would fight over UDP 500/4500 and
	// ipsec0. A charon that was just stopped may take a moment to let go.
	if err := waitFor(5*time.Second, nil, func() bool {
		_, err := l.run("ip", "-n", ch.NS, "link", "show", "ipsec0")
		return err != nil
	}); err != nil {
		return nil, fmt.Errorf("lab: charon %s: ipsec0 exists in %s: another charon still runs there", c.Name, ch.NS)
	}
	if _, err := os.Stat(ch.dir); err == nil {
		return nil, fmt.Errorf("lab: charon instance %q already exists", c.Name)
	}
	for _, d := range []string{runDir, ch.swanDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
	}
	for _, cn := range c.Connections {
		ch.Conns = append(ch.Conns, cn.Name)
	}
	if err := l.writeCharonFiles(c, ch, runDir); err != nil {
		return nil, err
	}

	// kernel-libipsec wants a local address inside every local selector: the
	// inside addresses live on lo (a /32 adds no route that could compete
	// with the one into ipsec0).
	for _, cn := range c.Connections {
		if cn.InsideLocal != "" {
			if _, err := l.run("ip", "-n", ch.NS, "addr", "replace", cn.InsideLocal+"/32", "dev", "lo"); err != nil {
				return nil, err
			}
		}
	}

	env := []string{"STRONGSWAN_CONF=" + ch.conf}
	p, err := l.Start(c.NS, "charon-"+c.Name, env, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", `mount --bind "$1" /run && exec /usr/lib/ipsec/charon`, "sh", runDir)
	if err != nil {
		return nil, err
	}
	ch.Proc = p
	fail := func(err error) (*Charon, error) {
		_ = p.Stop()
		return nil, fmt.Errorf("%w\n--- charon output ---\n%s\n--- charon log ---\n%s", err, p.Tail(2000), tailFile(ch.logPath, 4000))
	}
	if err := waitFor(waitReady, p, func() bool {
		_, err := os.Stat(filepath.Join(runDir, "charon.vici"))
		return err == nil
	}); err != nil {
		return fail(fmt.Errorf("lab: charon %s: vici socket: %w", c.Name, err))
	}
	if _, err := ch.Swanctl("--load-all", "--noprompt", "--file", filepath.Join(ch.swanDir, "swanctl.conf")); err != nil {
		return fail(err)
	}
	if err := l.routeIntoIPsec0(ch, p, c); err != nil {
		return fail(err)
	}
	if c.Initiate {
		for _, name := range ch.Conns {
			if err := ch.Initiate(name, 30*time.Second); err != nil {
				return fail(err)
			}
		}
	}
	return ch, nil
}

func (l *Lab) charonDefaults(c *CharonConfig) error {
	if c.NS == "" {
		c.NS = RoleCGW
	}
	// Defaults are filled into a copy: the caller's Connections stay as given.
	c.Connections = append([]CharonConn(nil), c.Connections...)
	role := ""
	for _, r := range Roles {
		if l.NS(r) == l.NS(c.NS) {
			role = r
		}
	}
	if c.Name == "" {
		c.Name = role
	}
	if !connNameRE.MatchString(c.Name) {
		return fmt.Errorf("lab: charon name %q: want [A-Za-z0-9_-]", c.Name)
	}
	if c.IKEVersion == 0 {
		c.IKEVersion = 2
	}
	if c.IKEVersion != 1 && c.IKEVersion != 2 {
		return fmt.Errorf("lab: IKE version %d", c.IKEVersion)
	}
	if c.IKEProposal == "" {
		c.IKEProposal = "aes128-sha256-modp2048"
	}
	if c.ESPProposal == "" {
		c.ESPProposal = "aes128gcm16"
	}
	var remote []string
	switch role {
	case RoleCGW:
		setDefault(&c.LocalAddr, CGWWANIP)
		setDefaults(&c.LocalTS, OnpremCIDR)
		setDefaults(&c.RemoteTS, VPCCIDR)
		remote = []string{VGWOutside1}
		setDefault(&c.StartAction, "start")
	case RoleVGW:
		setDefault(&c.LocalAddr, VGWOutside1)
		setDefaults(&c.LocalTS, VPCCIDR)
		setDefaults(&c.RemoteTS, OnpremCIDR)
		remote = []string{l.CGWPublicIP()}
	}
	setDefault(&c.StartAction, "none")
	if c.DPDAction == "" {
		c.DPDAction = "clear"
		if c.StartAction == "start" {
			c.DPDAction = "restart"
		}
	}
	if len(c.RemoteAddrs) == 0 {
		c.RemoteAddrs = remote
	}
	if len(c.Connections) == 0 {
		for i, a := range c.RemoteAddrs {
			c.Connections = append(c.Connections, CharonConn{Name: fmt.Sprintf("t%d", i+1), RemoteAddr: a})
		}
	}
	if len(c.Connections) == 0 {
		return errors.New("lab: charon needs RemoteAddrs or Connections")
	}
	seen := map[string]bool{}
	for i := range c.Connections {
		cn := &c.Connections[i]
		setDefault(&cn.LocalAddr, c.LocalAddr)
		if role == RoleCGW {
			// Behind NAT the CGW identifies as its public (NAT) address, as
			// AWS's configuration guides tell customers to.
			setDefault(&cn.LocalID, l.CGWPublicIP())
		}
		setDefault(&cn.LocalID, cn.LocalAddr)
		setDefault(&cn.RemoteID, cn.RemoteAddr)
		setDefault(&cn.PSK, c.PSK)
		setDefaults(&cn.LocalTS, c.LocalTS...)
		setDefaults(&cn.RemoteTS, c.RemoteTS...)
		if err := addInsideSelectors(cn); err != nil {
			return err
		}
		if !connNameRE.MatchString(cn.Name) || seen[cn.Name] {
			return fmt.Errorf("lab: connection name %q: want unique [A-Za-z0-9_-]", cn.Name)
		}
		seen[cn.Name] = true
		for _, a := range []string{cn.LocalAddr, cn.RemoteAddr} {
			if _, err := netip.ParseAddr(a); err != nil {
				return fmt.Errorf("lab: connection %s: address %q: %w", cn.Name, a, err)
			}
		}
		for _, id := range []string{cn.LocalID, cn.RemoteID} {
			if !idRE.MatchString(id) {
				return fmt.Errorf("lab: connection %s: bad identity %q", cn.Name, id)
			}
		}
		if c.SwanctlConf == "" && cn.PSK == "" || strings.ContainsAny(cn.PSK, "\"\\\n\r") {
			return fmt.Errorf("lab: connection %s: PSK empty or holds a quote, backslash or newline", cn.Name)
		}
		for _, p := range append(append([]string(nil), cn.LocalTS...), cn.RemoteTS...) {
			if _, err := netip.ParsePrefix(p); err != nil {
				return fmt.Errorf("lab: connection %s: selector %q: %w", cn.Name, p, err)
			}
		}
		if len(cn.LocalTS) == 0 || len(cn.RemoteTS) == 0 {
			return fmt.Errorf("lab: connection %s: traffic selectors missing", cn.Name)
		}
	}
	if c.Routes == nil {
		seen := map[string]bool{}
		for _, cn := range c.Connections {
			for _, p := range cn.RemoteTS {
				if pp := netip.MustParsePrefix(p); pp.Bits() > 0 && !seen[p] {
					seen[p] = true
					c.Routes = append(c.Routes, pp.Masked().String())
				}
			}
		}
	}
	return nil
}

// addInsideSelectors checks a connection's inside addresses and adds their
// /32 selectors (to fresh slices: the TS slices may be shared).
func addInsideSelectors(cn *CharonConn) error {
	if cn.InsideLocal == "" && cn.InsideRemote == "" {
		return nil
	}
	if cn.InsideLocal == "" || cn.InsideRemote == "" {
		return fmt.Errorf("lab: connection %s: set both InsideLocal and InsideRemote, or neither", cn.Name)
	}
	for _, a := range []string{cn.InsideLocal, cn.InsideRemote} {
		if ip, err := netip.ParseAddr(a); err != nil || !ip.Is4() {
			return fmt.Errorf("lab: connection %s: inside address %q: want an IPv4 address (no prefix length)", cn.Name, a)
		}
	}
	cn.LocalTS = appendHostTS(cn.LocalTS, cn.InsideLocal)
	cn.RemoteTS = appendHostTS(cn.RemoteTS, cn.InsideRemote)
	return nil
}

// appendHostTS returns ts plus addr/32 unless ts already lists exactly that.
func appendHostTS(ts []string, addr string) []string {
	host := addr + "/32"
	out := append([]string(nil), ts...)
	for _, p := range ts {
		if p == host {
			return out
		}
	}
	return append(out, host)
}

func setDefault(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

func setDefaults(s *[]string, v ...string) {
	if len(*s) == 0 {
		*s = append([]string(nil), v...)
	}
}

// TemplateDir finds testdata/strongswan: $VPGW_LAB_TEMPLATES, then next to
// this source file (tests, go run, binaries built in the tree), then upward
// from the working directory.
func TemplateDir() (string, error) {
	var cands []string
	if d := os.Getenv("VPGW_LAB_TEMPLATES"); d != "" {
		cands = append(cands, d)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		cands = append(cands, filepath.Join(filepath.Dir(file), "..", "testdata", "strongswan"))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			cands = append(cands, filepath.Join(d, "testdata", "strongswan"))
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	for _, d := range cands {
		if _, err := os.Stat(filepath.Join(d, "swanctl.conf.tmpl")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("lab: strongSwan templates (testdata/strongswan) not found; set VPGW_LAB_TEMPLATES")
}

func (l *Lab) writeCharonFiles(c CharonConfig, ch *Charon, runDir string) error {
	tdir := l.opts.TemplateDir
	if tdir == "" {
		var err error
		if tdir, err = TemplateDir(); err != nil {
			return err
		}
	}
	levels := map[string]int{"IKELevel": 2, "CfgLevel": 1, "KnlLevel": 1, "NetLevel": 1, "EncLevel": 0, "ESPLevel": 1}
	if c.Debug {
		levels = map[string]int{"IKELevel": 4, "CfgLevel": 2, "KnlLevel": 2, "NetLevel": 2, "EncLevel": 4, "ESPLevel": 2}
	}
	data := map[string]any{
		"Name": c.Name, "RunDir": runDir, "LogPath": ch.logPath,
		"RoutingPrio":       routingRulePrio,
		"RetransmitTimeout": retransmitTimeout, "RetransmitBase": retransmitBase, "RetransmitTries": retransmitTries,
		"IKEVersion": c.IKEVersion, "IKEProposal": c.IKEProposal, "ESPProposal": c.ESPProposal,
		"KeyingTries": c.KeyingTries, "StartAction": c.StartAction, "DPDAction": c.DPDAction,
		"DPDDelay": swanDur(c.DPDDelay), "DPDTimeout": swanDur(c.DPDTimeout), "IKERekeyTime": swanDur(c.IKERekeyTime),
		"ChildRekeyTime": swanDur(c.ChildRekeyTime), "ChildLifeTime": swanDur(c.ChildLifeTime),
		"Conns": c.Connections,
	}
	for k, v := range levels {
		data[k] = v
	}
	funcs := template.FuncMap{
		"dur":   swanDur,
		"join":  func(s []string) string { return strings.Join(s, ", ") },
		"quote": func(s string) string { return `"` + s + `"` },
	}
	files := []struct{ tmpl, out string }{
		{"strongswan.conf.tmpl", ch.conf},
		{"swanctl.conf.tmpl", filepath.Join(ch.swanDir, "swanctl.conf")},
	}
	if c.SwanctlConf != "" {
		if err := os.WriteFile(files[1].out, []byte(c.SwanctlConf), 0o600); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		files = files[:1]
	}
	for _, f := range files {
		t, err := template.New(f.tmpl).Funcs(funcs).Option("missingkey=error").ParseFiles(filepath.Join(tdir, f.tmpl))
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return fmt.Errorf("lab: %s: %w", f.tmpl, err)
		}
		// 0600: swanctl.conf holds the PSKs.
		if err := os.WriteFile(f.out, b.Bytes(), 0o600); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	return nil
}

// swanDur formats a duration for swanctl.conf; "" for zero.
func swanDur(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf("%ds", int64((d+time.Second-1)/time.Second))
}

// routeIntoIPsec0 routes the remote prefixes into kernel-libipsec's TUN in the
// main table: charon's own table-220 routes sit after main (see the rule
// priority), so without these the default route would win.
func (l *Lab) routeIntoIPsec0(ch *Charon, p *Proc, c CharonConfig) error {
	if len(c.Routes) == 0 {
		return nil
	}
	if err := waitFor(waitReady, p, func() bool {
		out, err := l.run("ip", "-n", ch.NS, "-o", "link", "show", "ipsec0")
		return err == nil && bytes.Contains(out, []byte(",UP"))
	}); err != nil {
		return fmt.Errorf("lab: charon %s: ipsec0 did not come up: %w", c.Name, err)
	}
	for _, r := range c.Routes {
		args := []string{"-n", ch.NS, "route", "replace", r, "dev", "ipsec0"}
		if src := routeSrc(c.Connections, r); src != "" {
			args = append(args, "src", src)
		}
		if _, err := l.run("ip", args...); err != nil {
			return err
		}
	}
	return nil
}

// routeSrc picks the source address for a route into ipsec0: the connection
// whose remote selectors hold the route decides; a route to its InsideRemote
// gets its InsideLocal (so BGP between the inside addresses matches that
// tunnel's /32 policy), any other route the lab's LAN/VPC address in its local
// selectors. Routes no connection covers fall back to the first connection.
func routeSrc(conns []CharonConn, route string) string {
	r, err := netip.ParsePrefix(route)
	if err != nil || len(conns) == 0 {
		return ""
	}
	r = r.Masked()
	for _, cn := range conns {
		if cn.InsideRemote != "" {
			if a, err := netip.ParseAddr(cn.InsideRemote); err == nil && r.Bits() == 32 && r.Addr() == a {
				return cn.InsideLocal
			}
		}
	}
	for _, cn := range conns {
		for _, p := range cn.RemoteTS {
			if pp, err := netip.ParsePrefix(p); err == nil && pp.Bits() <= r.Bits() && pp.Contains(r.Addr()) {
				return localAddrIn(cn.LocalTS)
			}
		}
	}
	return localAddrIn(conns[0].LocalTS)
}

// localAddrIn picks the lab's own inside address that lies in the local
// selectors, so traffic the gateway itself sends matches the policy.
func localAddrIn(ts []string) string {
	for _, a := range []string{CGWLANIP, VGWVPCIP} {
		addr := netip.MustParseAddr(a)
		for _, p := range ts {
			if pp, err := netip.ParsePrefix(p); err == nil && pp.Bits() > 0 && pp.Contains(addr) {
				return a
			}
		}
	}
	return ""
}

// waitFor polls cond every 100 ms until it holds, the process exits, or timeout.
func waitFor(timeout time.Duration, p *Proc, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		if p != nil && !p.Running() {
			return fmt.Errorf("process exited: %v", p.Err())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Swanctl runs swanctl against this instance (from the host mount namespace,
// through the instance's vici socket) and returns its combined output.
func (c *Charon) Swanctl(args ...string) ([]byte, error) {
	return runCmd(c.l.logWriter(), []string{"STRONGSWAN_CONF=" + c.conf, "SWANCTL_DIR=" + c.swanDir}, "swanctl", args...)
}

// LogPath is charon's file log.
func (c *Charon) LogPath() string { return c.logPath }

// Dir holds the instance's strongswan.conf, swanctl/ and run/.
func (c *Charon) Dir() string { return c.dir }

// Initiate brings up one connection's CHILD_SA and waits for the result.
func (c *Charon) Initiate(child string, timeout time.Duration) error {
	_, err := c.Swanctl("--initiate", "--child", child, "--timeout", fmt.Sprint(int(timeout.Seconds())))
	return err
}

// Terminate closes a connection's IKE_SA (and its CHILD_SAs).
func (c *Charon) Terminate(ike string) error {
	_, err := c.Swanctl("--terminate", "--ike", ike, "--timeout", "10")
	return err
}

// ChildInstalled reports whether a CHILD_SA of that name is INSTALLED.
func (c *Charon) ChildInstalled(child string) (bool, error) {
	out, err := c.Swanctl("--list-sas", "--noblock", "--child", child, "--raw")
	if err != nil {
		return false, err
	}
	return bytes.Contains(out, []byte("name="+child+" ")) && bytes.Contains(out, []byte("state=INSTALLED")), nil
}

// WaitChild waits until the named CHILD_SA is installed.
func (c *Charon) WaitChild(child string, timeout time.Duration) error {
	err := waitFor(timeout, c.Proc, func() bool {
		ok, _ := c.ChildInstalled(child)
		return ok
	})
	if err != nil {
		return fmt.Errorf("lab: charon %s: CHILD_SA %s not installed: %w", c.Name, child, err)
	}
	return nil
}

// Stop stops this charon (SIGTERM lets it send DELETEs first).
func (c *Charon) Stop() error { return c.Proc.Stop() }

// BGPCustomerGatewayCharon is the strongSwan side of a customer gateway with
// dynamic routing: tunnel t1 to vpgw's 203.0.113.2 (psk1) and t2 to
// 203.0.113.3 (psk2), each carrying 172.16.0.0/24 <-> 10.0.0.0/16 plus its
// inside addresses (169.254.10.2 <-> .1, 169.254.11.2 <-> .1) for BGP. Only
// the peers' inside /32s are routed into ipsec0 statically: the route to the
// VPC comes from BGP (BGPCustomerGatewayFRR, run next to it, has zebra
// install it via the preferred tunnel's inside address). Adjust fields (DPD,
// selectors, Routes) before passing it to StartCharon.
func BGPCustomerGatewayCharon(psk1, psk2 string) CharonConfig {
	return CharonConfig{
		NS:     RoleCGW,
		Routes: []string{Tunnel1VGWInside + "/32", Tunnel2VGWInside + "/32"},
		Connections: []CharonConn{
			{Name: "t1", RemoteAddr: VGWOutside1, PSK: psk1, InsideLocal: Tunnel1CGWInside, InsideRemote: Tunnel1VGWInside},
			{Name: "t2", RemoteAddr: VGWOutside2, PSK: psk2, InsideLocal: Tunnel2CGWInside, InsideRemote: Tunnel2VGWInside},
		},
	}
}
