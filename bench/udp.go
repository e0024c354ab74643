package main

// Small-packet rate: iperf3 -u on-prem -> VPC with short payloads, counted
// at the receiver.

import (
	"fmt"
	"strconv"

	"github.com/vpgw/vpgw/lab"
)

type udpRate struct {
	path           string
	size           int     // UDP payload bytes
	offeredPPS     float64 // what the sender sent
	pps            float64 // what the receiver got
	lossPct        float64
	rxPackets      float64
	cgwCPU, vgwCPU float64 // seconds during the transfer
	note           string
}

type iperfUDPJSON struct {
	End struct {
		SumSent struct {
			Packets float64 `json:"packets"`
			Seconds float64 `json:"seconds"`
		} `json:"sum_sent"`
		SumReceived struct {
			Seconds     float64 `json:"seconds"`
			Packets     float64 `json:"packets"`
			LostPackets float64 `json:"lost_packets"`
			LostPercent float64 `json:"lost_percent"`
		} `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

// measureUDP runs one iperf3 -u transfer with payload size bytes against
// the iperf3 server measurePath started in the VPC.
func measureUDP(l *lab.Lab, path string, size, cgwPID, vgwPID int) udpRate {
	r := udpRate{path: path, size: size}
	waitQuiet(fmt.Sprintf("%s, UDP %d B", path, size))
	var ij iperfUDPJSON
	cgwCPU, vgwCPU, err := runIperf(l, cgwPID, vgwPID, *flUDPTime, &ij,
		"-u", "-b", *flUDPRate, "-l", strconv.Itoa(size), "-t", strconv.Itoa(*flUDPTime))
	if err != nil {
		r.note = "not measured: " + firstLine(err.Error())
		return r
	}
	rx := ij.End.SumReceived
	if rx.Seconds <= 0 || ij.End.SumSent.Seconds <= 0 {
		r.note = "not measured: iperf3 reported no duration"
		return r
	}
	// iperf3's receiver counts packets by the highest sequence number seen;
	// lost_packets are the gaps, so received = packets - lost.
	r.rxPackets = rx.Packets - rx.LostPackets
	r.pps = r.rxPackets / rx.Seconds
	r.offeredPPS = ij.End.SumSent.Packets / ij.End.SumSent.Seconds
	r.lossPct = rx.LostPercent
	r.cgwCPU, r.vgwCPU = cgwCPU, vgwCPU
	logf("  UDP %d B: sent %.0f pkt/s, received %.0f pkt/s (%.1f%% lost), CPU cgw %.2fs vgw %.2fs for %.2f M packets; load %s",
		size, r.offeredPPS, r.pps, r.lossPct, r.cgwCPU, r.vgwCPU, r.rxPackets/1e6, loadavg())
	return r
}

func (j *iperfUDPJSON) iperfError() string { return j.Error }
