package ike

import (
	"log/slog"
	"net/netip"
	"sync"
)

// Outbox hands out what an IKE state machine produces (packets to send and
// events for the gateway) outside its state mutex, in production order.
//
// Queue and Emit are called with the state mutex held; they only append.
// UnlockAndFlush moves what was appended to a shared queue before it
// releases the state mutex, so output produced under that mutex leaves in
// the order it was produced, whichever goroutine ends up sending it. One
// flusher at a time drains the shared queue; the others return at once. So
// a caller blocked on a full Events channel holds no lock the events reader
// might need: it may call back into the state machine (Status,
// HandlePacket, Close), whose output joins the queue behind the blocked
// event.
//
// Set Send, Events and Log before first use and do not change them after.
// The zero Outbox with those set is ready to use; it must not be copied.
type Outbox struct {
	Send   func(pkt []byte, local, remote netip.AddrPort) error
	Events chan<- Event
	Log    *slog.Logger

	pending []output // appended under the caller's state mutex

	mu         sync.Mutex // guards queued and sendErrors; never held while blocking
	queued     []output
	sendErrors uint64
	flushMu    sync.Mutex // held by the one goroutine draining queued
}

// output is a packet to send or an event to emit, in production order.
type output struct {
	pkt           []byte
	local, remote netip.AddrPort
	event         Event
}

// Queue adds pkt, to be sent from local to remote. The caller holds the
// state mutex that it later passes to UnlockAndFlush.
func (o *Outbox) Queue(pkt []byte, local, remote netip.AddrPort) {
	o.pending = append(o.pending, output{pkt: pkt, local: local, remote: remote})
}

// Emit adds e, to be sent on Events. The caller holds the state mutex that
// it later passes to UnlockAndFlush.
func (o *Outbox) Emit(e Event) { o.pending = append(o.pending, output{event: e}) }

// UnlockAndFlush releases mu (the state mutex, held by the caller) and then
// hands out what was queued under it, blocking on Send and on Events unless
// another goroutine is already flushing, in which case that one sends ours
// too and UnlockAndFlush returns at once.
func (o *Outbox) UnlockAndFlush(mu *sync.Mutex) {
	o.mu.Lock()
	o.queued = append(o.queued, o.pending...)
	o.mu.Unlock()
	o.pending = nil
	mu.Unlock()
	o.drain()
}

// SendErrors returns how many packets Send failed to send.
func (o *Outbox) SendErrors() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sendErrors
}

func (o *Outbox) drain() {
	if !o.flushMu.TryLock() {
		return // the goroutine holding it will send ours too
	}
	for {
		o.mu.Lock()
		q := o.queued
		o.queued = nil
		if len(q) == 0 {
			// Released under mu: anything queued after this check finds
			// flushMu free and drains it itself.
			o.flushMu.Unlock()
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
		for _, out := range q {
			if out.event != nil {
				o.Events <- out.event
				continue
			}
			if err := o.Send(out.pkt, out.local, out.remote); err != nil {
				o.mu.Lock()
				o.sendErrors++
				o.mu.Unlock()
				o.Log.Warn("cannot send IKE message", "to", out.remote, "err", err)
			}
		}
	}
}
