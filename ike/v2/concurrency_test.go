package v2

import (
	"sync"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
)

// A gateway loop that reads events and also calls Status must not
// deadlock with a socket reader blocked on the events channel.
func TestBlockedEventsReader(t *testing.T) {
	h := newHarness(t, nil)
	events := make(chan ike.Event) // unbuffered: every emit blocks until read
	h.r.out.Events = events
	in := newDefaultInitiator()
	req, _ := in.SAInit()
	h.r.HandlePacket(req, vgw500, cgw500)
	in.ProcessSAInit(h.takeSent()[0].pkt)
	offer := defaultOffer(0xc0000001, defaultESP)
	auth, _ := in.Auth(offer)

	done := make(chan struct{})
	go func() {
		h.r.HandlePacket(auth, vgw4500, cgw4500) // blocks on the IKEUp event
		close(done)
	}()
	time.Sleep(10 * time.Millisecond)
	st := make(chan Status)
	go func() { st <- h.r.Status() }()
	select {
	case s := <-st:
		if !s.Established {
			t.Errorf("status %+v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Status blocked behind a pending event")
	}
	// Other callers return at once; their output queues behind the event.
	ping, _ := in.Request(message.INFORMATIONAL, nil)
	returned := make(chan struct{})
	go func() { h.r.HandlePacket(ping, vgw4500, cgw4500); close(returned) }()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("HandlePacket blocked behind a pending event")
	}
	if _, ok := (<-events).(ike.IKEUp); !ok {
		t.Fatal("first event not IKEUp")
	}
	if _, ok := (<-events).(ike.ChildUp); !ok {
		t.Fatal("second event not ChildUp")
	}
	<-done
	out := h.takeSent()
	if len(out) != 2 {
		t.Fatalf("sent %d packets", len(out))
	}
	if _, err := in.ProcessAuth(out[0].pkt, offer); err != nil {
		t.Fatal(err)
	}
	if _, _, err := in.Open(out[1].pkt); err != nil {
		t.Fatal(err)
	}
}

// Many goroutines hammering one responder (run with -race).
func TestConcurrentPackets(t *testing.T) {
	h := newHarnessLog(t, nil, quiet)
	in := newDefaultInitiator()
	h.establish(in, defaultOffer(0xc0000001, defaultESP))
	h.takeEvents()
	pkts := make([][]byte, 8)
	for i := range pkts {
		pkts[i], _ = in.Request(message.INFORMATIONAL, nil)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, p := range pkts {
				h.r.HandlePacket(p, vgw4500, cgw4500)
				h.r.Status()
			}
		}()
	}
	go h.clock.Advance(time.Minute)
	wg.Wait()
	if c := h.r.Counters(); c.Received != 2+32 {
		t.Errorf("counters %+v", c)
	}
}
