package lab

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

// wireguard-go in the lab: a userspace WireGuard peer (the throughput anchor
// for userspace tunnels). Its control socket path /var/run/wireguard/IFACE.sock
// is compiled in, so like charon each instance runs in a private mount
// namespace with its own directory bind-mounted on /run; `wg` talks to it
// from inside that mount namespace (nsenter --mount --net on its PID).

// WireGuardConfig describes one wireguard-go instance.
type WireGuardConfig struct {
	// NS is the namespace role (or name); required.
	NS string
	// Name of the instance (its directory and log); default "wg-<role>".
	Name string
	// Bin is the wireguard-go binary; default FindWireGuardGo().
	Bin string
	// Iface is the interface name; default wg0.
	Iface string
	// PrivateKey is base64 (as `wg genkey` prints); default a fresh one.
	PrivateKey string
	// ListenPort is the UDP port; default 51820.
	ListenPort int
	// Address is the interface's own address with prefix length
	// (e.g. 192.168.77.1/30); optional.
	Address string
	// MTU of the interface; default 1420 (wg-quick's).
	MTU int
	// Peers to configure at start.
	Peers []WireGuardPeer
	// Routes are prefixes routed into the interface in the main table.
	Routes []string
	// RouteSrc, when set, is the source address of those routes (e.g. the
	// gateway's LAN address, so its own traffic matches the peer's
	// allowed IPs).
	RouteSrc string
}

// WireGuardPeer is one peer as `wg set ... peer` takes it.
type WireGuardPeer struct {
	PublicKey  string   // base64
	Endpoint   string   // ip:port; optional
	AllowedIPs []string // prefixes
	// Keepalive is persistent-keepalive; 0 leaves it off.
	Keepalive time.Duration
}

// WireGuard is a running wireguard-go instance.
type WireGuard struct {
	Name      string
	NS        string
	Iface     string
	PublicKey string
	Port      int
	Proc      *Proc

	l      *Lab
	dir    string
	runDir string
}

// WireGuardKeyPair returns a fresh base64 private key and its public key.
func WireGuardKeyPair() (priv, pub string, err error) {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return "", "", err
	}
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	p, err := ecdh.X25519().NewPrivateKey(k[:])
	if err != nil {
		return "", "", err
	}
	return base64.StdEncoding.EncodeToString(k[:]), base64.StdEncoding.EncodeToString(p.PublicKey().Bytes()), nil
}

// wireGuardPublic derives the public key of a base64 private key.
func wireGuardPublic(priv string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(priv)
	if err != nil || len(b) != 32 {
		return "", errors.New("lab: wireguard: private key: want 32 bytes in base64")
	}
	b[0] &= 248
	b[31] = (b[31] & 127) | 64
	p, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(p.PublicKey().Bytes()), nil
}

// FindWireGuardGo locates the wireguard-go binary: $VPGW_WIREGUARD_GO, then
// wireguard-go or wireguard on PATH, then the repository's bin/wireguard
// (where `go install golang.zx2c4.com/wireguard@...` with GOBIN=bin puts
// it), then $GOPATH/bin/wireguard.
func FindWireGuardGo() (string, error) {
	if p := os.Getenv("VPGW_WIREGUARD_GO"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("lab: $VPGW_WIREGUARD_GO: %w", err)
		}
		return p, nil
	}
	for _, n := range []string{"wireguard-go", "wireguard"} {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	var cands []string
	if _, file, _, ok := runtime.Caller(0); ok {
		cands = append(cands, filepath.Join(filepath.Dir(file), "..", "bin", "wireguard"))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			cands = append(cands, filepath.Join(d, "bin", "wireguard"))
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, d := range filepath.SplitList(string(trimNL(out))) {
			cands = append(cands, filepath.Join(d, "bin", "wireguard"))
		}
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return filepath.Clean(c), nil
		}
	}
	return "", errors.New("lab: wireguard-go not found (set $VPGW_WIREGUARD_GO, or `GOBIN=$PWD/bin go install golang.zx2c4.com/wireguard@v0.0.0-20250521234502-f333402bd9cb`; `wg` comes from `apt-get install --no-install-recommends wireguard-tools`)")
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// StartWireGuard starts wireguard-go in its namespace (foreground, tracked
// by PID, private mount namespace for its control socket), configures the
// key, port and peers with `wg set`, and brings the interface up with its
// address, MTU and routes.
func (l *Lab) StartWireGuard(c WireGuardConfig) (*WireGuard, error) {
	if c.NS == "" {
		return nil, errors.New("lab: wireguard: NS is required")
	}
	role := c.NS
	for _, r := range Roles {
		if l.NS(r) == l.NS(c.NS) {
			role = r
		}
	}
	setDefault(&c.Name, "wg-"+role)
	setDefault(&c.Iface, "wg0")
	if c.ListenPort == 0 {
		c.ListenPort = 51820
	}
	if c.MTU == 0 {
		c.MTU = 1420
	}
	if !procNameRE.MatchString(c.Name) || !connNameRE.MatchString(c.Iface) || len(c.Iface) > 15 {
		return nil, fmt.Errorf("lab: wireguard: bad name %q or interface %q", c.Name, c.Iface)
	}
	if c.Bin == "" {
		var err error
		if c.Bin, err = FindWireGuardGo(); err != nil {
			return nil, err
		}
	}
	if _, err := exec.LookPath("wg"); err != nil {
		return nil, errors.New("lab: wireguard: `wg` not found: apt-get install -y --no-install-recommends wireguard-tools")
	}
	if c.PrivateKey == "" {
		var err error
		if c.PrivateKey, _, err = WireGuardKeyPair(); err != nil {
			return nil, err
		}
	}
	pub, err := wireGuardPublic(c.PrivateKey)
	if err != nil {
		return nil, err
	}
	for _, a := range append(append([]string(nil), c.Routes...), c.Address) {
		if a == "" {
			continue
		}
		if _, err := netip.ParsePrefix(a); err != nil {
			return nil, fmt.Errorf("lab: wireguard: %q: %w", a, err)
		}
	}
	w := &WireGuard{Name: c.Name, NS: l.NS(c.NS), Iface: c.Iface, PublicKey: pub, Port: c.ListenPort, l: l}
	w.dir = filepath.Join(l.dir, c.Name)
	w.runDir = filepath.Join(w.dir, "run")
	if _, err := os.Stat(w.dir); err == nil {
		return nil, fmt.Errorf("lab: wireguard instance %q already exists", c.Name)
	}
	if err := os.MkdirAll(w.runDir, 0o700); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	keyFile := filepath.Join(w.dir, "private.key")
	if err := os.WriteFile(keyFile, []byte(c.PrivateKey+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	p, err := l.Start(c.NS, c.Name, []string{"WG_PROCESS_FOREGROUND=1"}, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", `mount --bind "$1" /run && exec "$2" -f "$3"`, "sh", w.runDir, c.Bin, c.Iface)
	if err != nil {
		return nil, err
	}
	w.Proc = p
	fail := func(err error) (*WireGuard, error) {
		_ = p.Stop()
		return nil, fmt.Errorf("%w\n--- wireguard-go output ---\n%s", err, p.Tail(2000))
	}
	sock := filepath.Join(w.runDir, "wireguard", c.Iface+".sock")
	if err := waitFor(waitReady, p, func() bool {
		_, err := os.Stat(sock)
		return err == nil
	}); err != nil {
		return fail(fmt.Errorf("lab: wireguard %s: control socket %s: %w", c.Name, sock, err))
	}
	if _, err := w.Wg("set", c.Iface, "private-key", keyFile, "listen-port", strconv.Itoa(c.ListenPort)); err != nil {
		return fail(err)
	}
	for _, peer := range c.Peers {
		if err := w.AddPeer(peer); err != nil {
			return fail(err)
		}
	}
	if c.Address != "" {
		if _, err := l.run("ip", "-n", w.NS, "addr", "add", c.Address, "dev", c.Iface); err != nil {
			return fail(err)
		}
	}
	if _, err := l.run("ip", "-n", w.NS, "link", "set", c.Iface, "mtu", strconv.Itoa(c.MTU), "up"); err != nil {
		return fail(err)
	}
	for _, r := range c.Routes {
		args := []string{"-n", w.NS, "route", "replace", r, "dev", c.Iface}
		if c.RouteSrc != "" {
			args = append(args, "src", c.RouteSrc)
		}
		if _, err := l.run("ip", args...); err != nil {
			return fail(err)
		}
	}
	return w, nil
}

// Wg runs `wg ARGS` in the instance's network and mount namespaces (where
// its control socket is) and returns the combined output.
func (w *WireGuard) Wg(args ...string) ([]byte, error) {
	if !w.Proc.Running() {
		return nil, fmt.Errorf("lab: wireguard %s is not running", w.Name)
	}
	full := append([]string{"--target", strconv.Itoa(w.Proc.PID), "--mount", "--net", "wg"}, args...)
	return w.l.run("nsenter", full...)
}

// AddPeer adds (or updates) a peer with `wg set`.
func (w *WireGuard) AddPeer(p WireGuardPeer) error {
	args := []string{"set", w.Iface, "peer", p.PublicKey}
	if p.Endpoint != "" {
		args = append(args, "endpoint", p.Endpoint)
	}
	if len(p.AllowedIPs) > 0 {
		args = append(args, "allowed-ips", joinComma(p.AllowedIPs))
	}
	if p.Keepalive > 0 {
		args = append(args, "persistent-keepalive", strconv.Itoa(int(p.Keepalive/time.Second)))
	}
	_, err := w.Wg(args...)
	return err
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}

// Stop stops wireguard-go (its interface goes with it).
func (w *WireGuard) Stop() error { return w.Proc.Stop() }

// WireGuardPair starts wireguard-go in the customer gateway (cgw) and vgw
// namespaces, peered over the WAN (198.51.100.2 <-> 203.0.113.2, UDP
// 51820), carrying on-prem 172.16.0.0/24 <-> VPC 10.0.0.0/16 and the inside
// addresses 192.168.77.1/30 (cgw) and .2 (vgw). After it, on-prem reaches
// the VPC through the pair, as through an IPsec tunnel.
func (l *Lab) WireGuardPair(bin string) (cgw, vgw *WireGuard, err error) {
	cPriv, cPub, err := WireGuardKeyPair()
	if err != nil {
		return nil, nil, err
	}
	vPriv, vPub, err := WireGuardKeyPair()
	if err != nil {
		return nil, nil, err
	}
	cgw, err = l.StartWireGuard(WireGuardConfig{
		NS: RoleCGW, Bin: bin, PrivateKey: cPriv, Address: "192.168.77.1/30",
		Peers:  []WireGuardPeer{{PublicKey: vPub, Endpoint: VGWOutside1 + ":51820", AllowedIPs: []string{VPCCIDR, "192.168.77.2/32"}}},
		Routes: []string{VPCCIDR}, RouteSrc: CGWLANIP,
	})
	if err != nil {
		return nil, nil, err
	}
	vgw, err = l.StartWireGuard(WireGuardConfig{
		NS: RoleVGW, Bin: bin, PrivateKey: vPriv, Address: "192.168.77.2/30",
		Peers:  []WireGuardPeer{{PublicKey: cPub, Endpoint: CGWWANIP + ":51820", AllowedIPs: []string{OnpremCIDR, "192.168.77.1/32"}}},
		Routes: []string{OnpremCIDR}, RouteSrc: VGWVPCIP,
	})
	if err != nil {
		_ = cgw.Stop()
		return nil, nil, err
	}
	return cgw, vgw, nil
}
