package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// pair is one (local address, target address, PSK): an SA of the run goes
// from local to target and authenticates with psk. Many pairs model many
// customer gateways, each with its VPN connection's tunnels (one target per
// tunnel outside IP).
type pair struct {
	local, target netip.Addr
	psk           string
}

// readPairs reads "LOCAL TARGET [PSK]" lines; '#' starts a comment, blank
// lines are skipped. A line without PSK uses defPSK (--psk or
// $IKELOAD_PSK), which must then be set.
func readPairs(r io.Reader, name, defPSK string) ([]pair, error) {
	var out []pair
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("%s:%d: want \"LOCAL TARGET [PSK]\"", name, n)
		}
		local, err := parseIPv4(f[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: local: %w", name, n, err)
		}
		target, err := parseIPv4(f[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: target: %w", name, n, err)
		}
		psk := defPSK
		if len(f) == 3 {
			psk = f[2]
		}
		if psk == "" {
			return nil, fmt.Errorf("%s:%d: no PSK on the line and no --psk (or $IKELOAD_PSK)", name, n)
		}
		out = append(out, pair{local: local, target: target, psk: psk})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no pairs", name)
	}
	if err := checkUnique(out); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func readPairsFile(path, defPSK string) ([]pair, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readPairs(f, path, defPSK)
}

// rangePairs spreads the targets over the locals in order: with k =
// len(targets)/len(locals), local i gets targets k·i … k·i+k-1 (k = 2 is
// one VPN connection per customer gateway address, two tunnels each). The
// PSK of each pair is the template with {local}, {target}, {i} (pair
// number from 0), {conn} (local's number from 0) and {tunnel} (1…k)
// replaced; without a template every pair uses psk.
func rangePairs(locals, targets []netip.Addr, template, psk string) ([]pair, error) {
	if len(locals) == 0 || len(targets) == 0 {
		return nil, errors.New("empty range")
	}
	if len(targets)%len(locals) != 0 {
		return nil, fmt.Errorf("%d targets do not divide evenly over %d locals", len(targets), len(locals))
	}
	if template == "" && psk == "" {
		return nil, errors.New("--psk-template or --psk (or $IKELOAD_PSK) is required")
	}
	k := len(targets) / len(locals)
	out := make([]pair, 0, len(targets))
	for i, t := range targets {
		l := locals[i/k]
		key := psk
		if template != "" {
			key = strings.NewReplacer(
				"{local}", l.String(),
				"{target}", t.String(),
				"{i}", strconv.Itoa(i),
				"{conn}", strconv.Itoa(i/k),
				"{tunnel}", strconv.Itoa(i%k+1),
			).Replace(template)
		}
		out = append(out, pair{local: l, target: t, psk: key})
	}
	if err := checkUnique(out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkUnique refuses a (local, target) pair given twice: the responder
// would see one customer gateway twice on one tunnel, which --count
// expresses instead.
func checkUnique(ps []pair) error {
	seen := make(map[[2]netip.Addr]bool, len(ps))
	for _, p := range ps {
		k := [2]netip.Addr{p.local, p.target}
		if seen[k] {
			return fmt.Errorf("pair %s → %s given twice (use --count for more SAs per pair)", p.local, p.target)
		}
		seen[k] = true
	}
	return nil
}

// parseRange reads "A.B.C.D", "A.B.C.D-E" (last octet up to E) or
// "A.B.C.D-W.X.Y.Z", inclusive, in address order.
func parseRange(s string) ([]netip.Addr, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	first, err := parseIPv4(lo)
	if err != nil {
		return nil, err
	}
	if !isRange {
		return []netip.Addr{first}, nil
	}
	var last netip.Addr
	if n, err := strconv.ParseUint(hi, 10, 8); err == nil {
		b := first.As4()
		b[3] = byte(n)
		last = netip.AddrFrom4(b)
	} else if last, err = parseIPv4(hi); err != nil {
		return nil, fmt.Errorf("%q: the end is neither an address nor a last octet", s)
	}
	if last.Less(first) {
		return nil, fmt.Errorf("%q: the end is below the start", s)
	}
	const maxRange = 1 << 16
	var out []netip.Addr
	for a := first; ; a = a.Next() {
		out = append(out, a)
		if a == last {
			break
		}
		if len(out) >= maxRange {
			return nil, fmt.Errorf("%q: more than %d addresses", s, maxRange)
		}
	}
	return out, nil
}

func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("want an IPv4 address, got %q", s)
	}
	return a, nil
}
