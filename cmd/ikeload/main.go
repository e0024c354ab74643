// Command ikeload is an IKEv2 load generator built on vpgw's own IKE code:
// it opens --count IKE SAs, each with one CHILD_SA, against a responder
// (vpgw or strongSwan) at --rate SAs per second with at most --concurrency
// exchanges in flight, reports the establishment rate, latency percentiles
// and failures, and deletes the SAs at the end.
//
// Every SA runs on its own UDP socket bound to --local (so its own source
// port): the responder sees many SAs from one customer-gateway address, as
// a VGW does from one CGW. The responder must accept any number of IKE SAs
// from that address and must not treat the SAs as replacing each other
// (ikeload sends no INITIAL_CONTACT).
//
//	ip netns exec lab-cgw ikeload --target 203.0.113.2 --local 198.51.100.2 \
//	    --psk secret --count 500 --rate 0 --concurrency 16 --dh x25519
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
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
	Target      string         `json:"target"`
	DH          string         `json:"dh"`
	Count       int            `json:"count"`
	Established int            `json:"established"`
	Failed      int            `json:"failed"`
	Failures    map[string]int `json:"failures,omitempty"`
	Seconds     float64        `json:"seconds"`       // first IKE_SA_INIT to last IKE_AUTH response
	SAsPerSec   float64        `json:"sas_per_sec"`   // established / seconds
	LatencyMS   Percentiles    `json:"latency_ms"`    // IKE_SA_INIT sent to IKE_AUTH verified
	Deleted     int            `json:"deleted"`       // DELETEs answered
	DeleteFails int            `json:"delete_failed"` // DELETEs unanswered
	DeleteSecs  float64        `json:"delete_seconds"`
}

// Percentiles of the establishment latency.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func main() {
	target := flag.String("target", "", "responder's IP address (IKE on UDP 500)")
	local := flag.String("local", "", "local IP address to send from (each SA gets its own source port)")
	psk := flag.String("psk", "", "pre-shared key (or $IKELOAD_PSK)")
	count := flag.Int("count", 100, "number of IKE SAs to open")
	rate := flag.Float64("rate", 0, "new SAs started per second (0: as fast as --concurrency allows)")
	conc := flag.Int("concurrency", 8, "exchanges in flight at most")
	dh := flag.String("dh", "modp2048", "DH group: modp2048 | x25519 | ecp256 (also modp3072, modp4096, ecp384)")
	ikeProp := flag.String("ike-proposal", "aes128/sha2-256", "IKE proposal in vpgw's names: ENC[,ENC...][/INTEG[,INTEG...]] (e.g. aes128/sha2-256, aes256-gcm-16/sha2-384); the DH group comes from --dh")
	espProp := flag.String("esp-proposal", "aes128-gcm-16", "ESP proposal in vpgw's names: ENC[,ENC...][/INTEG[,INTEG...]] (e.g. aes128-gcm-16, aes128/sha1)")
	tsi := flag.String("tsi", "172.16.0.0/24", "initiator's traffic selectors (comma-separated prefixes)")
	tsr := flag.String("tsr", "10.0.0.0/16", "responder's traffic selectors (comma-separated prefixes)")
	timeout := flag.Duration("timeout", 2*time.Second, "first retransmission timeout; doubles, 3 retransmits")
	hold := flag.Duration("hold", 0, "keep the SAs this long before deleting them")
	noDelete := flag.Bool("no-delete", false, "leave the SAs up (the responder expires them)")
	asJSON := flag.Bool("json", false, "print the result as JSON only")
	flag.Parse()

	p, err := buildParams(*target, *local, *psk, *dh, *ikeProp, *espProp, *tsi, *tsr, *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ikeload:", err)
		os.Exit(2)
	}
	if *count < 1 || *conc < 1 || *rate < 0 {
		fmt.Fprintln(os.Stderr, "ikeload: --count and --concurrency must be >= 1, --rate >= 0")
		os.Exit(2)
	}
	res, sas := run(p, *count, *rate, *conc)
	res.Target, res.DH = *target, *dh
	if *hold > 0 {
		time.Sleep(*hold)
	}
	if !*noDelete {
		deleteAll(p, sas, *conc, &res)
	}
	for _, sa := range sas {
		sa.close()
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(res)
	} else {
		printResult(res)
	}
	if res.Established == 0 {
		os.Exit(1)
	}
}

func buildParams(target, local, psk, dh, ikeProp, espProp, tsi, tsr string, timeout time.Duration) (*params, error) {
	p := &params{}
	var err error
	if p.target, err = netip.ParseAddr(target); err != nil || !p.target.Is4() {
		return nil, fmt.Errorf("--target: want an IPv4 address, got %q", target)
	}
	if p.local, err = netip.ParseAddr(local); err != nil || !p.local.Is4() {
		return nil, fmt.Errorf("--local: want an IPv4 address, got %q", local)
	}
	if psk == "" {
		psk = os.Getenv("IKELOAD_PSK")
	}
	if psk == "" {
		return nil, errors.New("--psk (or $IKELOAD_PSK) is required")
	}
	p.psk = []byte(psk)
	g, ok := groups[dh]
	if !ok || !ike.SupportedGroup(g) {
		return nil, fmt.Errorf("--dh: unknown group %q", dh)
	}
	p.group = g
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
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	p.timeouts = []time.Duration{timeout, 2 * timeout, 4 * timeout, 8 * timeout}
	return p, nil
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

// run opens count SAs: a pacer releases starts at rate (or at once),
// conc workers run the exchanges.
func run(p *params, count int, rate float64, conc int) (Result, []*ikeSA) {
	res := Result{Count: count, Failures: map[string]int{}}
	starts := make(chan struct{})
	go func() {
		defer close(starts)
		t0 := time.Now()
		for i := 0; i < count; i++ {
			if rate > 0 {
				if d := time.Until(t0.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
					time.Sleep(d)
				}
			}
			starts <- struct{}{}
		}
	}()
	var (
		mu        sync.Mutex
		sas       []*ikeSA
		latencies []time.Duration
		first     time.Time
		last      time.Time
		wg        sync.WaitGroup
	)
	begin := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range starts {
				t := time.Now()
				sa, err := establish(p)
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
func deleteAll(p *params, sas []*ikeSA, conc int, res *Result) {
	t0 := time.Now()
	ch := make(chan *ikeSA)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sa := range ch {
				err := deleteSA(p, sa)
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

func printResult(r Result) {
	fmt.Printf("ikeload: %d IKE SAs (+1 CHILD_SA each) to %s with %s\n", r.Count, r.Target, r.DH)
	fmt.Printf("  established  %d in %.2fs: %.1f SAs/s\n", r.Established, r.Seconds, r.SAsPerSec)
	fmt.Printf("  latency ms   p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.Max)
	fmt.Printf("  failed       %d\n", r.Failed)
	keys := make([]string, 0, len(r.Failures))
	for k := range r.Failures {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("    %5d  %s\n", r.Failures[k], k)
	}
	fmt.Printf("  deleted      %d (%d unanswered) in %.2fs\n", r.Deleted, r.DeleteFails, r.DeleteSecs)
}
