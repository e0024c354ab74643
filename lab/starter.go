package lab

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// StarterConfig describes a customer gateway run the legacy way: strongSwan's
// starter reads an ipsec.conf and ipsec.secrets (for example what `vpgw config
// download --device strongswan-ipsec` produced) and runs charon with the
// stroke plugin. It always runs in the cgw namespace.
type StarterConfig struct {
	// Name of the instance (its directory and log); default "cgw".
	Name string
	// IPsecConf and IPsecSecrets are used verbatim.
	IPsecConf, IPsecSecrets string
	// Conns names the connections (and their CHILD_SAs) for WaitChild and
	// friends; default every `conn` section of IPsecConf but %default.
	Conns []string
	// Routes are the prefixes routed into ipsec0 in the main table; default
	// the VPC (10.0.0.0/16).
	Routes []string
}

// StartStarter writes ipsec.conf, ipsec.secrets and a strongswan.conf (from
// starter-strongswan.conf.tmpl: the lab's charon settings plus the stroke
// plugin) and runs `starter --nofork` in the cgw namespace, in a private mount
// namespace with its own /run like StartCharon. starter starts charon as its
// child and stops it on SIGTERM, so Stop and Down end both. The returned
// Charon's Swanctl, WaitChild and ChildInstalled work through charon's vici
// socket; its Proc is starter's.
func (l *Lab) StartStarter(c StarterConfig) (*Charon, error) {
	setDefault(&c.Name, RoleCGW)
	if !connNameRE.MatchString(c.Name) {
		return nil, fmt.Errorf("lab: starter name %q: want [A-Za-z0-9_-]", c.Name)
	}
	if strings.TrimSpace(c.IPsecConf) == "" {
		return nil, fmt.Errorf("lab: starter %s: empty ipsec.conf", c.Name)
	}
	if len(c.Conns) == 0 {
		c.Conns = ipsecConfConns(c.IPsecConf)
	}
	if len(c.Conns) == 0 {
		return nil, fmt.Errorf("lab: starter %s: ipsec.conf holds no conn section", c.Name)
	}
	for _, n := range c.Conns {
		if !connNameRE.MatchString(n) {
			return nil, fmt.Errorf("lab: starter %s: connection name %q: want [A-Za-z0-9_-]", c.Name, n)
		}
	}
	setDefaults(&c.Routes, VPCCIDR)
	for _, r := range c.Routes {
		if _, err := netip.ParsePrefix(r); err != nil {
			return nil, fmt.Errorf("lab: starter %s: route %q: %w", c.Name, r, err)
		}
	}

	ch := &Charon{Name: c.Name, NS: l.NS(RoleCGW), Conns: c.Conns, l: l}
	ch.dir = filepath.Join(l.dir, "starter-"+c.Name)
	ch.conf = filepath.Join(ch.dir, "strongswan.conf")
	ch.swanDir = ch.dir // swanctl only talks to vici here; it loads no swanctl.conf
	ch.logPath = filepath.Join(ch.dir, "charon.log")
	runDir := filepath.Join(ch.dir, "run")
	ipsecConf := filepath.Join(ch.dir, "ipsec.conf")
	ipsecSecrets := filepath.Join(ch.dir, "ipsec.secrets")

	if err := waitFor(5*time.Second, nil, func() bool {
		_, err := l.run("ip", "-n", ch.NS, "link", "show", "ipsec0")
		return err != nil
	}); err != nil {
		return nil, fmt.Errorf("lab: starter %s: ipsec0 exists in %s: another charon still runs there", c.Name, ch.NS)
	}
	if _, err := os.Stat(ch.dir); err == nil {
		return nil, fmt.Errorf("lab: starter instance %q already exists", c.Name)
	}
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	// 0600: ipsec.secrets holds the PSKs.
	if err := os.WriteFile(ipsecConf, []byte(c.IPsecConf), 0o600); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if err := os.WriteFile(ipsecSecrets, []byte(c.IPsecSecrets), 0o600); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if err := l.writeStarterConf(c, ch, runDir, ipsecConf, ipsecSecrets); err != nil {
		return nil, err
	}

	env := []string{"STRONGSWAN_CONF=" + ch.conf}
	// `ip netns exec`, unshare and `sh -c exec` each hand over: the PID is starter's.
	p, err := l.Start(RoleCGW, "starter-"+c.Name, env, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", `mount --bind "$1" /run && exec /usr/lib/ipsec/starter --nofork --conf "$2"`, "sh", runDir, ipsecConf)
	if err != nil {
		return nil, err
	}
	ch.Proc = p
	fail := func(err error) (*Charon, error) {
		_ = p.Stop()
		return nil, fmt.Errorf("%w\n--- starter output ---\n%s\n--- charon log ---\n%s", err, p.Tail(2000), tailFile(ch.logPath, 4000))
	}
	// charon's vici socket appears once starter has started it.
	if err := waitFor(waitReady, p, func() bool {
		_, err := os.Stat(filepath.Join(runDir, "charon.vici"))
		return err == nil
	}); err != nil {
		return fail(fmt.Errorf("lab: starter %s: charon's vici socket: %w", c.Name, err))
	}
	// The routes leave from the CGW's LAN address (172.16.0.1), which lies in
	// the on-prem selectors, so the gateway's own traffic matches the policy.
	conns := []CharonConn{{LocalTS: []string{OnpremCIDR}}}
	if err := l.routeIntoIPsec0(ch, p, CharonConfig{Name: c.Name, Routes: c.Routes, Connections: conns}); err != nil {
		return fail(err)
	}
	return ch, nil
}

func (l *Lab) writeStarterConf(c StarterConfig, ch *Charon, runDir, ipsecConf, ipsecSecrets string) error {
	tdir := l.opts.TemplateDir
	if tdir == "" {
		var err error
		if tdir, err = TemplateDir(); err != nil {
			return err
		}
	}
	const name = "starter-strongswan.conf.tmpl"
	t, err := template.New(name).Option("missingkey=error").ParseFiles(filepath.Join(tdir, name))
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	data := map[string]any{
		"Name": c.Name, "RunDir": runDir, "LogPath": ch.logPath,
		"IPsecConf": ipsecConf, "IPsecSecrets": ipsecSecrets,
		"RoutingPrio":       routingRulePrio,
		"RetransmitTimeout": retransmitTimeout, "RetransmitBase": retransmitBase, "RetransmitTries": retransmitTries,
		"IKELevel": 2, "CfgLevel": 1, "KnlLevel": 1, "NetLevel": 1, "EncLevel": 0, "ESPLevel": 1,
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return fmt.Errorf("lab: %s: %w", name, err)
	}
	if err := os.WriteFile(ch.conf, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// ipsecConfConns lists the names of an ipsec.conf's conn sections, but %default.
func ipsecConfConns(conf string) []string {
	var names []string
	sc := bufio.NewScanner(strings.NewReader(conf))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == ' ' || line[0] == '\t' || line[0] == '#' {
			continue
		}
		// A section starts in column 0: "config setup", "conn NAME", "ca NAME".
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "conn" && f[1] != "%default" {
			names = append(names, f[1])
		}
	}
	return names
}
