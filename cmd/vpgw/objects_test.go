package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// objectCommands are the command trees of the operator workflow.
var objectCommands = []string{"customer-gateway", "vpn-gateway", "route-propagation", "vpn-connection",
	"static-route", "config", "export", "tunnel"}

func TestObjectCommandsHaveHelpAndExamples(t *testing.T) {
	root := newRootCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" {
			t.Errorf("%q has no short help", c.CommandPath())
		}
		if c.Example == "" && c.Name() != "tunnel" {
			t.Errorf("%q has no examples", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	for _, name := range objectCommands {
		c, _, err := root.Find([]string{name})
		if err != nil || c.Name() != name {
			t.Errorf("no command %q: %v", name, err)
			continue
		}
		walk(c)
	}
	for _, args := range [][]string{
		{"customer-gateway", "create", "--help"},
		{"vpn-gateway", "attach", "--help"},
		{"vpn-connection", "create", "--help"},
		{"tunnel", "modify", "--help"},
		{"config", "download", "--help"},
		{"export", "--help"},
	} {
		out, err := runCLI(args...)
		if err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, "Flags:") {
			t.Errorf("vpgw %s: err=%v\n%s", strings.Join(args, " "), err, out)
		}
	}
	out, _ := runCLI("vpn-connection", "list", "--help")
	if !strings.Contains(out, "table | json | yaml") {
		t.Errorf("list has no -o table|json|yaml:\n%s", out)
	}
	out, _ = runCLI("tunnel", "modify", "--help")
	for _, flag := range []string{"--psk", "--generate-psk", "--phase1-encryption", "--phase2-dh-groups", "--phase1-lifetime",
		"--dpd-timeout ", "--dpd-timeout-action", "--startup-action", "--ike-versions", "--rekey-margin", "--rekey-fuzz", "--replay-window"} {
		if !strings.Contains(out, flag) {
			t.Errorf("tunnel modify lacks %s", flag)
		}
	}
}

func TestCompletionCommandIsEnabled(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		out, err := runCLI("completion", sh)
		if err != nil || !strings.Contains(out, "vpgw") {
			t.Errorf("vpgw completion %s: err=%v, %d bytes", sh, err, len(out))
		}
	}
}

// Argument errors are reported before the daemon is asked anything (the
// socket here does not exist).
func TestObjectArgumentErrors(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"customer-gateway", "create", "--name", "cgw-1"}, `required flag(s) "ip" not set`},
		{[]string{"customer-gateway", "create", "--name", "cgw-1", "--ip", "nope"}, `--ip: "nope" is not an IP address`},
		{[]string{"customer-gateway", "create", "--name", "cgw-1", "--ip", "198.51.100.2", "--bgp-asn", "x"}, `invalid argument "x" for "--bgp-asn"`},
		{[]string{"customer-gateway", "delete"}, "accepts 1 arg(s), received 0"},
		{[]string{"customer-gateway", "list", "-o", "xml"}, `-o: "xml" is not table, json or yaml`},
		{[]string{"vpn-gateway", "create"}, `required flag(s) "name" not set`},
		{[]string{"vpn-gateway", "attach", "vgw-1"}, `required flag(s) "vpc-cidr" not set`},
		{[]string{"vpn-gateway", "attach", "vgw-1", "--vpc-cidr", "10.0.0.0"}, `--vpc-cidr: "10.0.0.0" is not a CIDR prefix`},
		{[]string{"vpn-gateway", "detach"}, "accepts 1 arg(s), received 0"},
		{[]string{"route-propagation", "enable"}, `required flag(s) "vpn-gateway" not set`},
		{[]string{"vpn-connection", "create", "--name", "vpn-1", "--customer-gateway", "cgw-1", "--vpn-gateway", "vgw-1",
			"--tunnel1-outside-ip", "203.0.113.2"}, `required flag(s) "tunnel2-outside-ip" not set`},
		{[]string{"vpn-connection", "create", "--name", "vpn-1", "--customer-gateway", "cgw-1", "--vpn-gateway", "vgw-1",
			"--tunnel1-outside-ip", "203.0.113.2", "--tunnel2-outside-ip", "203.0.113.3", "--routing", "bgp"}, `--routing: must be static or dynamic, got "bgp"`},
		{[]string{"vpn-connection", "create", "--name", "vpn-1", "--customer-gateway", "cgw-1", "--vpn-gateway", "vgw-1",
			"--tunnel1-outside-ip", "203.0.113.2", "--tunnel2-outside-ip", "x"}, `--tunnel2-outside-ip: "x" is not an IP address`},
		{[]string{"vpn-connection", "create", "--name", "vpn-1", "--customer-gateway", "cgw-1", "--vpn-gateway", "vgw-1",
			"--tunnel1-outside-ip", "203.0.113.2", "--tunnel2-outside-ip", "203.0.113.3", "--tunnel1-inside-cidr", "169.254.10.1"},
			`--tunnel1-inside-cidr: "169.254.10.1" is not a CIDR prefix`},
		{[]string{"vpn-connection", "describe"}, "accepts 1 arg(s), received 0"},
		{[]string{"vpn-connection", "describe", "vpn-1", "-o", "xml"}, `-o: "xml" is not table, json or yaml`},
		{[]string{"static-route", "add", "--connection", "vpn-1"}, `required flag(s) "prefix" not set`},
		{[]string{"static-route", "delete", "--connection", "vpn-1", "--prefix", "x"}, `--prefix: "x" is not a CIDR prefix`},
		{[]string{"tunnel", "modify", "--connection", "vpn-1"}, `required flag(s) "tunnel" not set`},
		{[]string{"tunnel", "modify", "--connection", "vpn-1", "--tunnel", "3", "--generate-psk"}, "--tunnel: must be 1 or 2"},
		{[]string{"tunnel", "modify", "--connection", "vpn-1", "--tunnel", "1"}, "nothing to modify"},
		{[]string{"tunnel", "modify", "--connection", "vpn-1", "--tunnel", "1", "--psk", "abcdefgh1", "--generate-psk"}, "none of the others can be"},
		{[]string{"tunnel", "modify", "--connection", "vpn-1", "--tunnel", "1", "--dpd-timeout", "40"}, `invalid argument "40" for "--dpd-timeout"`},
		{[]string{"tunnel", "modify", "--connection", "vpn-1", "--tunnel", "1", "--phase1-dh-groups", "x"}, `invalid argument "x" for "--phase1-dh-groups"`},
		{[]string{"config", "download", "--connection", "vpn-1"}, `required flag(s) "device" not set`},
		{[]string{"config", "download", "--connection", "vpn-1", "--device", "generic", "--ike-version", "ikev3"}, "--ike-version: must be ikev1 or ikev2"},
		{[]string{"export", "extra"}, `unknown command "extra"`},
	} {
		_, err := runCLI(append(tc.args, "--socket", sock)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("vpgw %s: err = %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	_, err := runCLI("vpn-connection", "list", "--socket", sock)
	if err == nil || !strings.Contains(err.Error(), "is `vpgw run` running?") {
		t.Errorf("list without a daemon: %v", err)
	}
}

// fakeDaemon serves canned object-API replies on a unix socket.
func fakeDaemon(t *testing.T, routes map[string]func(w http.ResponseWriter, r *http.Request)) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "vpgw.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, h := range routes {
		mux.HandleFunc(p, h)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func reply(v any) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
}

const secretPSK = "Secret.psk_4242"

func connJSON(psk string) map[string]any {
	tun := func(ip, cidr string) map[string]any {
		t := map[string]any{"outside_ip": ip, "inside_cidr": cidr, "ike_versions": []string{"ikev1", "ikev2"},
			"phase1":      map[string]any{"encryption": []string{"aes128"}, "lifetime": "8h0m0s"},
			"phase2":      map[string]any{"encryption": []string{"aes128"}, "lifetime": "1h0m0s"},
			"dpd_timeout": "40s", "dpd_timeout_action": "clear", "startup_action": "add"}
		if psk != "" {
			t["psk"] = psk
		}
		return t
	}
	return map[string]any{"id": "vpn-0123456789abcdef0", "name": "vpn-1", "state": "available",
		"customer_gateway": "cgw-1", "vpn_gateway": "vgw-1", "routing": "static", "static_routes": []string{"172.16.0.0/24"},
		"tunnels": []any{tun("203.0.113.2", "169.254.10.0/30"), tun("203.0.113.3", "169.254.11.0/30")}}
}

func TestObjectCommandsAgainstADaemon(t *testing.T) {
	var showPSK string
	sock := fakeDaemon(t, map[string]func(http.ResponseWriter, *http.Request){
		// A daemon that wrongly sent PSKs in a list must still not get them printed.
		"GET /v1/vpn-connections": reply([]any{connJSON(secretPSK)}),
		"GET /v1/vpn-connections/{id}": func(w http.ResponseWriter, r *http.Request) {
			showPSK = r.URL.Query().Get("show_psk")
			psk := ""
			if showPSK == "true" {
				psk = secretPSK
			}
			reply(connJSON(psk))(w, r)
		},
		"DELETE /v1/customer-gateways/{id}": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(map[string]string{"kind": "in use",
				"error": "customer gateway cgw-0123456789abcdef0 (cgw-1) is used by VPN connection vpn-0123456789abcdef0 (vpn-1): delete the connection first"})
		},
		"GET /v1/vpn-connections/{id}/configuration": func(w http.ResponseWriter, r *http.Request) {
			reply(map[string]string{"connection": r.PathValue("id"), "device": r.URL.Query().Get("device"),
				"config": "# " + r.URL.Query().Get("ike_version") + "\nsecret = " + secretPSK + "\n"})(w, r)
		},
		"GET /v1/export": reply(map[string]string{"yaml": "gateway:\n  name: vgw-1\n"}),
		"POST /v1/vpn-connections/{id}/static-routes": reply(map[string]any{"summary": "routes re-applied", "object": connJSON("")}),
	})

	for _, args := range [][]string{{"vpn-connection", "list"}, {"vpn-connection", "list", "-o", "json"},
		{"vpn-connection", "list", "-o", "yaml"}, {"vpn-connection", "describe", "vpn-1"}} {
		out, err := runCLI(append(args, "--socket", sock)...)
		if err != nil || !strings.Contains(out, "vpn-1") || strings.Contains(out, secretPSK) {
			t.Errorf("vpgw %s: err=%v (must not show the PSK)\n%s", strings.Join(args, " "), err, out)
		}
	}
	out, err := runCLI("vpn-connection", "describe", "vpn-1", "--show-psk", "--socket", sock)
	if err != nil || showPSK != "true" || strings.Count(out, secretPSK) != 2 || !strings.Contains(out, "Pre-shared key") {
		t.Errorf("describe --show-psk: err=%v show_psk=%q\n%s", err, showPSK, out)
	}
	out, err = runCLI("vpn-connection", "describe", "vpn-1", "-o", "yaml", "--socket", sock)
	if err != nil || !strings.Contains(out, "dpd_timeout: 40s") || !strings.Contains(out, "outside_ip: 203.0.113.2") {
		t.Errorf("describe -o yaml: err=%v\n%s", err, out)
	}

	_, err = runCLI("customer-gateway", "delete", "cgw-1", "--socket", sock)
	if err == nil || err.Error() != "customer gateway cgw-0123456789abcdef0 (cgw-1) is used by VPN connection vpn-0123456789abcdef0 (vpn-1): delete the connection first" {
		t.Errorf("delete refused: the daemon's message must pass verbatim, got %v", err)
	}

	out, err = runCLI("static-route", "add", "--connection", "vpn-1", "--prefix", "172.16.1.0/24", "--socket", sock)
	if err != nil || !strings.Contains(out, "added static route 172.16.1.0/24 to VPN connection vpn-0123456789abcdef0 (vpn-1)") ||
		!strings.Contains(out, "running gateway: routes re-applied") {
		t.Errorf("static-route add: err=%v\n%s", err, out)
	}

	out, err = runCLI("config", "download", "--connection", "vpn-1", "--device", "strongswan-swanctl", "--ike-version", "ikev2", "--socket", sock)
	if err != nil || !strings.Contains(out, "# ikev2") || !strings.Contains(out, secretPSK) {
		t.Errorf("config download to stdout: err=%v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "vpn-1.conf")
	if _, err := runCLI("config", "download", "--connection", "vpn-1", "--device", "generic", "-O", file, "--socket", sock); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config download -O: %v, mode %v (want 0600)", err, fi.Mode())
	}
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), secretPSK) {
		t.Errorf("config download -O wrote %q", b)
	}

	out, err = runCLI("export", "--socket", sock)
	if err != nil || out != "gateway:\n  name: vgw-1\n" {
		t.Errorf("export: err=%v %q", err, out)
	}
}
