// Package mmsg is the batch datagram I/O of the ESP datapath: recvmmsg and
// sendmmsg on IPv4 sockets (UDP or raw), through the Go netpoller, with no
// allocation per call or per packet.
//
// Two things make that possible. Addresses are netip.AddrPort values, not
// net.Addr interfaces that would have to be allocated for every datagram.
// And the structures handed to the kernel (mmsghdr, iovec and sockaddr
// arrays) live in a Scratch owned by the calling goroutine, built on its
// first call and reused for every later one.
//
// On UDP sockets it also uses the kernel's segmentation offloads where the
// kernel has them: a write sends each run of equal-sized datagrams to one
// destination as a single UDP_SEGMENT (GSO) send, and EnableGRO lets a read
// return many datagrams of one flow coalesced in one buffer (UDP_GRO). One
// system call and one trip through the stack then carry up to 64 packets.
package mmsg

import "net/netip"

// Message is one datagram of a batch.
type Message struct {
	// Buf is, for a read, the room for the datagram and, for a write, the
	// datagram itself. On a raw socket a read includes the IPv4 header and a
	// write does not.
	Buf []byte
	// N is the length of the datagram read (at most len(Buf)).
	N int
	// Addr is the source of a datagram read and the destination of one
	// written; the port is 0 on a raw socket.
	Addr netip.AddrPort
	// Flags are the kernel's msg_flags of a datagram read, e.g. MSG_TRUNC
	// when it did not fit in Buf.
	Flags int
	// Segment is, for a read on a Conn with GRO on, the size of each of the
	// datagrams the kernel coalesced into Buf[:N] (the last may be
	// shorter); 0 when Buf[:N] is one datagram. Ignored on write.
	Segment int
}

// Scratch holds the kernel structures for one goroutine's batches. The zero
// value is ready to use; it grows to the largest batch seen and is reused
// after that. A Scratch must not be used by two calls at once, nor copied
// after first use.
type Scratch struct {
	sys sysScratch
}
