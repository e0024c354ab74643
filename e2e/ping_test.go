package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vpgw/vpgw/lab"
)

// pinger is a continuous ping running in a lab namespace.
type pinger struct {
	p      *lab.Proc
	gapEnd time.Time // when the reply ending the longest gap arrived
}

// startPing pings dst from a namespace every interval until stopped.
func startPing(t *testing.T, l *lab.Lab, from, dst string, interval time.Duration) *pinger {
	t.Helper()
	p, err := l.Start(from, fmt.Sprintf("ping-%d", time.Now().UnixNano()), nil,
		"ping", "-n", "-D", "-i", fmt.Sprintf("%.1f", interval.Seconds()), "-W", "1", dst)
	if err != nil {
		t.Fatal(err)
	}
	return &pinger{p: p}
}

var pingStats = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// stop ends the ping with SIGINT and returns what it sent and got back;
// when something was lost it logs where the longest gap was.
func (pg *pinger) stop(t *testing.T) (sent, received int) {
	sent, received, gap := pg.stopWithGap(t)
	if received != sent {
		t.Logf("longest gap between replies: %v, ending at %s", gap, pg.gapEnd.UTC().Format("15:04:05.000"))
	}
	return sent, received
}

var replyStamp = regexp.MustCompile(`(?m)^\[(\d+\.\d+)\] \d+ bytes from`)

// stopWithGap also returns the longest time between two consecutive
// replies: how long the path was broken.
func (pg *pinger) stopWithGap(t *testing.T) (sent, received int, gap time.Duration) {
	t.Helper()
	// Give the last echo time to come back before ping prints its summary.
	time.Sleep(time.Second)
	if err := syscall.Kill(pg.p.PID, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pg.p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("ping did not stop")
	}
	out, _ := os.ReadFile(pg.p.LogPath)
	m := pingStats.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no ping summary in:\n%s", out)
	}
	sent, _ = strconv.Atoi(string(m[1]))
	received, _ = strconv.Atoi(string(m[2]))
	var last float64
	for i, r := range replyStamp.FindAllSubmatch(out, -1) {
		ts, _ := strconv.ParseFloat(string(r[1]), 64)
		if d := time.Duration((ts - last) * float64(time.Second)); i > 0 && d > gap {
			gap = d
			pg.gapEnd = time.Unix(0, int64(ts*1e9))
		}
		last = ts
	}
	return sent, received, gap
}
