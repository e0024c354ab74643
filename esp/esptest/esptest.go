// Package esptest has in-memory fakes for esp's datapath tests: a channel TUN
// device (tun.Device) and a channel network of outside sockets
// (esp.PacketConn), so two tunnels can run back to back without root.
package esptest

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"sync"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/vpgw/vpgw/esp/mmsg"
)

const queueLen = 1024

// TUN is a channel-backed tun.Device. Packets sent on Inbound are what the
// kernel would route into the TUN (the tunnel reads them); packets the
// tunnel writes appear on Outbound.
type TUN struct {
	Inbound  chan []byte
	Outbound chan []byte
	// Written is non-nil on a sink (NewSinkTUN): writes keep no packet and
	// send only how many packets each call wrote.
	Written chan int
	name    string
	batch   int
	events  chan tun.Event
	done    chan struct{}
	once    sync.Once
}

// NewTUN returns a fake TUN that reads up to batch packets per call.
func NewTUN(name string, batch int) *TUN {
	return &TUN{
		Inbound: make(chan []byte, queueLen), Outbound: make(chan []byte, queueLen),
		name: name, batch: batch, events: make(chan tun.Event, 1), done: make(chan struct{}),
	}
}

// NewSinkTUN returns a fake TUN for benchmarks: it reads like NewTUN, but
// Write keeps nothing and sends the number of packets written on Written,
// so that neither direction allocates.
func NewSinkTUN(name string, batch int) *TUN {
	t := NewTUN(name, batch)
	t.Written = make(chan int, queueLen)
	return t
}

func (t *TUN) File() *os.File { return nil }

func (t *TUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n := 0
	select {
	case <-t.done:
		return 0, os.ErrClosed
	case p := <-t.Inbound:
		sizes[0] = copy(bufs[0][offset:], p)
		n = 1
	}
	for n < len(bufs) {
		select {
		case p := <-t.Inbound:
			sizes[n] = copy(bufs[n][offset:], p)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

func (t *TUN) Write(bufs [][]byte, offset int) (int, error) {
	if offset < 10 {
		panic("esptest: TUN write offset below the virtio-net header length")
	}
	if t.Written != nil {
		select {
		case <-t.done:
			return 0, os.ErrClosed
		case t.Written <- len(bufs):
		}
		return len(bufs), nil
	}
	for i, b := range bufs {
		p := append([]byte(nil), b[offset:]...)
		select {
		case <-t.done:
			return i, os.ErrClosed
		case t.Outbound <- p:
		}
	}
	return len(bufs), nil
}

func (t *TUN) MTU() (int, error)        { return 1400, nil }
func (t *TUN) Name() (string, error)    { return t.name, nil }
func (t *TUN) Events() <-chan tun.Event { return t.events }
func (t *TUN) BatchSize() int           { return t.batch }

func (t *TUN) Close() error {
	t.once.Do(func() { close(t.done); close(t.events) })
	return nil
}

// Net is an in-memory IPv4 network of UDP and raw-ESP sockets. Datagrams
// in flight live in buffers recycled through a free list, so that a steady
// flow allocates nothing.
type Net struct {
	mu    sync.Mutex
	conns map[netip.AddrPort]*Conn // port 0: raw IP protocol 50
	free  chan []byte
}

func NewNet() *Net {
	return &Net{conns: make(map[netip.AddrPort]*Conn), free: make(chan []byte, 2*queueLen)}
}

func (n *Net) getBuf() []byte {
	select {
	case b := <-n.free:
		return b[:0]
	default:
		return make([]byte, 0, 2048)
	}
}

func (n *Net) putBuf(b []byte) {
	select {
	case n.free <- b:
	default:
	}
}

// Conns returns the three sockets of addr (UDP 500, UDP 4500, raw ESP).
func (n *Net) Conns(addr netip.Addr) (ike, natt, esp *Conn) {
	return n.Listen(netip.AddrPortFrom(addr, 500)), n.Listen(netip.AddrPortFrom(addr, 4500)),
		n.Listen(netip.AddrPortFrom(addr, 0))
}

// Listen binds a socket; port 0 means raw ESP.
func (n *Net) Listen(ap netip.AddrPort) *Conn {
	c := &Conn{net: n, local: ap, rx: make(chan datagram, queueLen), done: make(chan struct{})}
	n.mu.Lock()
	n.conns[ap] = c
	n.mu.Unlock()
	return c
}

type datagram struct {
	b    []byte // from the Net's free list
	from netip.AddrPort
}

// Conn is one fake socket; it implements esp.PacketConn (the Scratch is
// not needed).
type Conn struct {
	net   *Net
	local netip.AddrPort
	rx    chan datagram
	done  chan struct{}
	once  sync.Once
}

func (c *Conn) raw() bool { return c.local.Port() == 0 }

func (c *Conn) ReadBatch(ms []mmsg.Message, _ *mmsg.Scratch) (int, error) {
	n := 0
	select {
	case <-c.done:
		return 0, net.ErrClosed
	case d := <-c.rx:
		c.fill(&ms[0], d)
		n = 1
	}
	for n < len(ms) {
		select {
		case d := <-c.rx:
			c.fill(&ms[n], d)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

func (c *Conn) fill(m *mmsg.Message, d datagram) {
	m.N = copy(m.Buf, d.b)
	m.Addr = d.from
	m.Flags = 0
	if m.N < len(d.b) {
		m.Flags = unix.MSG_TRUNC
	}
	c.net.putBuf(d.b)
}

// WriteBatch delivers each message to the socket its Addr names: a raw
// socket sends to the raw socket of the address (the port is ignored) and
// prepends an IPv4 header, like a kernel. Like a kernel it drops silently
// when nobody listens or the queue is full.
func (c *Conn) WriteBatch(ms []mmsg.Message, _ *mmsg.Scratch) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	for _, m := range ms {
		dst := netip.AddrPortFrom(m.Addr.Addr().Unmap(), m.Addr.Port())
		from := c.local
		b := c.net.getBuf()
		if c.raw() {
			dst = netip.AddrPortFrom(dst.Addr(), 0)
			b = ipv4Header(b, c.local.Addr(), dst.Addr(), m.Buf)
		} else {
			b = append(b, m.Buf...)
		}
		c.net.mu.Lock()
		peer := c.net.conns[dst]
		c.net.mu.Unlock()
		if peer == nil {
			c.net.putBuf(b)
			continue
		}
		select {
		case peer.rx <- datagram{b: b, from: from}:
		default:
			c.net.putBuf(b)
		}
	}
	return len(ms), nil
}

func (c *Conn) Close() error {
	c.once.Do(func() {
		close(c.done)
		c.net.mu.Lock()
		if c.net.conns[c.local] == c {
			delete(c.net.conns, c.local)
		}
		c.net.mu.Unlock()
	})
	return nil
}

// Sink is a socket for benchmarks: it keeps nothing it is sent, and reports
// how many datagrams each WriteBatch call took on Sent. ReadBatch waits for
// Close. It implements esp.PacketConn.
type Sink struct {
	Sent chan int
	done chan struct{}
	once sync.Once
}

func NewSink() *Sink { return &Sink{Sent: make(chan int, queueLen), done: make(chan struct{})} }

func (s *Sink) ReadBatch([]mmsg.Message, *mmsg.Scratch) (int, error) {
	<-s.done
	return 0, net.ErrClosed
}

func (s *Sink) WriteBatch(ms []mmsg.Message, _ *mmsg.Scratch) (int, error) {
	select {
	case <-s.done:
		return 0, net.ErrClosed
	case s.Sent <- len(ms):
		return len(ms), nil
	}
}

func (s *Sink) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}

// ipv4Header appends to h[:0] payload in a 24-byte IPv4 header (IHL 6,
// with a NOP option) so that readers must honour IHL rather than assume 20.
func ipv4Header(h []byte, src, dst netip.Addr, payload []byte) []byte {
	var zero [24]byte
	h = append(h[:0], zero[:]...)
	h[0] = 0x46
	binary.BigEndian.PutUint16(h[2:], uint16(24+len(payload)))
	h[8] = 64
	h[9] = 50
	s4, d4 := src.As4(), dst.As4()
	copy(h[12:], s4[:])
	copy(h[16:], d4[:])
	h[20] = 1 // NOP options
	h[21], h[22], h[23] = 1, 1, 0
	return append(h, payload...)
}

// Ping returns an IPv4 ICMP echo request from src to dst carrying payload.
func Ping(src, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	p := make([]byte, 28+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8] = 64
	p[9] = 1
	s4, d4 := src.As4(), dst.As4()
	copy(p[12:], s4[:])
	copy(p[16:], d4[:])
	binary.BigEndian.PutUint16(p[10:], checksum(p[:20]))
	p[20] = 8 // echo request
	binary.BigEndian.PutUint16(p[24:], id)
	binary.BigEndian.PutUint16(p[26:], seq)
	copy(p[28:], payload)
	binary.BigEndian.PutUint16(p[22:], checksum(p[20:]))
	return p
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
