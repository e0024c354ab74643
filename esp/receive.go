package esp

// Inbound pipeline of a socket (wireguard-go's, see queues.go):
//
//  1. routineReceive, one per socket, sequential: recvmmsg a batch into a
//     pooled inElems at offset headroom (mmsg.Conn; the reader's Scratch
//     holds the kernel headers, sources are AddrPorts). Once ESP arrives on
//     UDP 4500, UDP GRO is turned on there: the kernel coalesces a flow's
//     datagrams, read into a few 64 kB buffers and copied out one per
//     packet buffer (splitGRO). Demultiplex: UDP
//     500 → IKE handler; UDP 4500 → four zero bytes: IKE (marker stripped),
//     a lone 0xFF: NAT keepalive (ignored), else ESP; raw → strip the IPv4
//     header (IHL), ESP. For ESP: SPI → SA and tunnel from the atomic
//     snapshot map, length and alignment checks, and an early replay check
//     (SA.mayAccept) so that replays cost no crypto. If the batch holds
//     ESP, lock it, put it on the socket's receive queue, then on the
//     device-wide decryption queue. IKE is handled right here.
//  2. routineDecryption, one per CPU, parallel: check the ICV, decrypt and
//     parse the trailer of each packet in place (SA.decrypt); unlock.
//  3. routineSequentialReceiver, one per ESP socket, sequential: Lock the
//     next container (wait for its worker), then for each packet in arrival
//     order: the replay window, only for authenticated packets (SA.accept,
//     RFC 4303 §3.4.3); the policy (the inner destination must be in the
//     tunnel's AllowedDst); MSS clamping of TCP SYNs (mss.go). Consecutive
//     packets for one tunnel are written to its TUN in one batch, at offset
//     headroom in front of the inner packet.
//
// Drops are counted (tunnel, SA, or endpoint when no tunnel is known).

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vpgw/vpgw/esp/mmsg"
)

// inPipe is the inbound pipeline of one socket: the sequential receive
// queue and the free list of its containers.
type inPipe struct {
	q    chan *inElems // nil on the IKE socket, which carries no ESP
	free freeList[*inElems]
}

func newInPipe(depth, batch int) inPipe {
	// One more each for the reader and the sequential receiver.
	p := inPipe{free: newFreeList(depth+2, func() *inElems { return newInElems(batch) })}
	if depth > 0 {
		p.q = make(chan *inElems, depth)
	}
	return p
}

// routineReceive reads socket c into pipeline p; it closes p.q on return.
func (e *Endpoint) routineReceive(c PacketConn, port uint16, p inPipe) {
	defer e.wg.Done()
	if p.q != nil {
		defer close(p.q) // the only writer: stops the sequential receiver
	} else {
		defer p.free.drain() // no receiver to do it
	}
	name := "esp"
	if port != 0 {
		name = "udp/" + strconv.Itoa(int(port))
	}
	e.log.Debug("routine receive started", "socket", name)
	defer e.log.Debug("routine receive stopped", "socket", name)

	var sys mmsg.Scratch         // the kernel's view of the batch being read
	var gro *groBatch            // big read buffers, once UDP GRO is on
	triedGRO := port != PortNATT // only ESP in UDP coalesces
	el := p.free.get()
	defer func() { p.free.put(el) }()
	for {
		msgs := el.msgs
		if gro != nil {
			msgs = gro.msgs[:]
		}
		n, err := c.ReadBatch(msgs, &sys)
		if err != nil {
			if e.closed.Load() || isClosed(err) {
				return
			}
			e.log.Warn("receive failed", "socket", name, "err", err)
			time.Sleep(10 * time.Millisecond) // don't spin on a persistent error
			continue
		}
		if gro != nil {
			el = e.splitGRO(msgs[:n], el, port, p)
		} else {
			for i := range msgs[:n] {
				if m := &msgs[i]; m.Flags&unix.MSG_TRUNC != 0 || m.N > MaxPacketSize {
					e.counters.drop(DropMalformed, 1)
				} else {
					e.dispatch(el, i, m.N, port, m.Addr)
				}
			}
			if !triedGRO && len(el.pkts) > 0 {
				// ESP in UDP flows here: have the kernel coalesce it
				// (asked once; a kernel without UDP GRO says no for good).
				triedGRO, gro = true, e.enableGRO(c)
			}
		}
		el = e.queueIn(el, p)
	}
}

// groBatchSize is how many coalesced reads one recvmmsg takes on a socket
// with GRO on; each holds up to 64 datagrams in MaxGROSize bytes.
const groBatchSize = 4

// groBatch is the read buffers of a socket with UDP GRO on. Their
// datagrams are copied into a container's packet buffers (splitGRO), where
// they are opened in place like any other.
type groBatch struct {
	msgs [groBatchSize]mmsg.Message
}

// enableGRO turns UDP GRO on for c if it can, and returns the buffers to
// read with from then on, or nil.
func (e *Endpoint) enableGRO(c PacketConn) *groBatch {
	g, ok := c.(interface{ EnableGRO() error })
	if !ok {
		return nil
	}
	if err := g.EnableGRO(); err != nil {
		e.log.Debug("UDP GRO not available", "err", err)
		return nil
	}
	b := new(groBatch)
	mem := make([]byte, groBatchSize*mmsg.MaxGROSize)
	for i := range b.msgs {
		b.msgs[i].Buf = mem[i*mmsg.MaxGROSize : (i+1)*mmsg.MaxGROSize]
	}
	return b
}

// splitGRO dispatches each datagram of the coalesced reads ms, copied into
// el's buffers; a full el is queued and the next one filled. It returns
// the container being filled.
func (e *Endpoint) splitGRO(ms []mmsg.Message, el *inElems, port uint16, p inPipe) *inElems {
	k := 0
	for i := range ms {
		m := &ms[i]
		seg := m.Segment
		if seg <= 0 {
			seg = m.N
		}
		if m.Flags&unix.MSG_TRUNC != 0 || seg > MaxPacketSize {
			e.counters.drop(DropMalformed, 1)
			continue
		}
		for off := 0; off < m.N; off += seg {
			if k == len(el.bufs) {
				el, k = e.queueIn(el, p), 0
			}
			n := copy(el.bufs[k][headroom:headroom+MaxPacketSize], m.Buf[off:min(off+seg, m.N)])
			e.dispatch(el, k, n, port, m.Addr)
			k++
		}
	}
	return el
}

// queueIn hands el to decryption if it holds ESP, and returns the
// container to fill next.
func (e *Endpoint) queueIn(el *inElems, p inPipe) *inElems {
	if len(el.pkts) == 0 {
		return el
	}
	el.Lock() // until the worker has opened the batch
	p.q <- el
	e.crypto.decryption <- el
	return p.free.get()
}

// dispatch demultiplexes the datagram of n bytes in el.bufs[i] (at
// headroom) from socket port: UDP 500 → IKE; UDP 4500 → four zero bytes:
// IKE (marker stripped), a lone 0xFF: NAT keepalive, else ESP; raw → ESP
// behind its IPv4 header.
func (e *Endpoint) dispatch(el *inElems, i, n int, port uint16, from netip.AddrPort) {
	pkt := el.bufs[i][headroom : headroom+n]
	switch port {
	case PortIKE:
		e.deliverIKE(pkt, port, from)
	case PortNATT:
		switch {
		case len(pkt) == 1 && pkt[0] == 0xff:
			// NAT-keepalive (RFC 3948 §2.3)
		case len(pkt) >= 4 && binary.BigEndian.Uint32(pkt) == 0:
			e.deliverIKE(pkt[4:], port, from)
		default:
			e.stageESP(el, i, headroom, len(pkt))
		}
	default:
		ihl := 0
		if len(pkt) > 0 {
			ihl = int(pkt[0]&0x0f) * 4
		}
		if len(pkt) < 20 || pkt[0]>>4 != 4 || ihl < 20 || ihl > len(pkt) {
			e.counters.drop(DropMalformed, 1)
			return
		}
		e.stageESP(el, i, headroom+ihl, len(pkt)-ihl)
	}
}

func (e *Endpoint) deliverIKE(pkt []byte, port uint16, from netip.AddrPort) {
	if e.onIKE == nil || !from.IsValid() {
		return
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	e.onIKE(pkt, netip.AddrPortFrom(e.local, port), from)
}

// stageESP adds el.bufs[i][off:off+n], an ESP packet starting at its SPI,
// to the batch's packets to open, or counts why not.
func (e *Endpoint) stageESP(el *inElems, i, off, n int) {
	pkt := el.bufs[i][off : off+n]
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
	seq, err := sa.checkHeader(pkt)
	if err != nil {
		t.dropIn(sa, ReasonOf(err))
		return
	}
	if !sa.mayAccept(seq) {
		t.dropIn(sa, DropReplay)
		return
	}
	el.pkts = append(el.pkts, openJob{sa: sa, t: t, i: i, off: off, n: n, seq: seq})
}

// routineSequentialReceiver finishes the batches of one socket in the order
// they were read, each once its worker has opened it.
func (e *Endpoint) routineSequentialReceiver(p inPipe) {
	defer e.wg.Done()
	e.log.Debug("routine sequential receiver started")
	defer e.log.Debug("routine sequential receiver stopped")

	// The last user of the pipeline's containers: the reader put its own
	// back before closing the queue.
	defer p.free.drain()
	w := tunWriter{out: make([][]byte, 0, socketBatchSize)}
	for el := range p.q {
		el.Lock()
		w.now = time.Now().UnixNano()
		for k := range el.pkts {
			e.receiveESP(el, &el.pkts[k], &w)
		}
		w.flush()
		el.Unlock()
		p.free.put(el)
	}
}

// receiveESP finishes one opened packet: replay window, policy, MSS.
func (e *Endpoint) receiveESP(el *inElems, p *openJob, w *tunWriter) {
	t, sa := p.t, p.sa
	if !p.authed {
		t.dropIn(sa, ReasonOf(p.err))
		return
	}
	// After authentication, in arrival order: RFC 4303 §3.4.3.
	if !sa.accept(p.seq) {
		t.dropIn(sa, DropReplay)
		return
	}
	if p.err != nil { // authentic, but bad padding or next header
		t.dropIn(sa, ReasonOf(p.err))
		return
	}
	if sa.promote.Load() != nil {
		t.promote(sa) // the peer sends on the new pair: so can we
	}
	inner := p.inner
	if !t.allowedInbound(inner) {
		t.dropIn(sa, DropPolicy)
		return
	}
	if o := t.out.Load(); o != nil { // both directions share suite and encapsulation
		clampMSS(inner, o.mss)
	}
	start := p.off + sa.HeaderLen()
	if start < headroom {
		t.dropIn(sa, DropMalformed) // cannot happen: off >= headroom
		return
	}
	sa.counters.in(len(inner))
	t.counters.in(len(inner))
	w.add(t, el.bufs[p.i][start-headroom:start+len(inner)])
}

// tunWriter gathers consecutive packets of one tunnel into one TUN write,
// and notes the batch's time as the tunnel's last sign of life.
type tunWriter struct {
	t   *Tunnel
	out [][]byte
	now int64 // UnixNano when the batch was taken
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
		w.t.lastIn.Store(w.now)
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
