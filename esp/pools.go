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
)

func init() {
	if headroom < SealHeadroom+10 {
		panic("esp: headroom too small")
	}
}

// packetBuffer is one pooled, fixed-size packet buffer.
type packetBuffer [bufSize]byte

var bufferPool = sync.Pool{New: func() any { return new(packetBuffer) }}

// batch is the per-goroutine working set of a read loop: buffers, sizes and
// socket messages, allocated once when the loop starts and reused for every
// packet, so the steady state allocates nothing.
type batch struct {
	elems []*packetBuffer
	bufs  [][]byte       // bufs[i] is all of elems[i]
	sizes []int          // TUN read sizes
	msgs  []mmsg.Message // socket I/O
	sys   mmsg.Scratch   // the kernel's view of msgs; owned with the batch
	out   [][]byte       // packets gathered for one TUN write
}

func getBatch(n int) *batch {
	b := &batch{
		elems: make([]*packetBuffer, n),
		bufs:  make([][]byte, n),
		sizes: make([]int, n),
		msgs:  make([]mmsg.Message, n),
		out:   make([][]byte, 0, n),
	}
	for i := range b.elems {
		b.elems[i] = bufferPool.Get().(*packetBuffer)
		b.bufs[i] = b.elems[i][:]
	}
	return b
}

// put returns the buffers to the pool and clears every pointer.
func (b *batch) put() {
	for i, e := range b.elems {
		bufferPool.Put(e)
		b.elems[i], b.bufs[i] = nil, nil
		b.msgs[i] = mmsg.Message{}
	}
	clear(b.out[:cap(b.out)])
}
