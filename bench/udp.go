package main

// Small-packet rate: iperf3 -u on-prem -> VPC with short payloads, counted
// at the receiver.

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

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
	c0, err1 := cpuSeconds(cgwPID)
	v0, err2 := cpuSeconds(vgwPID)
	args := []string{"netns", "exec", l.NS(lab.RoleOnprem), "iperf3", "-c", lab.VPCIP, "-u", "-b", *flUDPRate,
		"-l", strconv.Itoa(size), "-t", strconv.Itoa(*flUDPTime), "-J", "--connect-timeout", "5000"}
	var js []byte
	var err error
	for try := 0; try < 3; try++ {
		js, err = cmdOut(time.Duration(*flUDPTime+30)*time.Second, "ip", args...)
		if err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	c1, err3 := cpuSeconds(cgwPID)
	v1, err4 := cpuSeconds(vgwPID)
	if err = errors.Join(err, err1, err2, err3, err4); err != nil {
		r.note = "not measured: " + firstLine(err.Error())
		return r
	}
	var ij iperfUDPJSON
	if err := json.Unmarshal(js, &ij); err != nil || ij.Error != "" {
		r.note = "not measured: iperf3: " + firstLine(fmt.Sprint(err, ij.Error))
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
	r.cgwCPU, r.vgwCPU = c1-c0, v1-v0
	logf("  UDP %d B: sent %.0f pkt/s, received %.0f pkt/s (%.1f%% lost), CPU cgw %.2fs vgw %.2fs for %.2f M packets; load %s",
		size, r.offeredPPS, r.pps, r.lossPct, r.cgwCPU, r.vgwCPU, r.rxPackets/1e6, loadavg())
	return r
}
