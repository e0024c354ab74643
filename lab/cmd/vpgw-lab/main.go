// Command vpgw-lab builds and tears down the netns lab (see package lab) and
// runs the demo: vpgw in the vgw namespace, strongSwan as the customer gateway.
//
//	vpgw-lab up     --prefix P [--nat]            build the namespaces, leave them up
//	vpgw-lab down   --prefix P                    remove them and everything running inside
//	vpgw-lab charon --prefix P --psk K [...]      start a strongSwan CGW in a lab that is up
//	vpgw-lab demo   --vpgw BIN [--config FILE]    whole demo, torn down at the end
//
// The default prefix is "vlab" for every subcommand. Needs root. Only namespaces named P-onprem, P-cgw, P-wan, P-vgw, P-vpc are touched.
package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/vpgw/vpgw/lab"
)

// defaultPrefix is shared by every subcommand so that a bare `vpgw-lab down`
// (as in `make clean`) removes what a bare `demo` or `up` left behind.
const defaultPrefix = "vlab"

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = cmdUp(os.Args[2:])
	case "down":
		err = cmdDown(os.Args[2:])
	case "charon":
		err = cmdCharon(os.Args[2:])
	case "demo":
		err = cmdDemo(os.Args[2:])
	case "-h", "--help", "help":
		usage()
		return
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vpgw-lab:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: vpgw-lab <command> [flags]
  up     --prefix P [--nat] [-v]     build the lab and leave it up
  down   --prefix P [-v]             remove the lab (namespaces, processes, temp dirs)
  charon --prefix P --psk K [--remote 203.0.113.2,203.0.113.3] [--psk2 K2] [--ike-version 2]
         [--ike-proposal P] [--esp-proposal P] [--debug] [-v]
                                     start strongSwan as the customer gateway in a lab that is up
  demo   --vpgw BIN [--config FILE] [--prefix P] [--nat] [--timeout 60s] [--hold] [--debug] [-v]
                                     run vpgw in vgw, strongSwan in cgw, show status and a ping, tear down
`)
}

func logWriter(verbose bool) io.Writer {
	if verbose {
		return os.Stderr
	}
	return nil
}

func cmdUp(args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	prefix := fs.String("prefix", defaultPrefix, "namespace prefix")
	nat := fs.Bool("nat", false, "masquerade the customer gateway behind 203.0.113.1")
	verbose := fs.Bool("v", false, "print every command")
	_ = fs.Parse(args)
	l, err := lab.Up(lab.Options{Prefix: *prefix, NAT: *nat, Log: logWriter(*verbose), KeepDir: true})
	if err != nil {
		return err
	}
	fmt.Printf("lab %s is up (dir %s, NAT %v)\n", *prefix, l.Dir(), *nat)
	for _, r := range lab.Roles {
		fmt.Printf("  %-7s ip netns exec %s ...\n", r, l.NS(r))
	}
	fmt.Printf("customer gateway public IP: %s; vpgw outside IPs: %s, %s\n", l.CGWPublicIP(), lab.VGWOutside1, lab.VGWOutside2)
	return nil
}

func cmdDown(args []string) error {
	fs := flag.NewFlagSet("down", flag.ExitOnError)
	prefix := fs.String("prefix", defaultPrefix, "namespace prefix")
	verbose := fs.Bool("v", false, "print every command")
	_ = fs.Parse(args)
	var log io.Writer = io.Discard
	if *verbose {
		log = os.Stderr
	}
	err := lab.CleanupStale(*prefix, log)
	for _, d := range lab.StaleDirs(*prefix) {
		_ = os.RemoveAll(d)
	}
	return err
}

type charonFlags struct {
	psk, psk2, remote, ikeProp, espProp string
	ikeVersion                          int
	debug                               bool
}

func (c *charonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.psk, "psk", "", "pre-shared key of tunnel 1 (and 2 unless --psk2)")
	fs.StringVar(&c.psk2, "psk2", "", "pre-shared key of tunnel 2")
	fs.StringVar(&c.remote, "remote", lab.VGWOutside1+","+lab.VGWOutside2, "vpgw outside IPs, one connection each")
	fs.IntVar(&c.ikeVersion, "ike-version", 2, "IKE version (1 or 2)")
	fs.StringVar(&c.ikeProp, "ike-proposal", "", "IKE proposal (swanctl syntax)")
	fs.StringVar(&c.espProp, "esp-proposal", "", "ESP proposal (swanctl syntax)")
	fs.BoolVar(&c.debug, "debug", false, "charon log level 4 (keys, raw packets)")
}

func cmdCharon(args []string) error {
	fs := flag.NewFlagSet("charon", flag.ExitOnError)
	prefix := fs.String("prefix", defaultPrefix, "namespace prefix")
	verbose := fs.Bool("v", false, "print every command")
	var cf charonFlags
	cf.register(fs)
	_ = fs.Parse(args)
	if cf.psk == "" {
		return errors.New("charon: --psk is required")
	}
	l, err := lab.Attach(lab.Options{Prefix: *prefix, Log: logWriter(*verbose)})
	if err != nil {
		return err
	}
	var conns []lab.CharonConn
	for i, a := range strings.Split(cf.remote, ",") {
		psk := cf.psk
		if i == 1 && cf.psk2 != "" {
			psk = cf.psk2
		}
		conns = append(conns, lab.CharonConn{Name: fmt.Sprintf("t%d", i+1), RemoteAddr: strings.TrimSpace(a), PSK: psk})
	}
	ch, err := l.StartCharon(lab.CharonConfig{IKEVersion: cf.ikeVersion, IKEProposal: cf.ikeProp,
		ESPProposal: cf.espProp, Connections: conns, Debug: cf.debug})
	if err != nil {
		return err
	}
	// charon keeps running after we exit; `vpgw-lab down` stops it.
	fmt.Printf("charon %s running (pid %d) in %s\n  log: %s\n  swanctl: STRONGSWAN_CONF=%s/strongswan.conf swanctl --list-sas\n",
		ch.Name, ch.Proc.PID, ch.NS, ch.LogPath(), ch.Dir())
	return nil
}

// demoConfig is the part of vpgw's YAML config the demo needs.
type demoConfig struct {
	Gateway struct {
		VPCCIDRs      []string `yaml:"vpc_cidrs"`
		ControlSocket string   `yaml:"control_socket"`
	} `yaml:"gateway"`
	CustomerGateways []struct {
		Name string `yaml:"name"`
		IP   string `yaml:"ip"`
	} `yaml:"customer_gateways"`
	VPNConnections []struct {
		Name         string   `yaml:"name"`
		StaticRoutes []string `yaml:"static_routes"`
		Tunnels      []struct {
			OutsideIP   string   `yaml:"outside_ip"`
			PSK         string   `yaml:"psk"`
			IKEVersions []string `yaml:"ike_versions"`
		} `yaml:"tunnels"`
	} `yaml:"vpn_connections"`
}

func cmdDemo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	prefix := fs.String("prefix", defaultPrefix, "namespace prefix")
	vpgwBin := fs.String("vpgw", "", "path to the vpgw binary")
	cfgPath := fs.String("config", "", "vpgw config file (its customer gateway must be "+lab.CGWWANIP+
		", or "+lab.WANVGWSideIP+" with --nat; PSKs must be set); default: one written for the lab")
	nat := fs.Bool("nat", false, "put the customer gateway behind NAT")
	timeout := fs.Duration("timeout", 60*time.Second, "how long to wait for the tunnels")
	hold := fs.Bool("hold", false, "keep the lab up until Ctrl-C before tearing down")
	debug := fs.Bool("debug", false, "charon log level 4")
	verbose := fs.Bool("v", false, "print every command")
	_ = fs.Parse(args)
	if *vpgwBin == "" {
		return errors.New("demo: --vpgw is required")
	}
	bin, err := filepath.Abs(*vpgwBin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	_ = lab.CleanupStale(*prefix, logWriter(*verbose))
	l, err := lab.Up(lab.Options{Prefix: *prefix, NAT: *nat, Log: logWriter(*verbose)})
	if err != nil {
		return err
	}
	cfgFile := ""
	if *cfgPath != "" {
		if cfgFile, err = filepath.Abs(*cfgPath); err != nil {
			_ = l.Down()
			return err
		}
	} else if cfgFile, err = writeDemoConfig(l); err != nil {
		_ = l.Down()
		return err
	}
	cfg, err := readDemoConfig(cfgFile)
	if err != nil {
		_ = l.Down()
		return err
	}
	sock := cfg.Gateway.ControlSocket
	if sock == "" {
		sock = "/run/vpgw/vpgw.sock"
	}
	var once sync.Once
	teardown := func() {
		once.Do(func() {
			fmt.Println("== tearing down")
			if err := l.Down(); err != nil {
				fmt.Fprintln(os.Stderr, "vpgw-lab:", err)
			}
		})
	}
	defer teardown()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var holding atomic.Bool
	interrupted := make(chan struct{})
	go func() {
		<-sigs
		if holding.Load() {
			close(interrupted)
			return
		}
		// Ctrl-C before --hold: tear down and leave rather than wait out timeouts.
		teardown()
		os.Exit(130)
	}()
	step := func(f string, a ...any) { fmt.Printf("== "+f+"\n", a...) }
	step("vpgw config: %s", cfgFile)
	step("lab %s up: onprem %s — cgw %s — wan — vgw %s/%s — vpc %s", *prefix, lab.OnpremIP, l.CGWPublicIP(),
		lab.VGWOutside1, lab.VGWOutside2, lab.VPCIP)
	for _, cg := range cfg.CustomerGateways {
		if cg.IP != l.CGWPublicIP() {
			step("warning: customer gateway %s has ip %s; in this lab it is %s", cg.Name, cg.IP, l.CGWPublicIP())
		}
	}

	_ = os.Remove(sock) // a stale socket would fool the wait below
	vp, err := l.Start(lab.RoleVGW, "vpgw", nil, bin, "run", "--config", cfgFile)
	if err != nil {
		return err
	}
	step("vpgw started in %s (pid %d, log %s)", l.NS(lab.RoleVGW), vp.PID, vp.LogPath)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if !vp.Running() || time.Now().After(deadline) {
			return fmt.Errorf("demo: vpgw control socket %s did not appear (%v):\n%s", sock, vp.Err(), vp.Tail(3000))
		}
		time.Sleep(200 * time.Millisecond)
	}

	vc := cfg.VPNConnections[0]
	cc := lab.CharonConfig{RemoteTS: cfg.Gateway.VPCCIDRs, LocalTS: vc.StaticRoutes, Debug: *debug}
	for i, t := range vc.Tunnels {
		if t.PSK == "" {
			return fmt.Errorf("demo: tunnel %d of %s has no psk in the config; the demo needs it", i+1, vc.Name)
		}
		cc.Connections = append(cc.Connections, lab.CharonConn{Name: fmt.Sprintf("t%d", i+1), RemoteAddr: t.OutsideIP, PSK: t.PSK})
		if len(t.IKEVersions) == 1 && t.IKEVersions[0] == "ikev1" {
			cc.IKEVersion = 1
		}
	}
	ch, err := l.StartCharon(cc)
	if err != nil {
		return err
	}
	step("strongSwan started in %s (log %s)", ch.NS, ch.LogPath())

	up := 0
	tunnelsBy := time.Now().Add(*timeout)
	for _, name := range ch.Conns {
		wait := max(time.Until(tunnelsBy), time.Second)
		if err := ch.WaitChild(name, wait); err != nil {
			step("tunnel %s: NOT up: %v", name, err)
			continue
		}
		up++
		step("tunnel %s: CHILD_SA installed", name)
	}
	out, _ := ch.Swanctl("--list-sas")
	step("strongSwan's view (swanctl --list-sas):\n%s", out)
	status, err := exec.Command(bin, "status", "--socket", sock).CombinedOutput()
	step("vpgw status:\n%s", status)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vpgw-lab: vpgw status:", err)
	}
	var pingErr error
	if up == 0 {
		pingErr = errors.New("no tunnel is up")
	}
	for _, p := range []struct{ from, src, dst string }{
		{lab.RoleOnprem, lab.OnpremIP, lab.VPCIP},
		{lab.RoleVPC, lab.VPCIP, lab.OnpremIP},
	} {
		if pingErr != nil {
			break
		}
		step("ping %s → %s through the tunnel", p.src, p.dst)
		if pingErr = l.WaitPing(p.from, p.dst, 10*time.Second); pingErr == nil {
			pout, err := l.Exec(p.from, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", p.dst)
			fmt.Printf("%s", pout)
			pingErr = err
		}
	}
	if pingErr == nil {
		status, _ := exec.Command(bin, "status", "--socket", sock).CombinedOutput()
		step("vpgw status after the pings (bytes counted on the tunnel that carries the route):\n%s", status)
	}
	if pingErr != nil {
		step("ping FAILED: %v", pingErr)
		fmt.Printf("--- vpgw log ---\n%s\n--- charon log ---\n", vp.Tail(3000))
		if b, err := os.ReadFile(ch.LogPath()); err == nil {
			fmt.Printf("%s\n", tail(b, 3000))
		}
	}
	if *hold {
		holding.Store(true)
		step("lab is up; Ctrl-C to tear down (e.g. ip netns exec %s ping %s)", l.NS(lab.RoleOnprem), lab.VPCIP)
		<-interrupted
	}
	if pingErr != nil {
		return fmt.Errorf("demo failed: %w", pingErr)
	}
	step("demo OK: %d of %d tunnels up, ping through vpgw works", up, len(ch.Conns))
	return nil
}

func readDemoConfig(path string) (*demoConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg demoConfig
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("demo: %s: %w", path, err)
	}
	if len(cfg.VPNConnections) == 0 || len(cfg.VPNConnections[0].Tunnels) == 0 {
		return nil, fmt.Errorf("demo: %s has no vpn_connections[0].tunnels", path)
	}
	return &cfg, nil
}

// writeDemoConfig writes a vpgw config for this lab, with fresh PSKs and the
// state and control socket inside the lab directory (removed by Down).
func writeDemoConfig(l *lab.Lab) (string, error) {
	dir := filepath.Join(l.Dir(), "vpgw")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(`# Written by vpgw-lab demo for lab %[5]s.
gateway:
  name: vgw-demo
  asn: 64512
  vpc_cidrs: [10.0.0.0/16]
  route_table: 254
  state_dir: %[1]s/state
  control_socket: %[1]s/vpgw.sock
  metrics_listen: ""
customer_gateways:
  - name: cgw-1
    ip: %[4]s
    bgp_asn: 65000
vpn_connections:
  - name: vpn-1
    customer_gateway: cgw-1
    routing: static
    static_routes: [%[6]s]
    tunnels:
      - outside_ip: %[7]s
        inside_cidr: 169.254.10.0/30
        psk: %[2]s
      - outside_ip: %[8]s
        inside_cidr: 169.254.11.0/30
        psk: %[3]s
`, dir, randomPSK(), randomPSK(), l.CGWPublicIP(), l.Prefix(), lab.OnpremCIDR, lab.VGWOutside1, lab.VGWOutside2)
	path := filepath.Join(dir, "vpgw.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// randomPSK follows AWS's PSK rules: 8-64 of [A-Za-z0-9._], not starting with 0.
func randomPSK() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	b[0] = 'k' // never '0', '.', or '_' first
	return string(b)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
