package esp

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"github.com/vpgw/vpgw/esp/mmsg"
)

// IKEHandler receives an IKE message (without the non-ESP marker). pkt is
// valid only during the call; local carries the port it arrived on.
type IKEHandler func(pkt []byte, local, remote netip.AddrPort)

// PacketConn is the batch I/O of one outside socket. *mmsg.Conn implements
// it (recvmmsg/sendmmsg on Linux); esptest has a channel fake. A raw ESP
// conn returns packets with their IPv4 header, as the kernel does, and
// takes them without. Addresses are netip.AddrPort (port 0 on raw ESP) so
// that neither direction allocates per packet; s holds the calling
// goroutine's kernel structures, which a fake may ignore.
//
// ReadBatch waits for at least one datagram and fills ms[:n]. WriteBatch
// sends ms in order; on error the first n were sent and the error is about
// ms[n].
type PacketConn interface {
	ReadBatch(ms []mmsg.Message, s *mmsg.Scratch) (n int, err error)
	WriteBatch(ms []mmsg.Message, s *mmsg.Scratch) (n int, err error)
	Close() error
}

// Conns are the three sockets of one outside address.
type Conns struct {
	IKE  PacketConn // UDP 500
	NATT PacketConn // UDP 4500: IKE behind the non-ESP marker, ESP, keepalives
	ESP  PacketConn // raw IP protocol 50
}

const (
	PortIKE  = 500
	PortNATT = 4500
)

// Endpoint owns the sockets of one local (outside) IPv4 address and maps
// inbound SPIs to the SA and tunnel that take them.
//
// Goroutines (receive.go): one routineReceive per socket reads batches; IKE
// datagrams go to the IKE handler synchronously. ESP batches are opened by
// the shared crypto workers (queues.go) and then checked against the replay
// window and policy and written to their tunnel's TUN, in arrival order, by
// one routineSequentialReceiver per ESP socket (UDP 4500, raw ESP).
type Endpoint struct {
	local  netip.Addr
	conns  Conns
	onIKE  IKEHandler
	log    *slog.Logger
	crypto *cryptoQueues // the shared crypto workers' queues, until Close

	inbound  spiTable // readers never lock
	counters counters // drops with no tunnel to blame (no_sa, malformed)

	mu      sync.Mutex // guards the writers of inbound, and tunnels
	tunnels map[*Tunnel]struct{}
	closed  atomic.Bool
	wg      sync.WaitGroup // the socket routines and every tunnel's routines
}

type inboundSA struct {
	sa *SA
	t  *Tunnel
}

type spiMap map[uint32]inboundSA

// spiTable maps inbound SPIs to their SAs. Each shard is a copy-on-write
// map behind an atomic pointer, so the per-packet lookup takes no lock;
// a change (under Endpoint.mu) copies one shard, which keeps installing
// and removing SAs cheap even with thousands of them (a load test's).
// SPIs are random, so the low byte spreads them over the shards.
type spiTable struct {
	shards [256]atomic.Pointer[spiMap]
}

func (s *spiTable) shard(spi uint32) *atomic.Pointer[spiMap] { return &s.shards[spi&0xff] }

func (s *spiTable) get(spi uint32) (inboundSA, bool) {
	m := s.shard(spi).Load()
	if m == nil {
		return inboundSA{}, false
	}
	in, ok := (*m)[spi]
	return in, ok
}

// update replaces spi's shard by a copy changed by f; the caller holds
// Endpoint.mu.
func (s *spiTable) update(spi uint32, f func(spiMap)) {
	p := s.shard(spi)
	var m spiMap
	if old := p.Load(); old != nil {
		m = maps.Clone(*old)
	}
	if m == nil {
		m = spiMap{}
	}
	f(m)
	p.Store(&m)
}

// NewEndpoint starts the read loops on conns, which the Endpoint now owns.
// Listen is the usual constructor; tests pass esptest conns.
func NewEndpoint(local netip.Addr, conns Conns, onIKE IKEHandler, log *slog.Logger) *Endpoint {
	e := &Endpoint{
		local: local, conns: conns, onIKE: onIKE,
		log:     log.With("endpoint", local.String()),
		tunnels: make(map[*Tunnel]struct{}),
	}
	e.crypto = acquireWorkers()
	depth := sequentialDepth(socketBatchSize, e.crypto.workers)
	natt, raw := newInPipe(depth, socketBatchSize), newInPipe(depth, socketBatchSize)
	e.wg.Add(5)
	go e.routineReceive(conns.IKE, PortIKE, newInPipe(0, ikeBatchSize))
	go e.routineReceive(conns.NATT, PortNATT, natt)
	go e.routineSequentialReceiver(natt)
	go e.routineReceive(conns.ESP, 0, raw)
	go e.routineSequentialReceiver(raw)
	return e
}

// Local returns the endpoint's address.
func (e *Endpoint) Local() netip.Addr { return e.local }

func (e *Endpoint) String() string { return "endpoint " + e.local.String() }

// Stats returns drops not attributable to a tunnel (unknown SPI, runts).
func (e *Endpoint) Stats() Stats { return e.counters.snapshot() }

// SendIKE sends one IKE message from localPort (500 or 4500) to remote,
// adding the non-ESP marker on 4500 (RFC 3948 §2.2). It may be called from
// any goroutine; it is not on the datapath and allocates.
func (e *Endpoint) SendIKE(pkt []byte, localPort uint16, remote netip.AddrPort) error {
	ms := []mmsg.Message{{Buf: pkt, Addr: remote}}
	var c PacketConn
	switch localPort {
	case PortIKE:
		c = e.conns.IKE
	case PortNATT:
		c = e.conns.NATT
		ms[0].Buf = append(make([]byte, 4, 4+len(pkt)), pkt...) // zero marker
	default:
		return fmt.Errorf("esp: no IKE socket on port %d", localPort)
	}
	if _, err := c.WriteBatch(ms, new(mmsg.Scratch)); err != nil {
		return fmt.Errorf("esp: send IKE to %v: %w", remote, err)
	}
	return nil
}

// Close closes every tunnel of the endpoint, then the sockets, and waits for
// the endpoint's routines to end (including those of a tunnel another
// goroutine is closing); the last Endpoint closed stops the crypto workers.
func (e *Endpoint) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	e.mu.Lock()
	ts := make([]*Tunnel, 0, len(e.tunnels))
	for t := range e.tunnels {
		ts = append(ts, t)
	}
	e.mu.Unlock()
	var errs []error
	for _, t := range ts {
		errs = append(errs, t.Close())
	}
	for _, c := range []PacketConn{e.conns.IKE, e.conns.NATT, e.conns.ESP} {
		if err := c.Close(); err != nil && !isClosed(err) {
			errs = append(errs, err)
		}
	}
	e.wg.Wait()      // no more writers to the crypto queues
	releaseWorkers() // the last one out stops the workers
	return errors.Join(errs...)
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed)
}

// addInbound publishes spi → sa for tunnel t.
func (e *Endpoint) addInbound(sa *SA, t *Tunnel) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return net.ErrClosed
	}
	if _, ok := e.inbound.get(sa.spi); ok {
		return fmt.Errorf("esp: inbound SPI %#08x already installed on %v", sa.spi, e)
	}
	e.inbound.update(sa.spi, func(m spiMap) { m[sa.spi] = inboundSA{sa: sa, t: t} })
	return nil
}

// removeInbound unpublishes the given SPIs of tunnel t (0 is ignored).
func (e *Endpoint) removeInbound(t *Tunnel, spis ...uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, spi := range spis {
		if in, ok := e.inbound.get(spi); ok && in.t == t {
			e.inbound.update(spi, func(m spiMap) { delete(m, spi) })
		}
	}
}

func (e *Endpoint) lookup(spi uint32) (inboundSA, bool) {
	return e.inbound.get(spi)
}
