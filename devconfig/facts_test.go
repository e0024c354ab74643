package devconfig

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// These tests check facts of every output independently of the golden
// text: addresses, PSKs, the IKE version, BGP only for dynamic routing,
// and proposals that stay within (and cover) the tunnel options.

func TestDevicesList(t *testing.T) {
	want := []string{"cisco-asa", "generic", "juniper-srx", "strongswan-ipsec", "strongswan-swanctl", "yamaha-rtx"}
	var got []string
	for _, d := range Devices() {
		got = append(got, d.Name)
		if d.Description == "" {
			t.Errorf("%s: no description", d.Name)
		}
		if templates.Lookup(d.Name+".tmpl") == nil {
			t.Errorf("%s: no template", d.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Devices() = %v, want %v", got, want)
	}
}

func TestKeyFacts(t *testing.T) {
	for _, c := range combos() {
		t.Run(c.String(), func(t *testing.T) {
			out := render(t, c)
			conn := sample(c.routing)
			for i, tun := range conn.Tunnels {
				for _, s := range []string{tun.OutsideIP.String(), tun.PSK, fmt.Sprintf("169.254.1%d.2", i)} {
					if !strings.Contains(out, s) {
						t.Errorf("tunnel %d: %q missing", i+1, s)
					}
				}
			}
			if !strings.Contains(out, "198.51.100.2") {
				t.Error("customer gateway IP missing")
			}
			if c.device != "strongswan-swanctl" && c.device != "strongswan-ipsec" || c.routing == "dynamic" {
				// Devices with tunnel interfaces name the VGW inside address
				// (next hop or BGP neighbor); strongSwan only for BGP.
				for _, a := range []string{"169.254.10.1", "169.254.11.1"} {
					if !strings.Contains(out, a) {
						t.Errorf("VGW inside address %s missing", a)
					}
				}
			}
			bgp := bgpLines[c.device].FindAllString(out, -1)
			if c.routing == "dynamic" && len(bgp) != 2 {
				t.Errorf("dynamic: %d BGP neighbor lines %q, want 2 (one per tunnel)", len(bgp), bgp)
			}
			if c.routing == "static" && len(bgp) != 0 {
				t.Errorf("static: BGP neighbor lines %q", bgp)
			}
			if n := len(versionLines[c.device][c.ike].FindAllString(out, -1)); n == 0 {
				t.Errorf("no sign of %s (%s)", c.ike, versionLines[c.device][c.ike])
			}
			other := map[string]string{"ikev1": "ikev2", "ikev2": "ikev1"}[c.ike]
			if s := versionLines[c.device][other].FindString(out); s != "" {
				t.Errorf("asked for %s, output has %q", c.ike, s)
			}
			if c.device == "cisco-asa" || c.device == "juniper-srx" || c.device == "yamaha-rtx" {
				for _, l := range singleChoice[c.device][c.ike] {
					if !strings.Contains(out, l) {
						t.Errorf("line %q missing", l)
					}
				}
			}
		})
	}
}

// bgpLines finds one BGP neighbor statement per tunnel (strongSwan: the
// inside /32 selectors that carry BGP).
var bgpLines = map[string]*regexp.Regexp{
	"cisco-asa":          regexp.MustCompile(`(?m)^ +neighbor 169\.254\.1[01]\.1 remote-as 64512$`),
	"juniper-srx":        regexp.MustCompile(`(?m)^set protocols bgp group ebgp neighbor 169\.254\.1[01]\.1 peer-as 64512$`),
	"yamaha-rtx":         regexp.MustCompile(`(?m)^bgp neighbor [12] 64512 169\.254\.1[01]\.1 hold-time=30 local-address=169\.254\.1[01]\.2$`),
	"generic":            regexp.MustCompile(`(?m)^  - Neighbor IP Address +: 169\.254\.1[01]\.1$`),
	"strongswan-swanctl": regexp.MustCompile(`(?m)^\t+remote_ts = 169\.254\.1[01]\.1/32`),
	"strongswan-ipsec":   regexp.MustCompile(`(?m)^\trightsubnet=169\.254\.1[01]\.1/32`),
}

var versionLines = map[string]map[string]*regexp.Regexp{
	"cisco-asa": {
		"ikev1": regexp.MustCompile(`(?m)^crypto ikev1 policy|ikev1 pre-shared-key`),
		"ikev2": regexp.MustCompile(`(?m)^crypto ikev2 policy|ikev2 remote-authentication`),
	},
	"juniper-srx": {
		"ikev1": regexp.MustCompile(`(?m) version v1-only$`),
		"ikev2": regexp.MustCompile(`(?m) version v2-only$`),
	},
	"yamaha-rtx": {
		"ikev1": regexp.MustCompile(`(?m)ipsec ike version [12] 1$`),
		"ikev2": regexp.MustCompile(`(?m)ipsec ike version [12] 2$`),
	},
	"generic": {
		"ikev1": regexp.MustCompile(`IKE version +: IKEv1`),
		"ikev2": regexp.MustCompile(`IKE version +: IKEv2`),
	},
	"strongswan-swanctl": {
		"ikev1": regexp.MustCompile(`(?m)^\t\tversion = 1$`),
		"ikev2": regexp.MustCompile(`(?m)^\t\tversion = 2$`),
	},
	"strongswan-ipsec": {
		"ikev1": regexp.MustCompile(`(?m)^\tkeyexchange=ikev1$`),
		"ikev2": regexp.MustCompile(`(?m)^\tkeyexchange=ikev2$`),
	},
}

// singleChoice: devices that take one algorithm per setting use the first
// allowed value they support. Tunnel 1 has AWS's defaults (aes128, sha1,
// group 2 first); tunnel 2 prefers aes256/sha2-256/group 14 in phase 1 and
// AES-256-GCM then aes256 + sha2-256 with group 14 in phase 2.
var singleChoice = map[string]map[string][]string{
	"cisco-asa": {
		"ikev1": {
			"crypto ikev1 policy 201\n  encryption aes\n  authentication pre-share\n  group 2\n  lifetime 28800\n  hash sha\n",
			"crypto ikev1 policy 202\n  encryption aes-256\n  authentication pre-share\n  group 14\n  lifetime 14400\n  hash sha\n",
			"crypto ipsec ikev1 transform-set vpn-1-t1-TS esp-aes esp-sha-hmac\n",
			"crypto ipsec ikev1 transform-set vpn-1-t2-TS esp-aes-256 esp-sha256-hmac\n",
			"  set pfs group2\n  set security-association lifetime seconds 3600\n",
			"  set pfs group14\n  set security-association lifetime seconds 1800\n",
			"  ikev1 pre-shared-key " + psk1 + "\n",
		},
		"ikev2": {
			"  encryption aes aes-256\n  integrity sha sha256 sha384 sha512\n  prf sha sha256 sha384 sha512\n  group 2 14 15 16 19 20 21 24\n  lifetime seconds 28800\n",
			"  encryption aes-gcm aes-gcm-256\n  integrity null\n",
			"  encryption aes-256\n  integrity sha256 sha\n  prf sha256 sha\n  group 14 19\n  lifetime seconds 14400\n",
			"crypto ipsec ikev2 ipsec-proposal vpn-1-t2-GCM\n  protocol esp encryption aes-gcm-256\n  protocol esp integrity null\n",
			"  set ikev2 ipsec-proposal vpn-1-t1-CBC vpn-1-t1-GCM\n",
			"  ikev2 local-authentication pre-shared-key " + psk2 + "\n",
		},
	},
	"juniper-srx": {
		"ikev1": {
			"set security ike proposal ike-prop-vpn-1-t1 authentication-algorithm sha1\n",
			"set security ike proposal ike-prop-vpn-1-t1 encryption-algorithm aes-128-cbc\n",
			"set security ike proposal ike-prop-vpn-1-t1 dh-group group2\n",
			"set security ike proposal ike-prop-vpn-1-t2 authentication-algorithm sha-256\n",
			"set security ike proposal ike-prop-vpn-1-t2 encryption-algorithm aes-256-cbc\n",
			"set security ike proposal ike-prop-vpn-1-t2 dh-group group14\n",
			"set security ipsec proposal ipsec-prop-vpn-1-t1 authentication-algorithm hmac-sha1-96\n",
			"set security ipsec proposal ipsec-prop-vpn-1-t2 encryption-algorithm aes-256-gcm\n",
			"set security ipsec policy ipsec-pol-vpn-1-t2 perfect-forward-secrecy keys group14\n",
			"set interfaces st0.2 family inet address 169.254.11.2/30\n",
			"set security ike policy ike-pol-vpn-1-t1 mode main\n",
		},
		"ikev2": {
			"set security ike proposal ike-prop-vpn-1-t2 encryption-algorithm aes-256-cbc\n",
			"set security ipsec proposal ipsec-prop-vpn-1-t2 encryption-algorithm aes-256-gcm\n",
			"set security ike policy ike-pol-vpn-1-t1 pre-shared-key ascii-text \"" + psk1 + "\"\n",
			"set interfaces st0.1 family inet address 169.254.10.2/30\n",
		},
	},
	"yamaha-rtx": {
		"ikev1": {
			"  ipsec sa policy 201 1 esp aes-cbc sha-hmac\n",
			"  ipsec sa policy 202 2 esp aes256-cbc sha256-hmac\n",
			"  ipsec ike encryption 1 aes-cbc\n  ipsec ike group 1 modp1024\n  ipsec ike hash 1 sha\n",
			"  ipsec ike encryption 2 aes256-cbc\n  ipsec ike group 2 modp2048\n  ipsec ike hash 2 sha256\n",
			"  ipsec ike duration ipsec-sa 2 1800\n  ipsec ike duration isakmp-sa 2 14400\n",
			" ip tunnel address 169.254.10.2/30\n ip tunnel remote address 169.254.10.1\n",
		},
		"ikev2": {
			"  ipsec ike pre-shared-key 2 text " + psk2 + "\n",
		},
	},
}

// Proposal keywords of strongSwan, written out here (not taken from
// names.go) to check the proposals independently.
var (
	swEncr = map[string]string{"aes128": "aes128", "aes256": "aes256", "aes128gcm16": "aes128-gcm-16", "aes256gcm16": "aes256-gcm-16"}
	swInt  = map[string]string{"sha1": "sha1", "sha256": "sha2-256", "sha384": "sha2-384", "sha512": "sha2-512"}
	swPRF  = map[string]string{"prfsha1": "sha1", "prfsha256": "sha2-256", "prfsha384": "sha2-384", "prfsha512": "sha2-512"}
	swDH   = map[string]int{"modp1024": 2, "modp1536": 5, "modp2048": 14, "modp3072": 15, "modp4096": 16, "modp6144": 17,
		"modp8192": 18, "ecp256": 19, "ecp384": 20, "ecp521": 21, "modp1024s160": 22, "modp2048s224": 23, "modp2048s256": 24, "curve25519": 31}
)

// proposalUse is what a list of strongSwan proposals offers, in vpgw terms.
type proposalUse struct {
	encr, integ map[string]bool
	dh          map[int]bool
}

// checkProposals parses strongSwan proposals and checks that every
// transform is allowed by ph, that each proposal is well formed (AEAD
// without integrity, IKE AEAD with a PRF, at most one per kind for IKEv1),
// and that each allowed option usable here is offered.
func checkProposals(t *testing.T, what, list string, ph Phase, ike, ikev1 bool) {
	t.Helper()
	use := proposalUse{map[string]bool{}, map[string]bool{}, map[int]bool{}}
	for _, prop := range strings.Split(list, ",") {
		var ne, ni, np, ng, naead int
		for _, tok := range strings.Split(prop, "-") {
			switch {
			case swEncr[tok] != "":
				ne++
				use.encr[swEncr[tok]] = true
				if strings.Contains(tok, "gcm") {
					naead++
				}
				if !slices.Contains(ph.Encryption, swEncr[tok]) {
					t.Errorf("%s: %s offers %s, not allowed (%v)", what, prop, tok, ph.Encryption)
				}
			case swInt[tok] != "":
				ni++
				use.integ[swInt[tok]] = true
				if !slices.Contains(ph.Integrity, swInt[tok]) {
					t.Errorf("%s: %s offers %s, not allowed", what, prop, tok)
				}
			case swPRF[tok] != "":
				np++
				use.integ[swPRF[tok]] = true
				if !ike || !slices.Contains(ph.Integrity, swPRF[tok]) {
					t.Errorf("%s: %s offers %s, not allowed", what, prop, tok)
				}
			case swDH[tok] != 0:
				ng++
				use.dh[swDH[tok]] = true
				if !slices.Contains(ph.DHGroups, swDH[tok]) {
					t.Errorf("%s: %s offers %s, not allowed (%v)", what, prop, tok, ph.DHGroups)
				}
			default:
				t.Errorf("%s: %s: unknown keyword %q", what, prop, tok)
			}
		}
		switch {
		case naead > 0 && (naead != ne || ni > 0):
			t.Errorf("%s: %s mixes AEAD with other ciphers or integrity", what, prop)
		case naead > 0 && ike && np == 0:
			t.Errorf("%s: %s: AEAD IKE proposal without PRF", what, prop)
		case naead == 0 && (ne == 0 || ni == 0 || np > 0):
			t.Errorf("%s: %s: want encryption and integrity", what, prop)
		case ike && ng == 0:
			t.Errorf("%s: %s: IKE proposal without DH group", what, prop)
		case ikev1 && (ne > 1 || ni > 1 || ng > 1):
			t.Errorf("%s: %s: IKEv1 takes one algorithm per kind", what, prop)
		case ikev1 && ike && naead > 0:
			t.Errorf("%s: %s: AES-GCM in IKEv1 phase 1", what, prop)
		}
	}
	for _, e := range ph.Encryption {
		if !use.encr[e] && !(ikev1 && ike && strings.Contains(e, "gcm")) {
			t.Errorf("%s: allowed encryption %s never offered", what, e)
		}
	}
	for _, i := range ph.Integrity {
		if !use.integ[i] {
			t.Errorf("%s: allowed integrity %s never offered", what, i)
		}
	}
	for _, g := range ph.DHGroups {
		// IKEv1 Quick Mode sends one KE: only the first PFS group.
		if !use.dh[g] && !(ikev1 && !ike && g != ph.DHGroups[0]) {
			t.Errorf("%s: allowed DH group %d never offered", what, g)
		}
	}
}

func TestStrongSwanProposals(t *testing.T) {
	for _, c := range combos() {
		if c.device != "strongswan-swanctl" {
			continue
		}
		t.Run(c.String(), func(t *testing.T) {
			out := render(t, c)
			root, err := parseSwanctl(out)
			if err != nil {
				t.Fatal(err)
			}
			conn := sample(c.routing)
			for i, tun := range conn.Tunnels {
				cn := root.sub["connections"].sub[fmt.Sprintf("vpn-1-t%d", i+1)]
				if cn == nil {
					t.Fatalf("connection vpn-1-t%d missing", i+1)
				}
				checkProposals(t, fmt.Sprintf("tunnel %d ike", i+1), cn.kv["proposals"], tun.Phase1, true, c.ike == "ikev1")
				for name, ch := range cn.sub["children"].sub {
					checkProposals(t, fmt.Sprintf("tunnel %d child %s esp", i+1, name), ch.kv["esp_proposals"], tun.Phase2, false, c.ike == "ikev1")
				}
			}
		})
	}
	// Literal proposals for tunnel 2 (IKEv2), as a reader would write them.
	out, err := Render(sample("static"), "strongswan-swanctl", Options{IKEVersion: "ikev2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{
		"proposals = aes256-sha256-sha1-modp2048-ecp256,aes256gcm16-prfsha256-prfsha1-modp2048-ecp256\n",
		"esp_proposals = aes256gcm16-modp2048,aes256-sha256-modp2048\n",
		"rekey_time = 231m\n\t\tover_time = 9m\n",
		"rekey_time = 21m\n\t\t\t\tlife_time = 30m\n",
	} {
		if !strings.Contains(string(out), l) {
			t.Errorf("swanctl: %q missing", l)
		}
	}
	// AWS's download for IKEv1 (aes128-sha1-modp1024) is the first choice.
	out, err = Render(sample("static"), "strongswan-ipsec", Options{IKEVersion: "ikev1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "\tike=aes128-sha1-modp1024,") || !strings.Contains(string(out), "\tesp=aes128-sha1-modp1024,") {
		t.Error("ipsec.conf IKEv1: proposals do not start with aes128-sha1-modp1024")
	}
}

func TestIKEVersionChoice(t *testing.T) {
	c := sample("static")
	c.Tunnels[1].IKEVersions = []string{"ikev1"}
	out, err := Render(c, "strongswan-swanctl", Options{})
	if err != nil {
		t.Fatal(err)
	}
	root, err := parseSwanctl(string(out))
	if err != nil {
		t.Fatal(err)
	}
	conns := root.sub["connections"].sub
	if v1, v2 := conns["vpn-1-t1"].kv["version"], conns["vpn-1-t2"].kv["version"]; v1 != "2" || v2 != "1" {
		t.Errorf("default IKE versions = %s/%s, want 2 (allowed) and 1 (tunnel 2 allows only ikev1)", v1, v2)
	}
	if _, ok := conns["vpn-1-t2"].kv["dpd_timeout"]; !ok {
		t.Error("IKEv1 connection without dpd_timeout")
	}
	if _, ok := conns["vpn-1-t1"].kv["dpd_timeout"]; ok {
		t.Error("IKEv2 connection with dpd_timeout (IKEv1 only)")
	}
	c.Tunnels[1].IKEVersions = nil // empty: both allowed
	out, err = Render(c, "generic", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "IKE version              : IKEv2"); n != 2 {
		t.Errorf("generic: %d tunnels with IKEv2, want 2", n)
	}
}

func TestErrors(t *testing.T) {
	gcmOnly := sample("static")
	gcmOnly.Tunnels[0].Phase1.Encryption = []string{"aes128-gcm-16"}
	noPSK := sample("static")
	noPSK.Tunnels[0].PSK = ""
	badPSK := sample("static")
	badPSK.Tunnels[1].PSK = "bad\"psk\n"
	v2only := sample("static")
	v2only.Tunnels[1].IKEVersions = []string{"ikev2"}
	noASN := sample("dynamic")
	noASN.CustomerASN = 0
	badAlg := sample("static")
	badAlg.Tunnels[1].Phase2.Integrity = []string{"md5"}
	noVPC := sample("static")
	noVPC.VPCCIDRs = nil
	sha2only := sample("static")
	sha2only.Tunnels[0].Phase1.Integrity = []string{"sha2-256"}
	rtxNoGroup := sample("static")
	rtxNoGroup.Tunnels[0].Phase1.DHGroups = []int{2}
	rtxNoGroup.Tunnels[0].Phase2.DHGroups = []int{14}
	sameIP := sample("static")
	sameIP.Tunnels[1].OutsideIP = sameIP.Tunnels[0].OutsideIP
	badInside := sample("static")
	badInside.Tunnels[0].InsideCIDR = netip.MustParsePrefix("169.254.10.0/29")

	for _, tc := range []struct {
		name   string
		c      Connection
		device string
		opt    Options
		want   []string
	}{
		{"unknown device", sample("static"), "cisco-ios", Options{}, []string{`unknown device "cisco-ios"`, "valid: cisco-asa, generic, juniper-srx, strongswan-ipsec, strongswan-swanctl, yamaha-rtx"}},
		{"version not allowed", v2only, "strongswan-swanctl", Options{IKEVersion: "ikev1"}, []string{"tunnel 2 (203.0.113.3)", "IKE version ikev1 is not allowed by this tunnel (allowed: ikev2)"}},
		{"bad version option", sample("static"), "generic", Options{IKEVersion: "ikev3"}, []string{`IKE version "ikev3"`}},
		{"missing PSK", noPSK, "cisco-asa", Options{}, []string{"tunnel 1", "PSK is missing"}},
		{"bad PSK", badPSK, "juniper-srx", Options{}, []string{"tunnel 2", "PSK holds characters"}},
		{"IKEv1 phase 1 GCM only", gcmOnly, "strongswan-ipsec", Options{IKEVersion: "ikev1"}, []string{"tunnel 1", "phase 1", "AES-GCM is not possible"}},
		{"IKEv2 phase 1 GCM only is fine", gcmOnly, "strongswan-ipsec", Options{IKEVersion: "ikev2"}, nil},
		{"dynamic without ASN", noASN, "generic", Options{}, []string{"BGP ASN"}},
		{"unknown algorithm", badAlg, "generic", Options{}, []string{"tunnel 2", "phase 2", `unknown integrity "md5"`}},
		{"no VPC CIDRs", noVPC, "generic", Options{}, []string{"no VPC CIDRs"}},
		{"ASA IKEv1 has no SHA-2 hash", sha2only, "cisco-asa", Options{IKEVersion: "ikev1"}, []string{"tunnel 1", "phase 1", "integrity"}},
		{"ASA IKEv2 has SHA-2", sha2only, "cisco-asa", Options{IKEVersion: "ikev2"}, nil},
		{"RTX needs one group for both phases", rtxNoGroup, "yamaha-rtx", Options{}, []string{"tunnel 1", "share no group"}},
		{"same outside IPs", sameIP, "generic", Options{}, []string{"both tunnels"}},
		{"inside not /30", badInside, "generic", Options{}, []string{"tunnel 1", "/30"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Render(tc.c, tc.device, tc.opt)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; output:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), psk1) || strings.Contains(err.Error(), psk2) {
				t.Errorf("error shows a PSK: %v", err)
			}
		})
	}
}

func TestCustomerLANsOption(t *testing.T) {
	c := sample("static")
	lans := []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("192.168.2.0/24")}
	out, err := Render(c, "strongswan-swanctl", Options{IKEVersion: "ikev2", CustomerLANs: lans})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "local_ts = 192.168.1.0/24,192.168.2.0/24\n") {
		t.Error("CustomerLANs not used as local_ts")
	}
	// IKEv1: one child per selector pair.
	out, err = Render(c, "strongswan-swanctl", Options{IKEVersion: "ikev1", CustomerLANs: lans})
	if err != nil {
		t.Fatal(err)
	}
	root, err := parseSwanctl(string(out))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(root.sub["connections"].sub["vpn-1-t1"].sub["children"].sub); n != 2 {
		t.Errorf("IKEv1 with 2 LANs × 1 VPC CIDR: %d children, want 2", n)
	}
	// Dynamic without any on-prem prefix: 0.0.0.0/0 and a note.
	d := sample("dynamic")
	out, err = Render(d, "strongswan-swanctl", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "local_ts = 169.254.10.2/32,0.0.0.0/0\n") || !strings.Contains(string(out), "No on-prem prefixes were given") {
		t.Errorf("dynamic without LANs: want 0.0.0.0/0 local_ts and a note:\n%s", out)
	}
}

func TestLifetimesDefaultAndMargin(t *testing.T) {
	c := sample("static")
	c.Tunnels[0].Phase1.Lifetime = 0
	c.Tunnels[0].Phase2.Lifetime = 15 * time.Minute // margin is at most half
	out, err := Render(c, "strongswan-swanctl", Options{IKEVersion: "ikev2"})
	if err != nil {
		t.Fatal(err)
	}
	root, err := parseSwanctl(string(out))
	if err != nil {
		t.Fatal(err)
	}
	cn := root.sub["connections"].sub["vpn-1-t1"]
	ch := cn.sub["children"].sub["vpn-1-t1"]
	got := []string{cn.kv["rekey_time"], cn.kv["over_time"], ch.kv["rekey_time"], ch.kv["life_time"]}
	// The margin is 7m30s (half of 15m): 8h-7m30s, 7m30s, 15m-7m30s, 15m.
	want := []string{"28350s", "450s", "450s", "15m"}
	if !slices.Equal(got, want) {
		t.Errorf("rekey/over/child rekey/life = %v, want %v", got, want)
	}
}
