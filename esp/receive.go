package esp

// Inbound pipeline, one goroutine per socket (routineReceive), all sequential:
//
//  1. recvmmsg a batch into pooled buffers at offset headroom (mmsg.Conn;
//     the batch's Scratch holds the kernel headers, sources are AddrPorts).
//  2. Demultiplex: UDP 500 → IKE handler; UDP 4500 → four zero bytes: IKE
//     (marker stripped), a lone 0xFF: NAT keepalive (ignored), else ESP;
//     raw → strip the IPv4 header (IHL), ESP.
//  3. ESP: SPI → SA and tunnel from the atomic snapshot map; SA.Open checks
//     the replay window, ICV, padding and next header in place.
//  4. Policy: the inner destination must be in the tunnel's AllowedDst;
//     then the MSS option of TCP SYNs is clamped (mss.go).
//  5. Consecutive packets for one tunnel are written to its TUN in one
//     batch, at offset headroom in front of the inner packet.
//
// Drops are counted (tunnel, SA, or endpoint when no tunnel is known).

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

func (e *Endpoint) routineReceive(c PacketConn, port uint16) {
	defer e.wg.Done()
	name := "esp"
	if port != 0 {
		name = "udp/" + strconv.Itoa(int(port))
	}
	e.log.Debug("routine receive started", "socket", name)
	defer e.log.Debug("routine receive stopped", "socket", name)

	b := getBatch(socketBatchSize)
	defer b.put()
	for i := range b.msgs {
		b.msgs[i].Buf = b.bufs[i][headroom : headroom+MaxPacketSize]
	}
	w := tunWriter{out: b.out}
	for {
		n, err := c.ReadBatch(b.msgs, &b.sys)
		if err != nil {
			if e.closed.Load() || isClosed(err) {
				return
			}
			e.log.Warn("receive failed", "socket", name, "err", err)
			time.Sleep(10 * time.Millisecond) // don't spin on a persistent error
			continue
		}
		for i := 0; i < n; i++ {
			m := &b.msgs[i]
			if m.Flags&unix.MSG_TRUNC != 0 || m.N > MaxPacketSize {
				e.counters.drop(DropMalformed, 1)
				continue
			}
			pkt := b.bufs[i][headroom : headroom+m.N]
			switch port {
			case PortIKE:
				e.deliverIKE(pkt, port, m.Addr)
			case PortNATT:
				switch {
				case len(pkt) == 1 && pkt[0] == 0xff:
					// NAT-keepalive (RFC 3948 §2.3)
				case len(pkt) >= 4 && binary.BigEndian.Uint32(pkt) == 0:
					e.deliverIKE(pkt[4:], port, m.Addr)
				default:
					e.receiveESP(b.bufs[i], headroom, len(pkt), &w)
				}
			default:
				ihl := 0
				if len(pkt) > 0 {
					ihl = int(pkt[0]&0x0f) * 4
				}
				if len(pkt) < 20 || pkt[0]>>4 != 4 || ihl < 20 || ihl > len(pkt) {
					e.counters.drop(DropMalformed, 1)
					continue
				}
				e.receiveESP(b.bufs[i], headroom+ihl, len(pkt)-ihl, &w)
			}
		}
		w.flush()
	}
}

func (e *Endpoint) deliverIKE(pkt []byte, port uint16, from netip.AddrPort) {
	if e.onIKE == nil || !from.IsValid() {
		return
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	e.onIKE(pkt, netip.AddrPortFrom(e.local, port), from)
}

// receiveESP handles buf[off:off+n], an ESP packet starting at its SPI.
func (e *Endpoint) receiveESP(buf []byte, off, n int, w *tunWriter) {
	pkt := buf[off : off+n]
	if len(pkt) < espHeaderLen {
		e.counters.drop(DropMalformed, 1)
		return
	}
	in, ok := e.lookup(binary.BigEndian.Uint32(pkt))
	if !ok {
		e.counters.drop(DropNoSA, 1)
		return
	}
	t, sa := in.t, in.sa
	inner, err := sa.Open(pkt)
	if err != nil {
		t.dropIn(sa, ReasonOf(err))
		return
	}
	if !t.allowedInbound(inner) {
		t.dropIn(sa, DropPolicy)
		return
	}
	if o := t.out.Load(); o != nil { // both directions share suite and encapsulation
		clampMSS(inner, o.mss)
	}
	start := off + sa.HeaderLen()
	if start < headroom {
		t.dropIn(sa, DropMalformed) // cannot happen: off >= headroom
		return
	}
	sa.counters.in(len(inner))
	t.counters.in(len(inner))
	w.add(t, buf[start-headroom:start+len(inner)])
}

// tunWriter gathers consecutive packets of one tunnel into one TUN write.
type tunWriter struct {
	t   *Tunnel
	out [][]byte
}

func (w *tunWriter) add(t *Tunnel, pkt []byte) {
	if w.t != t {
		w.flush()
		w.t = t
	}
	w.out = append(w.out, pkt)
}

func (w *tunWriter) flush() {
	if len(w.out) > 0 {
		if _, err := w.t.dev.Write(w.out, headroom); err != nil && !w.t.closed.Load() && !isClosed(err) {
			w.t.log.Debug("TUN write failed", "err", err)
		}
	}
	clear(w.out)
	w.out = w.out[:0]
	w.t = nil
}

// allowedInbound is the inner policy: the destination must be one of the
// tunnel's AllowedDst prefixes (VPC CIDRs and the inside /30).
func (t *Tunnel) allowedInbound(p []byte) bool {
	var dst netip.Addr
	switch p[0] >> 4 {
	case 4:
		dst = netip.AddrFrom4([4]byte(p[16:20]))
	case 6:
		dst = netip.AddrFrom16([16]byte(p[24:40]))
	default:
		return false
	}
	for _, pfx := range t.allowed {
		if pfx.Contains(dst) {
			return true
		}
	}
	return false
}
