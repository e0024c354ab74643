package esp

// Outbound pipeline of a tunnel (wireguard-go's, see queues.go):
//
//  1. routineReadFromTUN, one per tunnel, sequential: read a batch from the
//     TUN into a pooled outElems at offset headroom (room for ESP header +
//     IV in front, and for the virtio-net header the Linux TUN needs). Load
//     the current outbound SA (atomic pointer; Install swaps it), drop what
//     the tunnel does not carry, clamp the MSS of TCP SYNs (mss.go), write
//     each packet's ESP trailer (SA.prepareSeal) and reserve the batch's
//     sequence numbers in one step (SA.reserveSeq). Lock the container, put
//     it on the tunnel's send queue, then on the device-wide encryption
//     queue.
//  2. routineEncryption, one per CPU, parallel: seal every packet of the
//     batch in place with its reserved sequence number (SA.seal) and unlock
//     the container.
//  3. routineSequentialSender, one per tunnel, sequential: take the next
//     container from the send queue, Lock it (wait for its worker) and send
//     the batch with one sendmmsg on UDP 4500 (NAT-T) or the raw ESP socket;
//     the kernel adds the IP (and UDP) header. Recycle the container.
//
// Sequence numbers are assigned and sent in the same order, so the peer sees
// them in order however the workers interleave. Drops are counted on the
// tunnel and the SA.

import (
	"errors"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/vpgw/vpgw/esp/mmsg"
)

func (t *Tunnel) routineReadFromTUN() {
	defer t.ep.wg.Done()
	defer t.wg.Done()
	defer close(t.sendQueue) // the only writer: stops the sender
	t.log.Debug("routine read from TUN started")
	defer t.log.Debug("routine read from TUN stopped")

	el := t.outFree.get()
	defer func() { t.outFree.put(el) }()
	for {
		count, err := t.dev.Read(el.bufs, el.sizes, headroom)
		if count > 0 && t.stage(el, count) {
			el = t.outFree.get()
		}
		if err != nil {
			if t.closed.Load() || isClosed(err) {
				return
			}
			if errors.Is(err, tun.ErrTooManySegments) {
				t.counters.drop(DropMalformed, 1)
				continue
			}
			t.log.Warn("TUN read failed", "err", err)
			time.Sleep(10 * time.Millisecond) // don't spin on a persistent error
		}
	}
}

// stage prepares the count packets read into el and queues el for
// encryption and sending. It reports whether el was queued (and is no
// longer the caller's).
func (t *Tunnel) stage(el *outElems, count int) bool {
	o := t.out.Load()
	if o == nil {
		t.counters.drop(DropNoSA, count)
		return false
	}
	el.pkts = el.pkts[:0]
	for i := 0; i < count; i++ {
		size := el.sizes[i]
		if size <= 0 || size > MaxPacketSize {
			t.counters.drop(DropMalformed, 1)
			continue
		}
		buf := el.bufs[i]
		pkt := buf[headroom : headroom+size]
		if v := pkt[0] >> 4; (v == 4 && !t.v4) || (v == 6 && !t.v6) {
			// e.g. IPv6 router solicitations on an IPv4-only tunnel.
			t.counters.drop(DropPolicy, 1)
			continue
		}
		clampMSS(pkt, o.mss)
		start, ptEnd, err := o.sa.prepareSeal(buf, headroom, size)
		if err != nil {
			r := ReasonOf(err)
			o.sa.counters.drop(r, 1)
			t.counters.drop(r, 1)
			continue
		}
		el.pkts = append(el.pkts, sealJob{i: i, size: size, start: start, ptEnd: ptEnd})
	}
	if len(el.pkts) == 0 {
		return false
	}
	first, got := o.sa.reserveSeq(len(el.pkts))
	if lost := len(el.pkts) - got; lost > 0 {
		o.sa.counters.drop(DropSeqOverflow, lost)
		t.counters.drop(DropSeqOverflow, lost)
		el.pkts = el.pkts[:got]
		if got == 0 {
			return false
		}
	}
	bytes := 0
	for k := range el.pkts {
		el.pkts[k].seq = first + uint32(k)
		bytes += el.pkts[k].size
	}
	o.sa.counters.outN(len(el.pkts), bytes)
	t.counters.outN(len(el.pkts), bytes)
	el.o = o
	el.msgs = el.msgs[:len(el.pkts)]
	for k := range el.msgs {
		el.msgs[k].Addr = o.addr
	}

	el.Lock() // until the worker has sealed the batch
	t.sendQueue <- el
	t.ep.crypto.encryption <- el
	return true
}

// routineSequentialSender sends the tunnel's batches in the order they were
// read, each once its worker has sealed it.
func (t *Tunnel) routineSequentialSender() {
	defer t.ep.wg.Done()
	defer t.wg.Done()
	t.log.Debug("routine sequential sender started")
	defer t.log.Debug("routine sequential sender stopped")

	// The last user of the tunnel's containers: the reader put its own
	// back before closing the queue.
	defer t.outFree.drain()
	var sys mmsg.Scratch // the kernel's view of the batch being sent
	for el := range t.sendQueue {
		el.Lock()
		t.send(el, &sys)
		el.Unlock()
		t.outFree.put(el)
	}
}

func (t *Tunnel) send(el *outElems, sys *mmsg.Scratch) {
	o, msgs := el.o, el.msgs
	for len(msgs) > 0 {
		sent, err := o.conn.WriteBatch(msgs, sys)
		if err != nil {
			if !isClosed(err) {
				t.log.Debug("send failed", "remote", o.remote, "err", err)
			}
			// The first unsent message failed; count it and go on, so one
			// bad packet does not take the rest of the batch with it.
			t.counters.drop(DropSendFailed, 1)
			o.sa.counters.drop(DropSendFailed, 1)
			sent++
		}
		msgs = msgs[min(sent, len(msgs)):]
	}
}
