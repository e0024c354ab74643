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

	"golang.org/x/net/ipv4"
	"golang.zx2c4.com/wireguard/tun"
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

// Net is an in-memory IPv4 network of UDP and raw-ESP sockets.
type Net struct {
	mu    sync.Mutex
	conns map[netip.AddrPort]*Conn // port 0: raw IP protocol 50
}

func NewNet() *Net { return &Net{conns: make(map[netip.AddrPort]*Conn)} }

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
	b    []byte
	from net.Addr
}

// Conn is one fake socket; it implements esp.PacketConn.
type Conn struct {
	net   *Net
	local netip.AddrPort
	rx    chan datagram
	done  chan struct{}
	once  sync.Once
}

func (c *Conn) raw() bool { return c.local.Port() == 0 }

func (c *Conn) ReadBatch(ms []ipv4.Message, _ int) (int, error) {
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

func (c *Conn) fill(m *ipv4.Message, d datagram) {
	m.N = copy(m.Buffers[0], d.b)
	m.Addr = d.from
	m.Flags = 0
}

// WriteBatch delivers each message to the socket its Addr names; like a
// kernel it prepends an IPv4 header on raw delivery and drops silently
// when nobody listens or the queue is full.
func (c *Conn) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	for _, m := range ms {
		var payload []byte
		for _, b := range m.Buffers {
			payload = append(payload, b...)
		}
		var dst netip.AddrPort
		var from net.Addr
		var b []byte
		switch a := m.Addr.(type) {
		case *net.UDPAddr:
			dst = a.AddrPort()
			from = net.UDPAddrFromAddrPort(c.local)
			b = payload
		case *net.IPAddr:
			ip, _ := netip.AddrFromSlice(a.IP)
			dst = netip.AddrPortFrom(ip.Unmap(), 0)
			from = &net.IPAddr{IP: c.local.Addr().AsSlice()}
			b = ipv4Header(c.local.Addr(), dst.Addr(), payload)
		default:
			continue
		}
		dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
		c.net.mu.Lock()
		peer := c.net.conns[dst]
		c.net.mu.Unlock()
		if peer == nil {
			continue
		}
		select {
		case peer.rx <- datagram{b: b, from: from}:
		default:
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

// ipv4Header wraps payload in a 24-byte IPv4 header (IHL 6, with a NOP
// option) so that readers must honour IHL rather than assume 20.
func ipv4Header(src, dst netip.Addr, payload []byte) []byte {
	h := make([]byte, 24, 24+len(payload))
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
