package main

// A paced UDP stream with sequence numbers between two lab namespaces, run
// inside this process: each socket is created on a thread that has entered
// the namespace (setns), so it lives there, and the thread is thrown away
// afterwards. Sender and receiver share one clock, so every loss and gap is
// exact: which sequence numbers never arrived, and how long the receiver
// waited between two packets.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const streamMagic = 0x7670_6777_6265_6e63 // "vpgwbenc"

// inNetns runs f on a fresh OS thread that has joined the named network
// namespace (from `ip netns`). The thread is never handed back to the Go
// scheduler (no UnlockOSThread), so it dies with the goroutine.
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(filepath.Join("/var/run/netns", ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netns %s: %w", ns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// udpRcvbufErrors is the Udp RcvbufErrors counter of a namespace: packets
// its UDP sockets dropped because the receiver did not read them in time.
func udpRcvbufErrors(ns string) int {
	out, err := cmdOut(5*time.Second, "ip", "netns", "exec", ns, "cat", "/proc/net/snmp")
	if err != nil {
		return -1
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.Atoi(f[i])
				return v
			}
		}
	}
	return -1
}

// stream sends rate packets/s of size bytes (UDP payload) from src to dst.
type stream struct {
	name      string
	dstNS     string
	rcvbuf0   int
	rate      int
	size      int
	tx, rx    *net.UDPConn
	start     time.Time
	stopSend  chan struct{}
	sendDone  chan struct{}
	recvDone  chan struct{}
	mu        sync.Mutex
	sent      uint64
	sendErrs  uint64
	firstErr  error
	arrivals  []arrival // in arrival order
	seen      []bool    // by sequence number
	dups      int
	reordered int
	maxSeq    int64
}

type lossBurst struct {
	at    time.Duration // when the first lost packet was due, since start
	count int
}

func (b lossBurst) String() string { return fmt.Sprintf("%d@%.1fs", b.count, b.at.Seconds()) }

type arrival struct {
	seq int64
	at  time.Duration // since start
}

// startStream opens the receiver in dstNS on dstIP:port and the sender in
// srcNS, and starts sending.
func startStream(name, srcNS, srcIP, dstNS, dstIP string, port, rate, size int) (*stream, error) {
	if size < 24 {
		size = 24
	}
	s := &stream{name: name, dstNS: dstNS, rcvbuf0: udpRcvbufErrors(dstNS), rate: rate, size: size, stopSend: make(chan struct{}),
		sendDone: make(chan struct{}), recvDone: make(chan struct{}), maxSeq: -1}
	err := inNetns(dstNS, func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(dstIP), Port: port})
		if err == nil {
			_ = c.SetReadBuffer(4 << 20)
		}
		s.rx = c
		return err
	})
	if err != nil {
		return nil, err
	}
	err = inNetns(srcNS, func() error {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(srcIP)}, &net.UDPAddr{IP: net.ParseIP(dstIP), Port: port})
		s.tx = c
		return err
	})
	if err != nil {
		s.rx.Close()
		return nil, err
	}
	s.start = time.Now()
	go s.receive()
	go s.send()
	return s, nil
}

func (s *stream) send() {
	defer close(s.sendDone)
	buf := make([]byte, s.size)
	binary.BigEndian.PutUint64(buf[0:], streamMagic)
	var seq uint64
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stopSend:
			return
		case <-tick.C:
		}
		due := uint64(time.Since(s.start).Seconds() * float64(s.rate))
		for ; seq < due; seq++ {
			binary.BigEndian.PutUint64(buf[8:], seq)
			binary.BigEndian.PutUint64(buf[16:], uint64(time.Since(s.start)))
			if _, err := s.tx.Write(buf); err != nil {
				// EPERM/ENETUNREACH while a route is missing: the packet is
				// lost like any other; the receiver's count says so.
				s.mu.Lock()
				s.sendErrs++
				if s.firstErr == nil {
					s.firstErr = err
				}
				s.mu.Unlock()
			}
		}
		s.mu.Lock()
		s.sent = seq
		s.mu.Unlock()
	}
}

func (s *stream) receive() {
	defer close(s.recvDone)
	buf := make([]byte, 65536)
	for {
		n, err := s.rx.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		at := time.Since(s.start)
		if n < 24 || binary.BigEndian.Uint64(buf) != streamMagic {
			continue
		}
		seq := int64(binary.BigEndian.Uint64(buf[8:]))
		if seq < 0 || seq > 1<<30 {
			continue
		}
		s.mu.Lock()
		for int64(len(s.seen)) <= seq {
			s.seen = append(s.seen, false)
		}
		if s.seen[seq] {
			s.dups++
		} else {
			s.seen[seq] = true
			if seq < s.maxSeq {
				s.reordered++
			}
			s.arrivals = append(s.arrivals, arrival{seq, at})
		}
		if seq > s.maxSeq {
			s.maxSeq = seq
		}
		s.mu.Unlock()
	}
}

// lostIn counts the packets due to be sent in [from, to) (since start)
// that never arrived; call it after stop.
func (s *stream) lostIn(from, to time.Duration) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	lo := int64(from.Seconds() * float64(s.rate))
	hi := min(int64(to.Seconds()*float64(s.rate)), int64(s.sent))
	n := 0
	for q := max(lo, 0); q < hi; q++ {
		if q >= int64(len(s.seen)) || !s.seen[q] {
			n++
		}
	}
	return n
}

// received is how many distinct packets arrived so far.
func (s *stream) received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.arrivals)
}

// lastArrival is when (since start) the latest packet arrived; 0 if none.
func (s *stream) lastArrival() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.arrivals) == 0 {
		return 0
	}
	return s.arrivals[len(s.arrivals)-1].at
}

// streamResult is what a stopped stream measured.
type streamResult struct {
	sent, received, lost int
	dups, reordered      int
	sendErrs             int
	// The longest silence at the receiver: from the packet before it
	// (gapFrom, since start) to the one after (gapTo).
	gap            time.Duration
	gapFrom, gapTo time.Duration
	lostInGap      int // sequence numbers sent during the gap that never arrived
	// bursts are the runs of lost sequence numbers, longest first (at
	// most 4): where outside the gap the rest was lost.
	bursts      []lossBurst
	seconds     float64
	rcvbufDrops int // of the lost, dropped by the receiving socket (not the path)
}

// stop ends the stream: no more sending, then drain for grace and close.
func (s *stream) stop(grace time.Duration) streamResult {
	close(s.stopSend)
	<-s.sendDone
	time.Sleep(grace)
	s.rx.Close()
	s.tx.Close()
	<-s.recvDone
	rcvbuf := udpRcvbufErrors(s.dstNS) - s.rcvbuf0
	s.mu.Lock()
	defer s.mu.Unlock()
	r := streamResult{sent: int(s.sent), received: len(s.arrivals), dups: s.dups, reordered: s.reordered,
		sendErrs: int(s.sendErrs), seconds: time.Since(s.start).Seconds()}
	r.lost = r.sent - r.received
	r.rcvbufDrops = rcvbuf
	var gapIdx int
	for i := 1; i < len(s.arrivals); i++ {
		if g := s.arrivals[i].at - s.arrivals[i-1].at; g > r.gap {
			r.gap, gapIdx = g, i
		}
	}
	if gapIdx > 0 {
		a, b := s.arrivals[gapIdx-1], s.arrivals[gapIdx]
		r.gapFrom, r.gapTo = a.at, b.at
		for q := a.seq + 1; q < b.seq; q++ {
			if !s.seen[q] {
				r.lostInGap++
			}
		}
	}
	var bursts []lossBurst
	for q := int64(0); q < int64(r.sent); q++ {
		if q < int64(len(s.seen)) && s.seen[q] {
			continue
		}
		b := lossBurst{at: time.Duration(float64(q) / float64(s.rate) * float64(time.Second))}
		for ; q < int64(r.sent) && (q >= int64(len(s.seen)) || !s.seen[q]); q++ {
			b.count++
		}
		bursts = append(bursts, b)
	}
	slices.SortStableFunc(bursts, func(a, b lossBurst) int { return b.count - a.count })
	r.bursts = bursts[:min(len(bursts), 4)]
	if s.firstErr != nil {
		fmt.Fprintf(os.Stderr, "bench: stream %s: %d send errors, first: %v\n", s.name, s.sendErrs, s.firstErr)
	}
	return r
}
