// Command ikeload is an IKE load generator built on vpgw's own IKE code:
// it opens --count IKE SAs, each with one CHILD_SA, against a responder
// (vpgw or strongSwan) at --rate SAs per second with at most --concurrency
// exchanges in flight, reports the establishment rate, latency percentiles
// and failures, and deletes the SAs at the end. IKEv2 by default; with
// --ike-version 1 each SA is an IKEv1 Main Mode (PSK) and one Quick Mode
// (an ESP SA pair, PFS with the --dh group unless --pfs=false), deleted
// with an informational DELETE each for the IPsec and the ISAKMP SA.
//
// Every SA runs on its own UDP socket bound to --local (so its own source
// port): the responder sees many SAs from one customer-gateway address, as
// a VGW does from one CGW. The responder must accept any number of IKE SAs
// from that address and must not treat the SAs as replacing each other
// (ikeload sends no INITIAL_CONTACT).
//
//	ip netns exec lab-cgw ikeload --target 203.0.113.2 --local 198.51.100.2 \
//	    --psk secret --count 500 --rate 0 --concurrency 16 --dh x25519
//
//	ip netns exec lab-cgw ikeload --ike-version 1 --target 203.0.113.2 \
//	    --local 198.51.100.2 --psk secret --count 50 --concurrency 8 --dh modp2048
//
// Many tunnels at once: --pairs FILE ("LOCAL TARGET [PSK]" lines) or
// --local-range/--target-range give one (local, target, PSK) pair per
// tunnel and --count SAs (default 1) per pair. The targets are spread in
// order over the locals, so two targets per local model one VPN connection
// (two tunnels) per customer gateway address. --hold keeps the SAs up so
// the responder can be inspected, answering its liveness checks (DPD);
// SIGINT or SIGTERM ends the hold early and the SAs are still deleted.
//
//	ip netns exec lab-cgw ikeload --local-range 198.51.100.10-109 \
//	    --target-range 203.0.113.10-209 --psk-template 'scale.{local}.{target}' \
//	    --dh x25519 --rate 100 --concurrency 16 --hold 10m
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/suite"
)

var groups = map[string]suite.DHGroup{
	"modp2048":   14,
	"modp3072":   15,
	"modp4096":   16,
	"ecp256":     19,
	"ecp384":     20,
	"x25519":     31,
	"curve25519": 31,
}

// Result is the run's summary (--json prints exactly this).
type Result struct {
	Target        string         `json:"target"` // the target; with several pairs "N targets"
	Pairs         int            `json:"pairs"`  // (local, target, PSK) pairs
	DH            string         `json:"dh"`
	Count         int            `json:"count"` // SAs asked for (pairs × --count)
	Established   int            `json:"established"`
	Failed        int            `json:"failed"`
	Failures      map[string]int `json:"failures,omitempty"`
	FailedTargets []string       `json:"failed_targets,omitempty"` // targets with at least one failed SA
	Seconds       float64        `json:"seconds"`                  // first IKE_SA_INIT to last IKE_AUTH response (v1: MM1 to QM3)
	SAsPerSec     float64        `json:"sas_per_sec"`              // established / seconds
	LatencyMS     Percentiles    `json:"latency_ms"`               // IKE_SA_INIT sent to IKE_AUTH verified (v1: MM1 to QM3 sent)
	Held          float64        `json:"held_seconds"`             // time the SAs were held before the DELETEs
	Deleted       int            `json:"deleted"`                  // DELETEs answered (v1: sent; IKEv1 has no answer)
	DeleteFails   int            `json:"delete_failed"`            // DELETEs unanswered (v1: not sent)
	DeleteSecs    float64        `json:"delete_seconds"`
	DeletedByPeer int            `json:"deleted_by_responder"` // deleted by the responder during --hold
}

// Percentiles of the establishment latency.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// session is an established SA of either IKE version, kept until deleted.
type session interface {
	serve(quit <-chan struct{}) // answers the responder while held
	remove() error              // deletes the SA at the responder
	deletedByPeer() bool        // the responder deleted it while held
	close()
}

func usageExit(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "ikeload: "+format+"\n", a...)
	os.Exit(2)
}

func main() {
	version := flag.Int("ike-version", 2, "IKE version: 2, or 1 (Main Mode with PSK + one Quick Mode per SA)")
	target := flag.String("target", "", "responder's IP address (IKE on UDP 500)")
	local := flag.String("local", "", "local IP address to send from (each SA gets its own source port)")
	psk := flag.String("psk", "", "pre-shared key (or $IKELOAD_PSK)")
	pairsFile := flag.String("pairs", "", "file of \"LOCAL TARGET [PSK]\" lines, one SA (× --count) per line, instead of --local/--target")
	localRange := flag.String("local-range", "", "local addresses A.B.C.D-E (or -W.X.Y.Z), instead of --local; with --target-range")
	targetRange := flag.String("target-range", "", "target addresses, spread in order over --local-range (len/len targets per local: 2 = one VPN connection of two tunnels per customer gateway)")
	pskTemplate := flag.String("psk-template", "", "with the ranges: each pair's PSK, {local} {target} {i} {conn} {tunnel} replaced (default: --psk for all)")
	count := flag.Int("count", 100, "number of IKE SAs to open (with --pairs or the ranges: per pair, default 1)")
	rate := flag.Float64("rate", 0, "new SAs started per second (0: as fast as --concurrency allows)")
	conc := flag.Int("concurrency", 8, "exchanges in flight at most")
	dh := flag.String("dh", "modp2048", "DH group: modp2048 | x25519 | ecp256 (also modp3072, modp4096, ecp384)")
	ikeProp := flag.String("ike-proposal", "aes128/sha2-256", "IKE proposal in vpgw's names: ENC[,ENC...][/INTEG[,INTEG...]] (e.g. aes128/sha2-256, aes256-gcm-16/sha2-384; IKEv1: AES-CBC only); the DH group comes from --dh")
	espProp := flag.String("esp-proposal", "aes128-gcm-16", "ESP proposal in vpgw's names: ENC[,ENC...][/INTEG[,INTEG...]] (e.g. aes128-gcm-16, aes128/sha1)")
	pfs := flag.Bool("pfs", true, "IKEv1: Quick Mode with PFS in the --dh group, as AWS's configurations set it up (false: no PFS)")
	tsi := flag.String("tsi", "172.16.0.0/24", "initiator's traffic selectors (comma-separated prefixes; IKEv1: one)")
	tsr := flag.String("tsr", "10.0.0.0/16", "responder's traffic selectors (comma-separated prefixes; IKEv1: one)")
	timeout := flag.Duration("timeout", 2*time.Second, "first retransmission timeout; doubles, 3 retransmits")
	hold := flag.Duration("hold", 0, "keep the SAs this long before deleting them, answering the responder's liveness checks (IKEv2 INFORMATIONAL, IKEv1 DPD R-U-THERE); SIGINT or SIGTERM ends the hold")
	noDelete := flag.Bool("no-delete", false, "leave the SAs up (the responder expires them)")
	asJSON := flag.Bool("json", false, "print the result as JSON only (progress lines go to stderr)")
	flag.Parse()

	countSet := false
	flag.Visit(func(f *flag.Flag) { countSet = countSet || f.Name == "count" })
	if *psk == "" {
		*psk = os.Getenv("IKELOAD_PSK")
	}
	var pairs []pair
	var err error
	switch {
	case *pairsFile != "":
		if *target != "" || *local != "" || *localRange != "" || *targetRange != "" {
			usageExit("--pairs excludes --target, --local and the ranges")
		}
		pairs, err = readPairsFile(*pairsFile, *psk)
	case *localRange != "" || *targetRange != "":
		if *target != "" || *local != "" {
			usageExit("--local-range/--target-range exclude --target and --local")
		}
		var ls, ts []netip.Addr
		if ls, err = parseRange(*localRange); err != nil {
			usageExit("--local-range: %v", err)
		}
		if ts, err = parseRange(*targetRange); err != nil {
			usageExit("--target-range: %v", err)
		}
		pairs, err = rangePairs(ls, ts, *pskTemplate, *psk)
	default:
		var l, t netip.Addr
		if t, err = parseIPv4(*target); err != nil {
			usageExit("--target: %v", err)
		}
		if l, err = parseIPv4(*local); err != nil {
			usageExit("--local: %v", err)
		}
		if *psk == "" {
			usageExit("--psk (or $IKELOAD_PSK) is required")
		}
		pairs = []pair{{local: l, target: t, psk: *psk}}
	}
	if err != nil {
		usageExit("%v", err)
	}
	multi := *pairsFile != "" || *localRange != ""
	if multi && !countSet {
		*count = 1
	}
	base, err := buildParams(*version, *dh, *ikeProp, *espProp, *tsi, *tsr, *pfs, *timeout)
	if err != nil {
		usageExit("%v", err)
	}
	open := establish
	if *version == 1 {
		open = establishV1
	}
	if *count < 1 || *conc < 1 || *rate < 0 {
		usageExit("--count and --concurrency must be >= 1, --rate >= 0")
	}

	// The first SIGINT/SIGTERM stops new SAs and ends the hold: what is
	// up is still deleted. A second one exits at once.
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		close(stop)
		<-sigs
		os.Exit(130)
	}()

	jobs := makeJobs(base, pairs, *count)
	res, sas := run(jobs, open, *rate, *conc, stop)
	res.Target, res.Pairs, res.DH = pairs[0].target.String(), len(pairs), *dh
	if len(pairs) > 1 {
		res.Target = fmt.Sprintf("%d targets", countTargets(pairs))
	}
	if *hold > 0 && len(sas) > 0 {
		fmt.Fprintf(os.Stderr, "ikeload: %d/%d SAs established in %.2fs; holding them for %v (SIGINT or SIGTERM deletes them now)\n",
			res.Established, res.Count, res.Seconds, *hold)
		t0 := time.Now()
		quit := make(chan struct{})
		var wg sync.WaitGroup
		for _, sa := range sas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sa.serve(quit)
			}()
		}
		select {
		case <-time.After(*hold):
		case <-stop:
		}
		close(quit)
		wg.Wait()
		res.Held = time.Since(t0).Seconds()
	}
	if !*noDelete {
		deleteAll(sas, *conc, &res)
	}
	for _, sa := range sas {
		sa.close()
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(res)
	} else {
		printResult(res, *version)
	}
	if res.Established == 0 {
		os.Exit(1)
	}
}

// buildParams checks the settings every SA shares; makeJobs adds each
// pair's addresses and PSK.
func buildParams(version int, dh, ikeProp, espProp, tsi, tsr string, pfs bool, timeout time.Duration) (*params, error) {
	p := &params{port: 500}
	var err error
	if version != 1 && version != 2 {
		return nil, fmt.Errorf("--ike-version: %d (want 1 or 2)", version)
	}
	g, ok := groups[dh]
	if !ok || !ike.SupportedGroup(g) {
		return nil, fmt.Errorf("--dh: unknown group %q", dh)
	}
	p.group = g
	if version == 1 && pfs {
		p.pfs = g
	}
	if p.ikePol, err = parseProposal(ikeProp, []int{int(g)}); err != nil {
		return nil, fmt.Errorf("--ike-proposal: %w", err)
	}
	if p.espPol, err = parseProposal(espProp, nil); err != nil {
		return nil, fmt.Errorf("--esp-proposal: %w", err)
	}
	if p.tsi, err = parsePrefixes(tsi); err != nil {
		return nil, fmt.Errorf("--tsi: %w", err)
	}
	if p.tsr, err = parsePrefixes(tsr); err != nil {
		return nil, fmt.Errorf("--tsr: %w", err)
	}
	if version == 1 {
		if len(ike.V1IKETransforms(p.ikePol, v1IKELifetime)) == 0 {
			return nil, fmt.Errorf("--ike-proposal: %q: IKEv1 phase 1 needs an AES-CBC cipher", ikeProp)
		}
		if len(p.tsi) != 1 || len(p.tsr) != 1 {
			return nil, errors.New("--tsi, --tsr: IKEv1 Quick Mode takes one prefix each")
		}
		if p.pfs != 0 {
			p.espPol.DHGroups = []suite.DHGroup{p.pfs} // checks the responder's Group Description
		}
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	p.timeouts = []time.Duration{timeout, 2 * timeout, 4 * timeout, 8 * timeout}
	return p, nil
}

// makeJobs lists the SAs to open: count rounds over the pairs, so SAs to
// the same target are spread over the run.
func makeJobs(base *params, pairs []pair, count int) []*params {
	per := make([]*params, len(pairs))
	for i, pr := range pairs {
		p := *base
		p.local, p.target, p.psk = pr.local, pr.target, []byte(pr.psk)
		per[i] = &p
	}
	jobs := make([]*params, 0, len(pairs)*count)
	for c := 0; c < count; c++ {
		jobs = append(jobs, per...)
	}
	return jobs
}

func countTargets(ps []pair) int {
	seen := map[netip.Addr]bool{}
	for _, p := range ps {
		seen[p.target] = true
	}
	return len(seen)
}

// parseProposal reads "ENC[,ENC]/INTEG[,INTEG]" in the configuration's
// names. Without integrity (AEAD only) sha2-256 stands in: it only picks
// the IKE PRF and is not offered for ESP with an AEAD cipher.
func parseProposal(s string, dh []int) (ike.Policy, error) {
	encs, ints, _ := strings.Cut(s, "/")
	enc := splitList(encs)
	integ := splitList(ints)
	if len(integ) == 0 {
		for _, e := range enc {
			if c, ok := suite.CipherNames[e]; ok && !c.IsAEAD() {
				return ike.Policy{}, fmt.Errorf("%q: a non-AEAD cipher needs an integrity algorithm (ENC/INTEG)", s)
			}
		}
		integ = []string{"sha2-256"}
	}
	return ike.ParsePolicy(enc, integ, dh)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range splitList(s) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	if len(out) == 0 {
		return nil, errors.New("no prefix")
	}
	return out, nil
}

// run opens one SA per job with open: a pacer releases starts at rate (or
// at once), conc workers run the exchanges. Closing stop starts no more.
func run(jobs []*params, open func(*params) (session, error), rate float64, conc int, stop <-chan struct{}) (Result, []session) {
	res := Result{Count: len(jobs), Failures: map[string]int{}}
	starts := make(chan *params)
	go func() {
		defer close(starts)
		t0 := time.Now()
		for i, job := range jobs {
			if rate > 0 {
				if d := time.Until(t0.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
					select {
					case <-time.After(d):
					case <-stop:
						return
					}
				}
			}
			select {
			case starts <- job:
			case <-stop:
				return
			}
		}
	}()
	var (
		mu        sync.Mutex
		sas       []session
		latencies []time.Duration
		failedTo  = map[string]bool{}
		first     time.Time
		last      time.Time
		wg        sync.WaitGroup
	)
	begin := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range starts {
				t := time.Now()
				sa, err := open(p)
				done := time.Now()
				mu.Lock()
				if first.IsZero() || t.Before(first) {
					first = t
				}
				if err != nil {
					key := err.Error()
					var f *failure
					if errors.As(err, &f) {
						key = f.step + ": " + f.reason
					}
					res.Failures[key]++
					res.Failed++
					failedTo[p.target.String()] = true
				} else {
					sas = append(sas, sa)
					latencies = append(latencies, done.Sub(t))
					if done.After(last) {
						last = done
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Established = len(sas)
	if first.IsZero() {
		first = begin
	}
	if !last.IsZero() {
		res.Seconds = last.Sub(first).Seconds()
	}
	if res.Seconds > 0 {
		res.SAsPerSec = float64(res.Established) / res.Seconds
	}
	res.LatencyMS = percentiles(latencies)
	if len(res.Failures) == 0 {
		res.Failures = nil
	}
	for t := range failedTo {
		res.FailedTargets = append(res.FailedTargets, t)
	}
	sort.Slice(res.FailedTargets, func(i, j int) bool {
		a, _ := netip.ParseAddr(res.FailedTargets[i])
		b, _ := netip.ParseAddr(res.FailedTargets[j])
		return a.Less(b)
	})
	return res, sas
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) float64 {
		i := int(q*float64(len(ds)-1) + 0.5)
		return float64(ds[i]) / float64(time.Millisecond)
	}
	return Percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: at(1)}
}

// deleteAll deletes the SAs, conc at a time, waiting for each answer.
func deleteAll(sas []session, conc int, res *Result) {
	t0 := time.Now()
	ch := make(chan session)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sa := range ch {
				if sa.deletedByPeer() {
					mu.Lock()
					res.DeletedByPeer++
					mu.Unlock()
					continue
				}
				err := sa.remove()
				mu.Lock()
				if err != nil {
					res.DeleteFails++
				} else {
					res.Deleted++
				}
				mu.Unlock()
			}
		}()
	}
	for _, sa := range sas {
		ch <- sa
	}
	close(ch)
	wg.Wait()
	res.DeleteSecs = time.Since(t0).Seconds()
}

func printResult(r Result, version int) {
	what := "IKE SAs (+1 CHILD_SA each)"
	if version == 1 {
		what = "IKEv1 ISAKMP SAs (+1 IPsec SA each)"
	}
	fmt.Printf("ikeload: %d %s to %s (%d local/target pairs) with %s\n", r.Count, what, r.Target, r.Pairs, r.DH)
	fmt.Printf("  established  %d in %.2fs: %.1f SAs/s\n", r.Established, r.Seconds, r.SAsPerSec)
	fmt.Printf("  latency ms   p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.Max)
	fmt.Printf("  failed       %d\n", r.Failed)
	if len(r.FailedTargets) > 0 {
		fmt.Printf("    to %s\n", strings.Join(r.FailedTargets, " "))
	}
	keys := make([]string, 0, len(r.Failures))
	for k := range r.Failures {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("    %5d  %s\n", r.Failures[k], k)
	}
	if version == 1 {
		fmt.Printf("  deleted      %d (%d not sent; IKEv1 DELETEs get no answer) in %.2fs\n", r.Deleted, r.DeleteFails, r.DeleteSecs)
	} else {
		fmt.Printf("  deleted      %d (%d unanswered) in %.2fs\n", r.Deleted, r.DeleteFails, r.DeleteSecs)
	}
	if r.DeletedByPeer > 0 {
		fmt.Printf("  deleted by the responder during the hold: %d\n", r.DeletedByPeer)
	}
}
