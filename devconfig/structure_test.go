package devconfig

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Structural checks of the strongSwan outputs, standing in for loading
// them into charon (swanctl --load-all needs a running daemon; the lab
// does that). parseSwanctl reads the strongswan.conf-style syntax that
// swanctl.conf uses: "name {" ... "}" sections and "key = value" lines.

type swNode struct {
	kv  map[string]string
	sub map[string]*swNode
}

var (
	swSectionRE = regexp.MustCompile(`^([A-Za-z0-9_.-]+)\s*\{$`)
	swKeyRE     = regexp.MustCompile(`^([A-Za-z0-9_.-]+)\s*=\s*(.*)$`)
)

func parseSwanctl(text string) (*swNode, error) {
	newNode := func() *swNode { return &swNode{kv: map[string]string{}, sub: map[string]*swNode{}} }
	root := newNode()
	stack := []*swNode{root}
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		if j := strings.IndexByte(line, '#'); j >= 0 && !strings.Contains(line[:j], `"`) {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		cur := stack[len(stack)-1]
		switch m, k := swSectionRE.FindStringSubmatch(line), swKeyRE.FindStringSubmatch(line); {
		case line == "":
		case line == "}":
			if len(stack) == 1 {
				return nil, fmt.Errorf("line %d: unbalanced }", n)
			}
			stack = stack[:len(stack)-1]
		case m != nil:
			if _, dup := cur.sub[m[1]]; dup {
				return nil, fmt.Errorf("line %d: section %s twice", n, m[1])
			}
			nn := newNode()
			cur.sub[m[1]] = nn
			stack = append(stack, nn)
		case k != nil:
			if _, dup := cur.kv[k[1]]; dup {
				return nil, fmt.Errorf("line %d: key %s twice", n, k[1])
			}
			v := k[2]
			if v == "" {
				return nil, fmt.Errorf("line %d: %s has no value", n, k[1])
			}
			if strings.HasPrefix(v, `"`) {
				if len(v) < 2 || !strings.HasSuffix(v, `"`) || strings.Count(v, `"`) != 2 {
					return nil, fmt.Errorf("line %d: bad quoting in %q", n, v)
				}
				v = v[1 : len(v)-1]
			} else if strings.ContainsAny(v, `"{}`) || strings.Contains(v, " ") {
				return nil, fmt.Errorf("line %d: unquoted value %q holds spaces, quotes or braces", n, v)
			}
			cur.kv[k[1]] = v
		default:
			return nil, fmt.Errorf("line %d: neither section, key = value nor }: %q", n, line)
		}
	}
	if len(stack) != 1 {
		return nil, fmt.Errorf("%d unclosed sections", len(stack)-1)
	}
	return root, nil
}

func TestSwanctlParser(t *testing.T) {
	for _, bad := range []string{
		"connections {\n",
		"}\n",
		"a {\n b = 1\n b = 2\n}\n",
		"a {\n b 1\n}\n",
		"a {\n b = \"x\n}\n",
		"a {\n b =\n}\n",
	} {
		if _, err := parseSwanctl(bad); err == nil {
			t.Errorf("parseSwanctl(%q): no error", bad)
		}
	}
}

// checkSwanctl checks the structure and content of a swanctl.conf for c.
func checkSwanctl(t *testing.T, out string, c Connection, opt Options) {
	t.Helper()
	root, err := parseSwanctl(out)
	if err != nil {
		t.Fatalf("swanctl.conf does not parse: %v", err)
	}
	if len(root.kv) != 0 || len(root.sub) != 2 || root.sub["connections"] == nil || root.sub["secrets"] == nil {
		t.Fatalf("top level: want exactly connections and secrets sections")
	}
	conns, secrets := root.sub["connections"].sub, root.sub["secrets"].sub
	if len(conns) != 2 || len(secrets) != 2 {
		t.Fatalf("%d connections, %d secrets; want 2 each", len(conns), len(secrets))
	}
	lans := opt.CustomerLANs
	if len(lans) == 0 {
		lans = c.StaticRoutes
	}
	for i, tun := range c.Tunnels {
		name := fmt.Sprintf("vpn-1-t%d", i+1)
		cn := conns[name]
		if cn == nil {
			t.Fatalf("connection %s missing", name)
		}
		for k, want := range map[string]string{"remote_addrs": tun.OutsideIP.String(), "keyingtries": "0", "dpd_delay": "10s"} {
			if cn.kv[k] != want {
				t.Errorf("%s.%s = %q, want %q", name, k, cn.kv[k], want)
			}
		}
		for _, k := range []string{"version", "proposals", "rekey_time", "over_time"} {
			if cn.kv[k] == "" {
				t.Errorf("%s.%s missing", name, k)
			}
		}
		for side, id := range map[string]string{"local": c.CustomerGatewayIP.String(), "remote": tun.OutsideIP.String()} {
			s := cn.sub[side]
			if s == nil || s.kv["auth"] != "psk" || s.kv["id"] != id {
				t.Errorf("%s.%s: want auth = psk, id = %s", name, side, id)
			}
		}
		kids := cn.sub["children"]
		if kids == nil || len(kids.sub) == 0 {
			t.Fatalf("%s: no children", name)
		}
		var local, remote []string
		for cname, ch := range kids.sub {
			for k, want := range map[string]string{"mode": "tunnel", "start_action": "start", "dpd_action": "restart"} {
				if ch.kv[k] != want {
					t.Errorf("%s.children.%s.%s = %q, want %q", name, cname, k, ch.kv[k], want)
				}
			}
			for _, k := range []string{"local_ts", "remote_ts", "esp_proposals", "rekey_time", "life_time"} {
				if ch.kv[k] == "" {
					t.Errorf("%s.children.%s.%s missing", name, cname, k)
				}
			}
			lts, rts := strings.Split(ch.kv["local_ts"], ","), strings.Split(ch.kv["remote_ts"], ",")
			if cn.kv["version"] == "1" && (len(lts) != 1 || len(rts) != 1) {
				t.Errorf("%s.children.%s: IKEv1 child with %d/%d selectors, want one pair", name, cname, len(lts), len(rts))
			}
			for _, s := range append(slices.Clone(lts), rts...) {
				if _, err := netip.ParsePrefix(s); err != nil {
					t.Errorf("%s.children.%s: selector %q: %v", name, cname, s, err)
				}
			}
			local, remote = append(local, lts...), append(remote, rts...)
		}
		wantLocal, wantRemote := prefixStrings(lans), prefixStrings(c.VPCCIDRs)
		if c.Routing == "dynamic" {
			wantLocal = append(wantLocal, fmt.Sprintf("169.254.1%d.2/32", i))
			wantRemote = append(wantRemote, fmt.Sprintf("169.254.1%d.1/32", i))
		}
		for _, w := range wantLocal {
			if !slices.Contains(local, w) {
				t.Errorf("%s: local_ts lacks %s (has %v)", name, w, local)
			}
		}
		for _, w := range wantRemote {
			if !slices.Contains(remote, w) {
				t.Errorf("%s: remote_ts lacks %s (has %v)", name, w, remote)
			}
		}
		// The secret for this tunnel: matched by the remote id, with its PSK.
		found := false
		for sname, s := range secrets {
			if !strings.HasPrefix(sname, "ike") {
				t.Errorf("secret %s: want an ike<suffix> section", sname)
			}
			if s.kv["id-remote"] == tun.OutsideIP.String() {
				found = true
				if s.kv["secret"] != tun.PSK || s.kv["id-local"] != c.CustomerGatewayIP.String() {
					t.Errorf("secret %s: wrong PSK or local id", sname)
				}
			}
		}
		if !found {
			t.Errorf("no secret for %s", tun.OutsideIP)
		}
	}
}

func prefixStrings(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Masked().String())
	}
	return out
}

// checkIPsecConf checks the ipsec.conf + ipsec.secrets output: the two
// markers, well-formed sections (config setup, conn NAME at column 0 with
// indented key=value lines), unique conn names and keys, and secrets lines
// "ID ID : PSK "secret"".
func checkIPsecConf(t *testing.T, out string, c Connection) {
	t.Helper()
	const confMark, secMark = "# ---- /etc/ipsec.conf ----", "# ---- /etc/ipsec.secrets ----"
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	ci, si := slices.Index(lines, confMark), slices.Index(lines, secMark)
	if ci < 0 || si < ci || strings.Count(out, confMark) != 1 || strings.Count(out, secMark) != 1 {
		t.Fatalf("want one %q line followed by one %q line", confMark, secMark)
	}
	for _, l := range lines[:ci] {
		if l != "" && !strings.HasPrefix(l, "#") {
			t.Errorf("before the ipsec.conf marker, a non-comment line: %q", l)
		}
	}
	header := regexp.MustCompile(`^(config setup|conn [A-Za-z0-9_.-]+)$`)
	param := regexp.MustCompile(`^\t([a-z0-9_]+)=(\S+)$`)
	conns := map[string]map[string]string{}
	var cur map[string]string
	sawSetup := false
	for i, l := range lines[ci+1 : si] {
		n := ci + 2 + i
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case header.MatchString(l):
			if l == "config setup" {
				if sawSetup || len(conns) > 0 {
					t.Errorf("line %d: config setup twice or after conns", n)
				}
				sawSetup = true
				cur = map[string]string{}
				continue
			}
			name := strings.TrimPrefix(l, "conn ")
			if _, dup := conns[name]; dup {
				t.Errorf("line %d: conn %s twice", n, name)
			}
			cur = map[string]string{}
			conns[name] = cur
		case param.MatchString(l):
			if cur == nil {
				t.Errorf("line %d: parameter outside a section: %q", n, l)
				continue
			}
			m := param.FindStringSubmatch(l)
			if _, dup := cur[m[1]]; dup {
				t.Errorf("line %d: %s twice in a section", n, m[1])
			}
			cur[m[1]] = m[2]
		default:
			t.Errorf("line %d: not a section header, tab-indented key=value, comment or blank: %q", n, l)
		}
	}
	if !sawSetup {
		t.Error("no config setup section")
	}
	perPeer := map[string]int{}
	for name, kv := range conns {
		for _, k := range []string{"auto", "type", "keyexchange", "left", "leftid", "leftauth", "leftsubnet", "right", "rightid", "rightauth", "rightsubnet", "ike", "esp", "ikelifetime", "lifetime", "dpddelay", "dpdaction"} {
			if kv[k] == "" {
				t.Errorf("conn %s: %s missing", name, k)
			}
		}
		if kv["leftid"] != c.CustomerGatewayIP.String() || kv["right"] != kv["rightid"] {
			t.Errorf("conn %s: leftid %s / right %s rightid %s", name, kv["leftid"], kv["right"], kv["rightid"])
		}
		if !strings.HasSuffix(kv["ike"], "!") || !strings.HasSuffix(kv["esp"], "!") {
			t.Errorf("conn %s: ike/esp not strict (!)", name)
		}
		if kv["keyexchange"] == "ikev1" && (strings.Contains(kv["leftsubnet"], ",") || strings.Contains(kv["rightsubnet"], ",")) {
			t.Errorf("conn %s: IKEv1 with several subnets in one conn", name)
		}
		perPeer[kv["right"]]++
	}
	secret := regexp.MustCompile(`^(\S+) (\S+) : PSK "([^"]+)"$`)
	var secrets []string
	for _, l := range lines[si+1:] {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		m := secret.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("ipsec.secrets: malformed line %q", l)
			continue
		}
		secrets = append(secrets, m[1]+" "+m[2]+" "+m[3])
	}
	for _, tun := range c.Tunnels {
		if perPeer[tun.OutsideIP.String()] == 0 {
			t.Errorf("no conn to %s", tun.OutsideIP)
		}
		want := c.CustomerGatewayIP.String() + " " + tun.OutsideIP.String() + " " + tun.PSK
		if !slices.Contains(secrets, want) {
			t.Errorf("ipsec.secrets lacks %s's PSK line", tun.OutsideIP)
		}
	}
	if len(secrets) != 2 {
		t.Errorf("%d secrets, want 2", len(secrets))
	}
}

func TestStrongSwanStructure(t *testing.T) {
	variants := map[string]Options{}
	for _, c := range combos() {
		if c.device == "strongswan-swanctl" {
			variants[c.routing+"-"+c.ike] = sampleOptions(c.routing, c.ike)
		}
	}
	lans := []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("192.168.2.0/24")}
	variants["static-ikev1-2lans"] = Options{IKEVersion: "ikev1", CustomerLANs: lans}
	variants["dynamic-ikev1-2lans"] = Options{IKEVersion: "ikev1", CustomerLANs: lans}
	variants["dynamic-default"] = Options{}
	for name, opt := range variants {
		routing, _, _ := strings.Cut(name, "-")
		c := sample(routing)
		t.Run("swanctl-"+name, func(t *testing.T) {
			out, err := Render(c, "strongswan-swanctl", opt)
			if err != nil {
				t.Fatal(err)
			}
			if routing == "dynamic" && len(opt.CustomerLANs) == 0 {
				opt.CustomerLANs = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
			}
			checkSwanctl(t, string(out), c, opt)
		})
		t.Run("ipsec-"+name, func(t *testing.T) {
			out, err := Render(c, "strongswan-ipsec", opt)
			if err != nil {
				t.Fatal(err)
			}
			checkIPsecConf(t, string(out), c)
		})
	}
}
