package ike

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// seqEvent is an Event carrying a sequence number.
type seqEvent int

func (seqEvent) TunnelName() string { return "t" }

func seqPacket(n int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

var (
	obLocal  = netip.MustParseAddrPort("192.0.2.1:500")
	obRemote = netip.MustParseAddrPort("198.51.100.1:500")
)

// Output produced under the state mutex leaves in production order, packets
// and events interleaved, whichever of several concurrent flushers sends it,
// and none of it is left behind once every caller has returned.
func TestOutboxOrderAcrossFlushers(t *testing.T) {
	const goroutines, rounds, perRound = 8, 200, 3
	const total = goroutines * rounds * perRound
	events := make(chan Event, total) // never read during the run: len(events) counts what was emitted
	var (
		mu      sync.Mutex // the state mutex
		next    int        // guarded by mu
		packets []int      // only touched by Send, which one flusher at a time calls
	)
	ob := &Outbox{
		Events: events,
		Log:    slog.New(slog.DiscardHandler),
		Send: func(pkt []byte, local, remote netip.AddrPort) error {
			n := int(binary.BigEndian.Uint64(pkt))
			if handed := len(packets) + len(events); n != handed {
				t.Errorf("packet %d sent after %d outputs, want after %d", n, handed, n)
			}
			packets = append(packets, n)
			if n%7 == 0 {
				runtime.Gosched() // let other flushers pile up behind this one
			}
			return nil
		},
	}
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range rounds {
				mu.Lock()
				for range perRound {
					if next%3 == 1 {
						ob.Emit(seqEvent(next))
					} else {
						ob.Queue(seqPacket(next), obLocal, obRemote)
					}
					next++
				}
				ob.UnlockAndFlush(&mu)
			}
		})
	}
	wg.Wait()

	if got := len(packets) + len(events); got != total {
		t.Fatalf("%d outputs handed out after all callers returned, want %d", got, total)
	}
	last := -1
	for range len(events) {
		n := int((<-events).(seqEvent))
		if n <= last {
			t.Errorf("event %d after event %d", n, last)
		}
		last = n
	}
	for i := 1; i < len(packets); i++ {
		if packets[i] <= packets[i-1] {
			t.Errorf("packet %d sent after packet %d", packets[i], packets[i-1])
		}
	}
}

// While one flusher is blocked on a full events channel, other callers can
// take the state mutex, queue and emit, and return; their output follows the
// blocked event once the reader catches up.
func TestOutboxBlockedEventsReader(t *testing.T) {
	events := make(chan Event) // unbuffered: every event blocks until read
	var (
		mu      sync.Mutex
		sendMu  sync.Mutex
		packets []int
	)
	firstSend := make(chan struct{})
	ob := &Outbox{
		Events: events,
		Log:    slog.New(slog.DiscardHandler),
		Send: func(pkt []byte, local, remote netip.AddrPort) error {
			sendMu.Lock()
			packets = append(packets, int(binary.BigEndian.Uint64(pkt)))
			if len(packets) == 1 {
				close(firstSend)
			}
			sendMu.Unlock()
			return nil
		},
	}

	blocked := make(chan struct{})
	go func() {
		defer close(blocked)
		mu.Lock()
		ob.Queue(seqPacket(0), obLocal, obRemote)
		ob.Emit(seqEvent(1)) // blocks: nobody reads yet
		ob.UnlockAndFlush(&mu)
	}()
	<-firstSend // the goroutine above is now the flusher

	const others = 10
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		for i := range others {
			mu.Lock()
			ob.Queue(seqPacket(2+2*i), obLocal, obRemote)
			ob.Emit(seqEvent(3 + 2*i))
			ob.UnlockAndFlush(&mu)
		}
	}()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("callers blocked behind a pending event")
	}
	select {
	case <-blocked:
		t.Fatal("the flusher returned with nobody reading events")
	default:
	}
	if !mu.TryLock() {
		t.Fatal("state mutex held while an event is pending")
	}
	mu.Unlock()

	for want := 1; want < 2+2*others; want += 2 {
		select {
		case e := <-events:
			if n := int(e.(seqEvent)); n != want {
				t.Fatalf("event %d, want %d", n, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d never arrived", want)
		}
	}
	<-blocked
	sendMu.Lock()
	defer sendMu.Unlock()
	if len(packets) != 1+others {
		t.Fatalf("%d packets sent, want %d", len(packets), 1+others)
	}
	for i, n := range packets {
		if n != 2*i {
			t.Fatalf("packet %d is %d, want %d", i, n, 2*i)
		}
	}
}

func TestOutboxSendErrors(t *testing.T) {
	var mu sync.Mutex
	var sent int
	ob := &Outbox{
		Events: make(chan Event, 1),
		Log:    slog.New(slog.DiscardHandler),
		Send: func(pkt []byte, local, remote netip.AddrPort) error {
			sent++
			if sent%2 == 0 {
				return errors.New("no route")
			}
			return nil
		},
	}
	mu.Lock()
	for i := range 5 {
		ob.Queue(seqPacket(i), obLocal, obRemote)
	}
	ob.UnlockAndFlush(&mu)
	if sent != 5 {
		t.Errorf("sent %d, want 5", sent)
	}
	if got := ob.SendErrors(); got != 2 {
		t.Errorf("SendErrors %d, want 2", got)
	}
}
