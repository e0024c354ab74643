package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/vpgw/vpgw/lab"
)

type saRate struct {
	responder, dh string
	res           ikeResult
	cpuMSPerSA    float64 // responder
	loadMSPerSA   float64 // ikeload itself (same machine)
	note          string
}

type ikeResult struct {
	Count       int            `json:"count"`
	Established int            `json:"established"`
	Failed      int            `json:"failed"`
	Failures    map[string]int `json:"failures"`
	Seconds     float64        `json:"seconds"`
	SAsPerSec   float64        `json:"sas_per_sec"`
	LatencyMS   struct {
		P50, P90, P99, Max float64
	} `json:"latency_ms"`
	Deleted     int     `json:"deleted"`
	DeleteFails int     `json:"delete_failed"`
	DeleteSecs  float64 `json:"delete_seconds"`
}

// ---- IKE SAs/s ----

func measureSAs(responder, dh, vpgwBin, ikeloadBin string) saRate {
	r := saRate{responder: responder, dh: dh}
	l, err := newLab()
	if err != nil {
		r.note = "not measured: " + firstLine(err.Error())
		return r
	}
	defer downLab(l)
	var pid int
	switch responder {
	case "vpgw":
		p, err := startVPGW(l, vpgwBin, lab.RoleVGW, "vpgw", false, nil, nil)
		if err != nil {
			r.note = "not measured: " + firstLine(err.Error())
			return r
		}
		pid = p.PID
	default:
		ch, err := l.StartCharon(lab.CharonConfig{NS: lab.RoleVGW, PSK: psk1,
			IKEProposal: "aes128-sha256-modp2048-ecp256-curve25519", ESPProposal: "aes128gcm16"})
		if err != nil {
			r.note = "not measured: " + firstLine(err.Error())
			return r
		}
		pid = ch.Proc.PID
	}
	waitQuiet(fmt.Sprintf("SAs/s %s %s", responder, dh))
	c0, _ := cpuSeconds(pid)
	js, loadCPU, err := cmdOutCPU(5*time.Minute, "ip", "netns", "exec", l.NS(lab.RoleCGW), ikeloadBin,
		"--target", lab.VGWOutside1, "--local", lab.CGWWANIP, "--psk", psk1,
		"--count", strconv.Itoa(*flSAs), "--concurrency", strconv.Itoa(*flConc), "--dh", dh,
		"--ike-proposal", "aes128/sha2-256", "--esp-proposal", "aes128-gcm-16", "--json")
	c1, _ := cpuSeconds(pid)
	if jerr := json.Unmarshal(js, &r.res); jerr != nil {
		r.note = "not measured: " + firstLine(fmt.Sprint(err, " ", jerr))
		return r
	}
	if r.res.Established > 0 {
		// CPU over the establishment and the deletes, per SA.
		r.cpuMSPerSA = (c1 - c0) * 1000 / float64(r.res.Established)
		r.loadMSPerSA = loadCPU.Seconds() * 1000 / float64(r.res.Established)
	}
	if err != nil && r.res.Established == 0 {
		r.note = "failed: " + firstLine(err.Error())
	}
	logf("  %s %s: %d/%d up, %.1f SAs/s, p50 %.1f ms, p99 %.1f ms, %.2f CPU ms/SA (ikeload %.2f), deleted %d; load %s",
		responder, dh, r.res.Established, r.res.Count, r.res.SAsPerSec, r.res.LatencyMS.P50, r.res.LatencyMS.P99, r.cpuMSPerSA, r.loadMSPerSA, r.res.Deleted, loadavg())
	return r
}
