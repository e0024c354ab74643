package esp

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/tun"
)

// DefaultMTU is the TUN MTU when TunnelConfig.MTU is 0: a 1500-byte outside
// path minus the worst ESP-in-UDP overhead of the supported suites.
const DefaultMTU = 1400

// TunnelConfig describes one tunnel's TUN side.
type TunnelConfig struct {
	Name       string         // TUN interface name
	MTU        int            // 0: DefaultMTU; also caps the clamped TCP MSS (see Tunnel.MSS)
	AllowedDst []netip.Prefix // inner destinations accepted from the peer (VPC CIDRs + inside /30)
	Device     tun.Device     // optional (tests): used instead of creating Name
}

// Tunnel is one TUN device and the SAs that carry its traffic, bound to an
// Endpoint. It owns two goroutines, routineReadFromTUN and
// routineSequentialSender (see send.go), and shares the crypto workers; its
// inbound packets are written by the Endpoint's sequential receivers.
type Tunnel struct {
	ep      *Endpoint
	name    string
	log     *slog.Logger
	dev     tun.Device
	mtu     int            // the TUN's MTU as configured
	allowed []netip.Prefix // read-only after NewTunnel
	v4, v6  bool           // families carried (from AllowedDst)

	out      atomic.Pointer[outbound] // nil: nothing to send on
	counters counters
	lastIn   atomic.Int64 // UnixNano of the last batch with inbound packets

	sendQueue chan *outElems      // TUN reader → sequential sender, in read order
	outFree   freeList[*outElems] // containers sized to the TUN's batch

	mu     sync.Mutex // guards in and outs
	in     map[uint32]*SA
	outs   map[uint32]*outbound // current and superseded outbound SAs, until Remove
	seq    uint64               // install counter: the newest remaining outbound takes over
	closed atomic.Bool
	wg     sync.WaitGroup
}

// outbound is what the TUN reader needs to send: replaced as a whole.
type outbound struct {
	sa        *SA
	remote    netip.AddrPort
	udpEncap  bool
	addr      netip.AddrPort // remote, with port 0 on raw ESP
	conn      PacketConn     // NATT or ESP socket
	mss       uint16         // TCP MSS clamp for this SA and encapsulation
	installed uint64         // Tunnel.seq at Install
}

// NewTunnel creates (or adopts cfg.Device) the TUN and starts its reader.
// The interface is left down and unaddressed: configuring links is the
// caller's business.
func (e *Endpoint) NewTunnel(cfg TunnelConfig, log *slog.Logger) (*Tunnel, error) {
	if e.closed.Load() {
		return nil, net.ErrClosed
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < 576 || cfg.MTU > MaxPacketSize {
		return nil, fmt.Errorf("esp: tunnel %q: MTU %d outside 576..%d", cfg.Name, cfg.MTU, MaxPacketSize)
	}
	t := &Tunnel{
		ep: e, name: cfg.Name, dev: cfg.Device, mtu: cfg.MTU,
		allowed: make([]netip.Prefix, 0, len(cfg.AllowedDst)),
		in:      make(map[uint32]*SA),
		outs:    make(map[uint32]*outbound),
	}
	for _, p := range cfg.AllowedDst {
		p = p.Masked()
		t.allowed = append(t.allowed, p)
		t.v4 = t.v4 || p.Addr().Is4()
		t.v6 = t.v6 || p.Addr().Is6()
	}
	if t.dev == nil {
		dev, err := tun.CreateTUN(cfg.Name, cfg.MTU)
		if err != nil {
			return nil, fmt.Errorf("esp: create TUN %q: %w", cfg.Name, err)
		}
		t.dev = dev
	}
	if name, err := t.dev.Name(); err == nil {
		t.name = name
	}
	t.log = log.With("tunnel", t.name)
	batch := min(max(t.dev.BatchSize(), 1), maxTUNBatch)
	depth := sequentialDepth(batch, e.crypto.workers)
	t.sendQueue = make(chan *outElems, depth)
	// One more each for the reader and the sender.
	t.outFree = newFreeList(depth+2, func() *outElems { return newOutElems(batch, t.mtu) })

	e.mu.Lock()
	if e.closed.Load() {
		e.mu.Unlock()
		t.dev.Close()
		return nil, net.ErrClosed
	}
	e.tunnels[t] = struct{}{}
	// Counted by the Endpoint too, so that its Close waits for them even
	// when another goroutine is closing the tunnel: they write to the
	// crypto queues.
	e.wg.Add(2)
	t.wg.Add(2)
	e.mu.Unlock()

	go t.routineReadFromTUN()
	go t.routineSequentialSender()
	return t, nil
}

func (t *Tunnel) String() string { return "tunnel " + t.name }

// promoteAfter bounds how long a rekeyed pair's outbound SA waits for the
// peer to show it has the new SAs before vpgw sends on it anyway.
const promoteAfter = time.Second

// Install adds the inbound SA in and the outbound SA out. The first pair
// becomes current at once. On a rekey the new outbound SA takes over only
// when the first authenticated packet arrives on the new inbound SA (the
// peer has installed its side) or after promoteAfter: the side that
// finishes an exchange first (IKEv1's Quick Mode initiator, IKEv2's
// responder) would otherwise send on an SA the peer installs a moment
// later, and those packets would be lost. Older SAs keep working until
// Remove.
func (t *Tunnel) Install(in, out SAConfig, remote netip.AddrPort, udpEncap bool) error {
	if t.closed.Load() {
		return net.ErrClosed
	}
	if !remote.Addr().Unmap().Is4() {
		return fmt.Errorf("esp: remote %v is not IPv4", remote)
	}
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	insa, err := NewSA(in)
	if err != nil {
		return fmt.Errorf("esp: inbound SA: %w", err)
	}
	outsa, err := NewSA(out)
	if err != nil {
		return fmt.Errorf("esp: outbound SA: %w", err)
	}
	ob := &outbound{sa: outsa, remote: remote, udpEncap: udpEncap}
	espMTU := innerMTU(outsa, udpEncap)
	ob.mss = uint16(min(espMTU, t.mtu) - ipv4TCPHeaders)
	if udpEncap {
		if remote.Port() == 0 {
			return fmt.Errorf("esp: UDP encapsulation needs a remote port")
		}
		ob.addr, ob.conn = remote, t.ep.conns.NATT
	} else {
		ob.addr, ob.conn = netip.AddrPortFrom(remote.Addr(), 0), t.ep.conns.ESP
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.outs[out.SPI]; ok {
		return fmt.Errorf("esp: outbound SPI %#08x already installed on %v", out.SPI, t)
	}
	if err := t.ep.addInbound(insa, t); err != nil {
		return err
	}
	t.in[in.SPI] = insa
	t.seq++
	ob.installed = t.seq
	t.outs[out.SPI] = ob
	if t.out.Load() == nil {
		t.out.Store(ob)
	} else {
		insa.promote.Store(ob)
		time.AfterFunc(promoteAfter, func() { t.promote(insa) })
	}
	t.log.Info("SAs installed", "in", insa, "out", outsa, "remote", remote, "udp_encap", udpEncap)
	encap := "raw ESP"
	if udpEncap {
		encap = "UDP-encapsulated"
	}
	t.log.Info(fmt.Sprintf("TCP MSS clamped to %d (%v, %s)", ob.mss, out.ESP, encap),
		"esp_inner_mtu", espMTU, "tun_mtu", t.mtu)
	return nil
}

// promote makes the outbound SA paired with the inbound SA in current,
// unless it was removed or a newer pair took over meanwhile.
func (t *Tunnel) promote(in *SA) {
	ob := in.promote.Swap(nil)
	if ob == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.outs[ob.sa.spi] != ob {
		return // removed meanwhile
	}
	if cur := t.out.Load(); cur != nil && cur.installed > ob.installed {
		return
	}
	t.out.Store(ob)
}

// MSS is the TCP MSS that SYNs crossing the tunnel are clamped to, or 0
// when no outbound SA is installed. It is the largest inner IPv4 packet
// that fits one OutsideMTU datagram after ESP (header, IV, padding, ICV),
// the outer IPv4 header and, with NAT-T, UDP, but no more than the TUN's
// MTU (the kernel must not fragment either), less 40 bytes of IPv4 and TCP
// headers.
func (t *Tunnel) MSS() int {
	if o := t.out.Load(); o != nil {
		return int(o.mss)
	}
	return 0
}

// Remove deletes the inbound SA inSPI and the outbound SA outSPI (0: none).
// Removing the current outbound SA makes the newest remaining one current.
func (t *Tunnel) Remove(inSPI, outSPI uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if inSPI != 0 {
		t.ep.removeInbound(t, inSPI)
		delete(t.in, inSPI)
	}
	if outSPI != 0 {
		delete(t.outs, outSPI)
		if o := t.out.Load(); o != nil && o.sa.spi == outSPI {
			// The SA we send on is gone (e.g. the redundant pair of a rekey
			// collision): fall back to the newest one still installed
			// rather than stop sending.
			var next *outbound
			for _, c := range t.outs {
				if next == nil || c.installed > next.installed {
					next = c
				}
			}
			t.out.Store(next)
			if next != nil {
				t.log.Info("outbound SA removed; sending on the newest remaining one", "out", next.sa)
			}
		}
	}
	t.log.Info("SAs removed", "in", fmt.Sprintf("%#08x", inSPI), "out", fmt.Sprintf("%#08x", outSPI))
}

// Stats returns the tunnel's counters and those of each installed SA.
func (t *Tunnel) Stats() TunnelStats {
	s := TunnelStats{Stats: t.counters.snapshot()}
	t.mu.Lock()
	for _, sa := range t.in {
		s.SAs = append(s.SAs, SAStats{SPI: sa.spi, Inbound: true, ESP: sa.suite, Stats: sa.Stats()})
	}
	for _, ob := range t.outs {
		sa := ob.sa
		s.SAs = append(s.SAs, SAStats{SPI: sa.spi, ESP: sa.suite, Stats: sa.Stats()})
	}
	t.mu.Unlock()
	sort.Slice(s.SAs, func(i, j int) bool {
		if s.SAs[i].Inbound != s.SAs[j].Inbound {
			return s.SAs[i].Inbound
		}
		return s.SAs[i].SPI < s.SAs[j].SPI
	})
	return s
}

// Close removes the tunnel's SAs, closes (and so removes) the TUN and waits
// for its routines to stop: the reader first, then the sender, once it has
// sent what was queued.
func (t *Tunnel) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	t.mu.Lock()
	spis := make([]uint32, 0, len(t.in))
	for spi := range t.in {
		spis = append(spis, spi)
	}
	t.out.Store(nil)
	t.mu.Unlock()
	t.ep.removeInbound(t, spis...)
	t.ep.mu.Lock()
	delete(t.ep.tunnels, t)
	t.ep.mu.Unlock()

	err := t.dev.Close()
	t.wg.Wait()
	if err != nil && !isClosed(err) {
		return fmt.Errorf("esp: close TUN %s: %w", t.name, err)
	}
	return nil
}

func (t *Tunnel) dropIn(sa *SA, r DropReason) {
	sa.counters.drop(r, 1)
	t.counters.drop(r, 1)
}

// PacketsIn is the number of inner packets received so far.
func (t *Tunnel) PacketsIn() uint64 { return t.counters.packetsIn.Load() }

// LastInbound is when the tunnel last received an authentic ESP packet
// (zero before the first): a sign of life for dead peer detection. The
// datapath records it once per received batch.
func (t *Tunnel) LastInbound() time.Time {
	if ns := t.lastIn.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}
