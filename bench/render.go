package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/vpgw/vpgw/lab"
)

func render(start time.Time, res results) string {
	tputs, rates := res.tputs, res.rates
	var b strings.Builder
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	swan, _ := exec.Command("dpkg-query", "-W", "-f", "${Version}", "strongswan-charon").Output()
	fmt.Fprintf(&b, "# vpgw bench\n\n")
	fmt.Fprintf(&b, "- date: %s\n", start.Format(time.RFC3339))
	fmt.Fprintf(&b, "- command: `%s`\n", commandLine())
	fmt.Fprintf(&b, "- machine: %d CPUs, kernel %s, %s, strongSwan %s (kernel-libipsec); all ends in one netns lab on this machine\n",
		runtime.NumCPU(), strings.TrimSpace(string(kernel)), runtime.Version(), strings.TrimSpace(string(swan)))
	fmt.Fprintf(&b, "- load average at start: %s, at end: %s (other work on the machine skews every number)\n", startLoad, loadavg())
	if len(res.tputs) > 0 {
		fmt.Fprintf(&b, "- throughput: iperf3 -t %d on-prem 172.16.0.10 → VPC 10.0.0.10 (receiver's count); ESP aes128gcm16, IKE aes128-sha256-modp2048; CPU = utime+stime of the gateway process during the transfer, per GB (1e9 bytes) received\n", *flDuration)
	}
	if len(res.udps) > 0 {
		fmt.Fprintf(&b, "- small packets: iperf3 -u -b %s -t %d, payload -l 64 / 200 bytes (IP packets 28 bytes longer), same paths and ciphers; packets/s as counted by the receiving iperf3 (sent − lost); CPU per million packets received\n", *flUDPRate, *flUDPTime)
	}
	if len(res.rates) > 0 {
		fmt.Fprintf(&b, "- SAs/s: cmd/ikeload in cgw (198.51.100.2, one source port per SA) → responder 203.0.113.2, %d IKE SAs + 1 CHILD_SA each, %d in flight, IKE aes128/sha2-256, ESP aes128-gcm-16, then DELETEs; responder CPU ms/SA covers setup and delete\n", *flSAs, *flConc)
	}
	if len(res.failovers) > 0 || len(res.rekeys) > 0 {
		fmt.Fprintf(&b, "- failover and rekeys: the bench's own UDP streams (64-byte payloads, a sequence number in each, sender and receiver in one process: loss and gaps are exact), one on-prem 172.16.0.10 → VPC 10.0.0.10 and one back; strongSwan (kernel-libipsec) as CGW, IKEv2, ESP aes128gcm16 (with PFS for the rekeys)\n")
	}
	if len(tputs) > 0 {
		renderTCP(&b, tputs)
	}
	if len(res.udps) > 0 {
		renderUDP(&b, res.udps)
	}
	if len(rates) > 0 {
		renderIKE(&b, rates)
	}
	if len(res.failovers) > 0 {
		renderFailover(&b, res.failovers)
	}
	if len(res.rekeys) > 0 {
		renderRekeys(&b, res.rekeys)
	}
	for _, n := range busyNotes {
		fmt.Fprintf(&b, "\nNote: %s: that row is skewed.", n)
	}
	if len(busyNotes) > 0 {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nTotal bench time: %.0fs\n", time.Since(start).Seconds())
	return b.String()
}

func renderTCP(b *strings.Builder, tputs []tput) {
	var base = map[int]tput{}
	for _, t := range tputs {
		if t.path == pathSS && t.note == "" {
			base[t.flows] = t
		}
	}
	fmt.Fprintf(b, "\n## TCP throughput on-prem → VPC\n\n")
	fmt.Fprintf(b, "| path | flows | Mbit/s | × s↔s | CGW CPU s/GB | VGW CPU s/GB | VGW s/GB × s↔s |\n")
	fmt.Fprintf(b, "|---|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range tputs {
		if t.note != "" {
			fmt.Fprintf(b, "| %s | %d | %s | | | | |\n", t.path, t.flows, t.note)
			continue
		}
		gb := t.bytes / 1e9
		cs, vs := t.cgwCPU/gb, t.vgwCPU/gb
		ratio, cratio := "", ""
		if bt, ok := base[t.flows]; ok && bt.mbps > 0 {
			ratio = fmt.Sprintf("%.2f", t.mbps/bt.mbps)
			if bvs := bt.vgwCPU / (bt.bytes / 1e9); bvs > 0 {
				cratio = fmt.Sprintf("%.2f", vs/bvs)
			}
		}
		fmt.Fprintf(b, "| %s | %d | %.0f | %s | %.2f | %.2f | %s |\n", t.path, t.flows, t.mbps, ratio, cs, vs, cratio)
	}
}

func renderIKE(b *strings.Builder, rates []saRate) {
	fmt.Fprintf(b, "\n## IKEv2 SAs/s as responder\n\n")
	fmt.Fprintf(b, "| responder | DH | up/asked | SAs/s | × strongSwan | latency p50 / p90 / p99 ms | responder CPU ms/SA | × strongSwan | ikeload CPU ms/SA | failures | deleted |\n")
	fmt.Fprintf(b, "|---|---|---:|---:|---:|---|---:|---:|---:|---|---:|\n")
	swRate, swCPU := map[string]float64{}, map[string]float64{}
	for _, r := range rates {
		if r.responder == "strongSwan" && r.note == "" {
			swRate[r.dh], swCPU[r.dh] = r.res.SAsPerSec, r.cpuMSPerSA
		}
	}
	for _, r := range rates {
		if r.note != "" && r.res.Count == 0 {
			fmt.Fprintf(b, "| %s | %s | %s | | | | | | | | |\n", r.responder, r.dh, r.note)
			continue
		}
		ratio, cratio := "", ""
		if sw := swRate[r.dh]; sw > 0 {
			ratio = fmt.Sprintf("%.2f", r.res.SAsPerSec/sw)
		}
		if sw := swCPU[r.dh]; sw > 0 {
			cratio = fmt.Sprintf("%.2f", r.cpuMSPerSA/sw)
		}
		fails := fmt.Sprint(r.res.Failed)
		for k, v := range r.res.Failures {
			fails += fmt.Sprintf(" (%d× %s)", v, k)
			break
		}
		fmt.Fprintf(b, "| %s | %s | %d/%d | %.1f | %s | %.1f / %.1f / %.1f | %.2f | %s | %.2f | %s | %d |\n",
			r.responder, r.dh, r.res.Established, r.res.Count, r.res.SAsPerSec, ratio,
			r.res.LatencyMS.P50, r.res.LatencyMS.P90, r.res.LatencyMS.P99, r.cpuMSPerSA, cratio, r.loadMSPerSA, fails, r.res.Deleted)
	}
}

// commandLine is how the bench was started: $VPGW_BENCH_CMD (set by
// bench/run.sh) or the program's own arguments.
func commandLine() string {
	if c := os.Getenv("VPGW_BENCH_CMD"); c != "" {
		return c
	}
	return strings.Join(append([]string{"go run ./bench"}, os.Args[1:]...), " ")
}

func renderUDP(b *strings.Builder, udps []udpRate) {
	base := map[int]udpRate{}
	for _, u := range udps {
		if u.path == pathSS && u.note == "" {
			base[u.size] = u
		}
	}
	fmt.Fprintf(b, "\n## Small packets (UDP) on-prem → VPC\n\n")
	fmt.Fprintf(b, "| path | payload B | sent kpkt/s | received kpkt/s | × s↔s | loss %% | CGW CPU s/Mpkt | VGW CPU s/Mpkt | VGW s/Mpkt × s↔s |\n")
	fmt.Fprintf(b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, u := range udps {
		if u.note != "" {
			fmt.Fprintf(b, "| %s | %d | %s | | | | | | |\n", u.path, u.size, u.note)
			continue
		}
		mp := u.rxPackets / 1e6
		cs, vs := u.cgwCPU/mp, u.vgwCPU/mp
		ratio, cratio := "", ""
		if bu, ok := base[u.size]; ok && bu.pps > 0 {
			ratio = fmt.Sprintf("%.2f", u.pps/bu.pps)
			if bvs := bu.vgwCPU / (bu.rxPackets / 1e6); bvs > 0 {
				cratio = fmt.Sprintf("%.2f", vs/bvs)
			}
		}
		fmt.Fprintf(b, "| %s | %d | %.1f | %.1f | %s | %.1f | %.2f | %.2f | %s |\n",
			u.path, u.size, u.offeredPPS/1e3, u.pps/1e3, ratio, u.lossPct, cs, vs, cratio)
	}
	fmt.Fprintf(b, "\nThe sender offers what it can (-b %s), so loss is the overload the slowest stage drops; the received rate is the path's forwarding rate with all four processes (sender, two gateways, receiver) sharing the machine's CPUs.\n", *flUDPRate)
}

func renderFailover(b *strings.Builder, fos []failover) {
	fmt.Fprintf(b, "\n## Failover gap (two tunnels, tunnel 1 cut)\n\n")
	fmt.Fprintf(b, "Two static tunnels from a strongSwan CGW (t2 up first, so t1 is the newest CHILD_SA, which strongSwan sends on, and vpgw's preferred tunnel), a stream each way; then every packet to or from %s is dropped in the WAN (lab.Cut). Each direction moves to tunnel 2 only when its sender's dead peer detection clears tunnel 1: the CGW's for on-prem → VPC, the responder's for VPC → on-prem. Gap = from the last packet before the loss to the first after it, at the receiver; verdict = when the deciding side declared tunnel 1 dead, after the cut: vpgw's from its log (ms), strongSwan's by polling swanctl every 200 ms (each poll itself takes about that long: ±0.3 s); \"resumed\" = first packet after the gap minus that verdict, shown only where the verdict is exact.\n\n", lab.VGWOutside1)
	fmt.Fprintf(b, "| responder | stream | pkt/s | moved by | DPD settings of that side | gap ms | lost | verdict s after cut | resumed ms after verdict | note |\n")
	fmt.Fprintf(b, "|---|---|---:|---|---|---:|---:|---:|---:|---|\n")
	for _, f := range fos {
		if strings.HasPrefix(f.note, "not measured") {
			fmt.Fprintf(b, "| %s | %s | %d | %s | %s | | | | | %s |\n", f.responder, f.direction, f.pps, f.decider, f.dpd, f.note)
			continue
		}
		verdict, after := "", ""
		if f.verdict > 0 {
			verdict = fmt.Sprintf("%.1f", f.verdict.Seconds())
			if f.exact {
				verdict = fmt.Sprintf("%.2f", f.verdict.Seconds())
				after = fmt.Sprintf("%.0f", (f.resumed-f.verdict).Seconds()*1000)
			}
		}
		fmt.Fprintf(b, "| %s | %s | %d | %s | %s | %.0f | %d | %s | %s | %s |\n",
			f.responder, f.direction, f.pps, f.decider, f.dpd, f.res.gap.Seconds()*1000, f.res.lost, verdict, after, f.note)
	}
	fmt.Fprintf(b, "\nvpgw's dead peer detection cannot be made shorter than this: it probes after a fixed 10 s of silence and its config rejects dpd_timeout below AWS's minimum of 30 s. strongSwan (IKEv2) declares a peer dead only through retransmission timeouts, which the lab sets for all its charons (2 s ×1.4, 3 tries); its dpd_delay as responder is 10 s, like vpgw's probe delay.\n")
}

func renderRekeys(b *strings.Builder, rks []rekeyRun) {
	fmt.Fprintf(b, "\n## Loss across rekeys (one tunnel)\n\n")
	fmt.Fprintf(b, "One tunnel from a strongSwan CGW (ESP %s: with PFS, as AWS requires), a stream each way; after %.0f s without rekeys (the control: loss there is the machine's, not the rekeys'), CHILD_SA rekeys started alternately by the responder (vpgw tunnel rekey / swanctl --rekey) and by the CGW (swanctl --rekey) every %.1f s, %d each, then an IKE SA rekey by each side %.0f s apart, then one CHILD_SA rekey by both at the same moment. \"Done\" is read from the CGW's charon log: CHILD_SAs established and IKE SAs rekeyed during the run (whoever started them; a collision may establish two), and negotiations refused. Loss bursts: packets lost in a row @ when the first was sent (s after the stream started).\n\n",
		rekeyESP, rekeyQuiet.Seconds(), rekeySpacing.Seconds(), *flRkRounds, 2*rekeySpacing.Seconds())
	fmt.Fprintf(b, "| responder | stream | pkt/s | s | CHILD rekeys asked: responder / CGW / both at once | IKE rekeys asked: responder / CGW | done: CHILD / IKE / refused | sent | lost without rekeys (first %.0f s) | lost from the first rekey on | longest gap ms | loss bursts | note |\n", rekeyQuiet.Seconds())
	fmt.Fprintf(b, "|---|---|---:|---:|---|---|---|---:|---:|---:|---:|---|---|\n")
	for _, r := range rks {
		if strings.HasPrefix(r.note, "not measured") {
			fmt.Fprintf(b, "| %s | %s | %d | | | | | | | | | | %s |\n", r.responder, r.direction, r.pps, r.note)
			continue
		}
		var bursts []string
		for _, x := range r.res.bursts {
			bursts = append(bursts, x.String())
		}
		fmt.Fprintf(b, "| %s | %s | %d | %.0f | %d / %d / %d | %d / %d | %d / %d / %d | %d | %d | %d | %.0f | %s | %s |\n",
			r.responder, r.direction, r.pps, r.res.seconds, r.childResp, r.childCGW, r.collisions, r.ikeResp, r.ikeCGW,
			r.childDone, r.ikeDone, r.refused, r.res.sent, r.quietLost, r.rekeyLost, r.res.gap.Seconds()*1000, strings.Join(bursts, " "), r.note)
	}
	b.WriteString("\n")
	seen := map[string]bool{}
	for _, r := range rks {
		if r.events != "" && !seen[r.responder] {
			seen[r.responder] = true
			fmt.Fprintf(b, "Rekeys asked for, %s as responder (s after the streams started): %s.\n", r.responder, r.events)
		}
	}
}
