package v1

import (
	"sync"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
)

// A gateway loop that reads events and also calls Status must not deadlock
// with a socket reader blocked on the events channel.
func TestBlockedEventsReader(t *testing.T) {
	h := newHarness(t, nil)
	events := make(chan ike.Event) // unbuffered: every emit blocks until read
	h.r.out.Events = events
	in, _ := awsDefault()
	in.ProcessMM2(h.exchange(in.MM1(), vgw500, cgw500))
	in.ProcessMM4(h.exchange(in.MM3(), vgw500, cgw500))
	mm5 := in.MM5()

	done := make(chan struct{})
	go func() {
		h.r.HandlePacket(mm5, vgw4500, cgw4500) // blocks on the IKEUp event
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
	returned := make(chan struct{})
	go func() { h.r.HandlePacket(mm5, vgw4500, cgw4500); close(returned) }()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("HandlePacket blocked behind a pending event")
	}
	if _, ok := (<-events).(ike.IKEUp); !ok {
		t.Fatal("first event not IKEUp")
	}
	<-done
	out := h.takeSent()
	if len(out) != 2 || string(out[0].pkt) != string(out[1].pkt) {
		t.Fatalf("sent %d packets", len(out))
	}
	if err := in.ProcessMM6(out[0].pkt); err != nil {
		t.Fatal(err)
	}
}

// Many goroutines hammering one responder (run with -race).
func TestConcurrentPackets(t *testing.T) {
	h := newHarnessLog(t, func(c *Config) { c.DPDDelay, c.DPDTimeout = time.Second, 3*time.Second }, quiet)
	in, offer := awsDefault()
	h.mainMode(in)
	h.quickMode(in, offer)
	h.takeEvents()
	pkts := make([][]byte, 8)
	for i := range pkts {
		pkts[i] = in.Info(isakmp.NewDPD(isakmp.R_U_THERE, in.ckyI, in.ckyR, uint32(i)))
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
	if c := h.r.Counters(); c.Received != 5+32 {
		t.Errorf("counters %+v", c)
	}
}
