package esp

import (
	"sync"

	"github.com/vpgw/vpgw/esp/mmsg"
)

const (
	// headroom is where packets start in every buffer: room for the ESP
	// header and IV in front of a TUN packet (sealed in place), for the
	// virtio-net header the Linux TUN writes in front with offloads on (10),
	// and for a raw socket's IPv4 header in front of a received ESP packet.
	headroom = 64
	// MaxPacketSize is the largest outside datagram or inner packet handled;
	// larger reads are truncated and dropped as malformed.
	MaxPacketSize = 9216
	bufSize       = headroom + MaxPacketSize + SealTailroom

	// socketBatchSize is how many datagrams one recvmmsg may return.
	socketBatchSize = 64
	// ikeBatchSize is that for UDP 500, which carries only IKE: few
	// datagrams, and each tunnel's socket holds its buffers for good.
	ikeBatchSize = 8
	// maxTUNBatch is the most packets read from a TUN at once (wireguard's
	// conn.IdealBatchSize, the largest tun.Device.BatchSize).
	maxTUNBatch = 128
)

func init() {
	if headroom < SealHeadroom+10 {
		panic("esp: headroom too small")
	}
}

// packetBuffer is one fixed-size packet buffer.
type packetBuffer [bufSize]byte

// Containers carry one batch through a pipeline (queues.go). Each is made in
// two allocations, its struct and its buffers, and recycled through its
// pipeline's freeList; the steady state allocates nothing.

// freeList recycles the containers of one pipeline (a tunnel's outbound, a
// socket's inbound). Unlike a sync.Pool it is not emptied by garbage
// collections, which would have whole batches of buffers made again; it
// holds at most as many containers as the pipeline's queues, and they are
// garbage once the pipeline stops and drains it.
type freeList[T interface{ reset() }] struct {
	free  chan T
	newEl func() T
}

func newFreeList[T interface{ reset() }](n int, newEl func() T) freeList[T] {
	return freeList[T]{free: make(chan T, n), newEl: newEl}
}

func (f freeList[T]) get() T {
	select {
	case el := <-f.free:
		return el
	default:
		return f.newEl()
	}
}

// put resets el and keeps it for the next get (or drops it when full).
func (f freeList[T]) put(el T) {
	el.reset()
	select {
	case f.free <- el:
	default:
	}
}

// drain drops every container held; the pipeline must have stopped.
func (f freeList[T]) drain() {
	for {
		select {
		case <-f.free:
		default:
			return
		}
	}
}

// outElems is one batch read from a TUN on its way out (send.go). The
// embedded Mutex is locked by the TUN reader before the container is queued
// and unlocked by the encryption worker once every packet is sealed; the
// sequential sender's Lock waits for that.
type outElems struct {
	sync.Mutex
	bufs  [][]byte // bufs[i] is all of one buffer; len is the TUN's batch
	sizes []int    // TUN read sizes

	o    *outbound      // the SA and destination of the whole batch
	pkts []sealJob      // the packets to seal, in sequence order
	msgs []mmsg.Message // the sealed packets, written by the worker

	bufArr  [maxTUNBatch][]byte
	sizeArr [maxTUNBatch]int
	pktArr  [maxTUNBatch]sealJob
	msgArr  [maxTUNBatch]mmsg.Message
}

// sealJob is one packet of an outElems: the inner packet of size bytes in
// bufs[i], prepared (prepareSeal) as bufs[i][start:ptEnd] and sealed with
// seq.
type sealJob struct {
	i, size, start, ptEnd int
	seq                   uint32
}

// newOutElems makes a container for batches of n ≤ maxTUNBatch packets of
// at most mtu bytes: a TUN hands over no larger packet (a segmentation
// offload read is split into packets of the MTU at most), and sizing the
// buffers by it rather than MaxPacketSize keeps an idle tunnel's memory
// small.
func newOutElems(n, mtu int) *outElems {
	el := new(outElems)
	size := headroom + mtu + SealTailroom
	mem := make([]byte, n*size)
	for i := range n {
		el.bufArr[i] = mem[i*size : (i+1)*size : (i+1)*size]
	}
	el.bufs, el.sizes = el.bufArr[:n], el.sizeArr[:n]
	el.pkts, el.msgs = el.pktArr[:0], el.msgArr[:0]
	return el
}

// reset clears the container's pointers to anything but its own buffers.
func (el *outElems) reset() {
	el.o = nil
	clear(el.msgs)
	el.msgs = el.msgs[:0]
	el.pkts = el.pkts[:0]
}

// inElems is one recvmmsg batch on its way in (receive.go), locked like
// outElems while the decryption worker has it.
type inElems struct {
	sync.Mutex
	bufs [][]byte       // bufs[i] is all of one buffer; len is the batch size
	msgs []mmsg.Message // msgs[i].Buf is bufs[i] after headroom
	pkts []openJob      // the ESP packets of the batch, in arrival order

	bufArr [socketBatchSize][]byte
	msgArr [socketBatchSize]mmsg.Message
	pktArr [socketBatchSize]openJob
}

// openJob is one ESP packet of an inElems, bufs[i][off:off+n]. The reader
// fills sa, t, i, off, n and seq; the worker the rest.
type openJob struct {
	sa        *SA
	t         *Tunnel
	i, off, n int
	seq       uint32
	authed    bool   // the ICV was verified: the window may move
	inner     []byte // the inner packet, when err is nil
	err       error
}

// newInElems makes a container for batches of n ≤ socketBatchSize
// datagrams.
func newInElems(n int) *inElems {
	el := new(inElems)
	mem := make([]packetBuffer, n)
	for i := range mem {
		el.bufArr[i] = mem[i][:]
		el.msgArr[i].Buf = mem[i][headroom : headroom+MaxPacketSize]
	}
	el.bufs, el.msgs = el.bufArr[:n], el.msgArr[:n]
	el.pkts = el.pktArr[:0]
	return el
}

func (el *inElems) reset() {
	clear(el.pkts)
	el.pkts = el.pkts[:0]
}
