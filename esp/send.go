package esp

// Outbound pipeline, one goroutine per tunnel (routineReadFromTUN), all
// sequential so sequence numbers leave in order:
//
//  1. Read a batch from the TUN at offset headroom (room for ESP header + IV
//     in front, and for the virtio-net header the Linux TUN needs).
//  2. Load the current outbound SA (atomic pointer; Install swaps it).
//  3. Clamp the MSS option of TCP SYNs (mss.go), then seal each packet in
//     place: header and IV before it, padding and ICV after it.
//  4. Send the batch with one sendmmsg on UDP 4500 (NAT-T) or the raw ESP
//     socket; the kernel adds the IP (and UDP) header.
//
// Crypto runs on this goroutine: one core per tunnel direction. Drops are
// counted on the tunnel and the SA.

import (
	"errors"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/vpgw/vpgw/esp/mmsg"
)

func (t *Tunnel) routineReadFromTUN() {
	defer t.wg.Done()
	t.log.Debug("routine read from TUN started")
	defer t.log.Debug("routine read from TUN stopped")

	n := t.dev.BatchSize()
	if n < 1 {
		n = 1
	}
	b := getBatch(n)
	defer b.put()
	for {
		count, err := t.dev.Read(b.bufs, b.sizes, headroom)
		if count > 0 {
			t.sealAndSend(b, count)
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

func (t *Tunnel) sealAndSend(b *batch, count int) {
	o := t.out.Load()
	if o == nil {
		t.counters.drop(DropNoSA, count)
		return
	}
	msgs := b.msgs[:0]
	for i := 0; i < count; i++ {
		size := b.sizes[i]
		if size <= 0 || size > MaxPacketSize {
			t.counters.drop(DropMalformed, 1)
			continue
		}
		pkt := b.bufs[i][headroom : headroom+size]
		if v := pkt[0] >> 4; (v == 4 && !t.v4) || (v == 6 && !t.v6) {
			// e.g. IPv6 router solicitations on an IPv4-only tunnel.
			t.counters.drop(DropPolicy, 1)
			continue
		}
		clampMSS(pkt, o.mss)
		start, end, err := o.sa.Seal(b.bufs[i], headroom, size)
		if err != nil {
			r := ReasonOf(err)
			o.sa.counters.drop(r, 1)
			t.counters.drop(r, 1)
			continue
		}
		o.sa.counters.out(size)
		t.counters.out(size)
		msgs = append(msgs, mmsg.Message{Buf: b.bufs[i][start:end], Addr: o.addr})
	}
	for len(msgs) > 0 {
		sent, err := o.conn.WriteBatch(msgs, &b.sys)
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
