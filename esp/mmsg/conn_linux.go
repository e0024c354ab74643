package mmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is an IPv4 datagram socket (UDP, or raw IP of one protocol) read and
// written in batches with recvmmsg and sendmmsg. Calls block through the
// netpoller like those of the net.Conn it wraps, and return an error
// matching net.ErrClosed once it is closed. Several goroutines may call it
// at once, each with its own Scratch.
type Conn struct {
	c   io.Closer
	rc  syscall.RawConn
	udp bool
	gso atomic.Bool // WriteBatch sends runs of datagrams as one GSO send
	gro atomic.Bool // UDP_GRO is on: reads may return coalesced datagrams
}

const (
	// maxGSOSegments is the kernel's UDP_MAX_SEGMENTS (64 before Linux
	// 6.12, 128 since): the most datagrams one GSO send may carry.
	maxGSOSegments = 64
	// maxUDPPayload is the largest IPv4 UDP payload, which bounds a GSO
	// send's total and a GRO read's.
	maxUDPPayload = 65535 - 20 - 8
	// MaxGROSize is the room a read buffer needs on a Conn with GRO on:
	// a coalesced read that does not fit is truncated (MSG_TRUNC) and its
	// datagrams lost.
	MaxGROSize = maxUDPPayload
	// ctrlLen is the room for one UDP_SEGMENT or UDP_GRO control message.
	ctrlLen = 24 // unix.CmsgSpace(4)
)

// errNotIPv4 is returned by WriteBatch for a destination that is not IPv4.
var errNotIPv4 = errors.New("mmsg: destination is not an IPv4 address")

// NewConn wraps c, a *net.UDPConn or *net.IPConn on an AF_INET socket
// ("udp4", "ip4:…"). The Conn owns c from now on.
func NewConn(c interface {
	syscall.Conn
	io.Closer
}) (*Conn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var sa unix.Sockaddr
	var serr error
	if err := rc.Control(func(fd uintptr) { sa, serr = unix.Getsockname(int(fd)) }); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, os.NewSyscallError("getsockname", serr)
	}
	if _, ok := sa.(*unix.SockaddrInet4); !ok {
		return nil, fmt.Errorf("mmsg: %T is not an AF_INET socket", c)
	}
	conn := &Conn{c: c, rc: rc}
	_ = rc.Control(func(fd uintptr) {
		proto, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL)
		conn.udp = err == nil && proto == unix.IPPROTO_UDP
		if conn.udp {
			// The option is readable where the kernel has UDP GSO (4.18+).
			_, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
			conn.gso.Store(err == nil)
		}
	})
	return conn, nil
}

// GSO reports whether WriteBatch sends runs of equal-sized datagrams as one
// segmentation-offload send.
func (c *Conn) GSO() bool { return c.gso.Load() }

// SetGSO turns segmentation offload on writes off, or back on where the
// socket supports it; it reports whether it is on.
func (c *Conn) SetGSO(on bool) bool {
	if !on {
		c.gso.Store(false)
		return false
	}
	var err error = unix.ENOPROTOOPT
	if c.udp {
		_ = c.rc.Control(func(fd uintptr) {
			_, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		})
	}
	c.gso.Store(err == nil)
	return err == nil
}

// EnableGRO asks the kernel to coalesce received datagrams of one flow
// (UDP_GRO). From then on ReadBatch may return many datagrams in one
// Message, with Segment set; its buffers need MaxGROSize bytes.
func (c *Conn) EnableGRO() error {
	if !c.udp {
		return errors.New("mmsg: GRO needs a UDP socket")
	}
	var err error
	if cerr := c.rc.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1)
	}); cerr != nil {
		return cerr
	}
	if err != nil {
		return os.NewSyscallError("setsockopt UDP_GRO", err)
	}
	c.gro.Store(true)
	return nil
}

// GRO reports whether EnableGRO succeeded.
func (c *Conn) GRO() bool { return c.gro.Load() }

// Close closes the socket; blocked calls return an error matching
// net.ErrClosed.
func (c *Conn) Close() error { return c.c.Close() }

// ReadBatch waits for at least one datagram and receives up to len(ms) into
// ms[i].Buf, setting N, Addr and Flags of each. It returns how many were
// received.
func (c *Conn) ReadBatch(ms []Message, s *Scratch) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	x := &s.sys
	x.grow(len(ms))
	gro := c.gro.Load()
	for i := range ms {
		x.pack(i, i, ms[i:i+1], gro)
	}
	x.first, x.n = 0, len(ms)
	if err := c.rc.Read(x.recv); err != nil {
		return 0, err
	}
	if x.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", x.errno)
	}
	for i := range x.done {
		m, h := &ms[i], &x.hdrs[i]
		m.N = int(h.Len)
		m.Flags = int(h.Hdr.Flags)
		m.Addr = x.addr(i)
		m.Segment = 0
		if gro {
			m.Segment = x.groSize(i)
		}
	}
	return x.done, nil
}

// WriteBatch sends ms in order, each ms[i].Buf to ms[i].Addr, and returns
// how many were sent. On error, n < len(ms) and the error is about ms[n];
// the caller may go on from ms[n+1].
//
// With GSO on, each run of datagrams to one address whose sizes are equal
// (the last may be shorter) goes as one send that the kernel segments. A
// run the kernel refuses (EINVAL when a datagram would need IP
// fragmentation; EIO when the route's device cannot checksum, which turns
// GSO off) is sent again datagram by datagram.
func (c *Conn) WriteBatch(ms []Message, s *Scratch) (int, error) {
	sent := 0
	for sent < len(ms) {
		n, run, err := c.writeSome(ms[sent:], s, c.gso.Load())
		sent += n
		if run == 0 {
			return sent, err
		}
		if errors.Is(err, unix.EIO) {
			c.gso.Store(false)
		}
		n, _, err = c.writeSome(ms[sent:sent+run], s, false)
		sent += n
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// writeSome sends ms, each run of datagrams as one GSO send if gso. It
// returns how many were sent and, when the send of a run of several
// datagrams at ms[n] failed, the run's length; otherwise err is nil only if
// all of ms were sent, and about ms[n].
func (c *Conn) writeSome(ms []Message, s *Scratch, gso bool) (n, run int, err error) {
	x := &s.sys
	x.grow(len(ms))
	valid, bad := len(ms), error(nil)
	for i := range ms {
		if !ms[i].Addr.Addr().Unmap().Is4() {
			// Send what precedes it, then report it.
			valid, bad = i, errNotIPv4
			break
		}
	}
	hdrs := 0
	for i := 0; i < valid; hdrs++ {
		k := 1
		if gso {
			k = gsoRun(ms[i:valid])
		}
		x.pack(hdrs, i, ms[i:i+k], false)
		a := ms[i].Addr
		x.setAddr(hdrs, a.Addr().Unmap().As4(), a.Port())
		i += k
	}
	for h := 0; h < hdrs; {
		x.first, x.n = h, hdrs
		if err := c.rc.Write(x.send); err != nil {
			return n, 0, err
		}
		if x.errno != 0 {
			err := os.NewSyscallError("sendmmsg", x.errno)
			if k := x.runs[h]; k > 1 {
				return n, k, err
			}
			return n, 0, err
		}
		if x.done <= 0 {
			return n, 0, io.ErrShortWrite // vlen > 0: cannot happen
		}
		for _, k := range x.runs[h : h+x.done] {
			n += k
		}
		h += x.done
	}
	return n, 0, bad
}

// gsoRun is how many datagrams from ms[0] on can go in one GSO send: same
// destination, same size, but for a shorter last one, within the kernel's
// limits.
func gsoRun(ms []Message) int {
	seg := len(ms[0].Buf)
	if seg == 0 {
		return 1
	}
	total, k := seg, 1
	for k < len(ms) && k < maxGSOSegments {
		l := len(ms[k].Buf)
		if l == 0 || l > seg || total+l > maxUDPPayload || ms[k].Addr != ms[0].Addr {
			break
		}
		total += l
		k++
		if l < seg {
			break
		}
	}
	return k
}

// sysScratch is Scratch on Linux: hdrs[i] points at iovs[i] and names[i].
type sysScratch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4
	ctrl  []byte // ctrlLen bytes per header: UDP_SEGMENT or UDP_GRO
	runs  []int  // datagrams per header (several for a GSO send)

	// The call in progress: hdrs[first:n] are handed to the kernel, which
	// took done of them or failed with errno. recv and send read these; they
	// are method values made once, because a closure made per call for
	// RawConn.Read or Write would escape and be allocated every time.
	first, n, done int
	errno          syscall.Errno
	recv, send     func(fd uintptr) bool
}

func (x *sysScratch) grow(n int) {
	if x.recv == nil {
		x.recv, x.send = x.recvmmsg, x.sendmmsg
	}
	if len(x.hdrs) >= n {
		return
	}
	x.hdrs = make([]unix.Mmsghdr, n)
	x.iovs = make([]unix.Iovec, n)
	x.names = make([]unix.RawSockaddrInet4, n)
	x.ctrl = make([]byte, n*ctrlLen)
	x.runs = make([]int, n)
	for i := range x.hdrs {
		x.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&x.names[i]))
	}
}

// pack makes header h of the datagrams in ms, whose buffers go in iovs
// from iov on: one datagram, or for len(ms) > 1 a GSO send of them with
// UDP_SEGMENT. gro gives a read room for the UDP_GRO control message. It
// resets what the kernel writes back.
func (x *sysScratch) pack(h, iov int, ms []Message, gro bool) {
	for k := range ms {
		v := &x.iovs[iov+k]
		v.Base = unsafe.SliceData(ms[k].Buf)
		v.SetLen(len(ms[k].Buf))
	}
	m := &x.hdrs[h]
	m.Hdr.Iov = &x.iovs[iov]
	m.Hdr.SetIovlen(len(ms))
	m.Hdr.Namelen = unix.SizeofSockaddrInet4
	m.Hdr.Flags = 0
	m.Len = 0
	x.runs[h] = len(ms)
	m.Hdr.Control, m.Hdr.Controllen = nil, 0
	ctrl := x.ctrl[h*ctrlLen : (h+1)*ctrlLen]
	switch {
	case len(ms) > 1:
		cm := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
		cm.Level, cm.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
		cm.SetLen(unix.CmsgLen(2))
		binary.NativeEndian.PutUint16(ctrl[unix.CmsgLen(0):], uint16(len(ms[0].Buf)))
		m.Hdr.Control = &ctrl[0]
		m.Hdr.SetControllen(unix.CmsgSpace(2))
	case gro:
		clear(ctrl)
		m.Hdr.Control = &ctrl[0]
		m.Hdr.SetControllen(ctrlLen)
	}
}

// groSize is the segment size in header i's UDP_GRO control message, or 0
// when the kernel did not coalesce that read.
func (x *sysScratch) groSize(i int) int {
	b := x.ctrl[i*ctrlLen : i*ctrlLen+min(int(x.hdrs[i].Hdr.Controllen), ctrlLen)]
	for len(b) >= unix.SizeofCmsghdr {
		cm := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(cm.Len)
		if l < unix.CmsgLen(0) || l > len(b) {
			return 0
		}
		if cm.Level == unix.IPPROTO_UDP && cm.Type == unix.UDP_GRO && l >= unix.CmsgLen(2) {
			data := b[unix.CmsgLen(0):l]
			if len(data) >= 4 { // the kernel writes an int
				return int(int32(binary.NativeEndian.Uint32(data)))
			}
			return int(binary.NativeEndian.Uint16(data))
		}
		b = b[min((l+7)&^7, len(b)):]
	}
	return 0
}

func (x *sysScratch) setAddr(i int, ip [4]byte, port uint16) {
	sa := &x.names[i]
	*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port)) // network byte order
	p[0], p[1] = byte(port>>8), byte(port)
}

func (x *sysScratch) addr(i int) netip.AddrPort {
	sa := &x.names[i]
	if x.hdrs[i].Hdr.Namelen < unix.SizeofSockaddrInet4 || sa.Family != unix.AF_INET {
		return netip.AddrPort{}
	}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
}

// recvmmsg and sendmmsg run inside RawConn.Read and Write: returning false
// on EAGAIN parks the goroutine in the netpoller until the socket is ready.
func (x *sysScratch) recvmmsg(fd uintptr) bool { return x.mmsg(unix.SYS_RECVMMSG, fd) }
func (x *sysScratch) sendmmsg(fd uintptr) bool { return x.mmsg(unix.SYS_SENDMMSG, fd) }

func (x *sysScratch) mmsg(trap, fd uintptr) bool {
	for {
		r, _, e := unix.Syscall6(trap, fd, uintptr(unsafe.Pointer(&x.hdrs[x.first])), uintptr(x.n-x.first), 0, 0, 0)
		switch e {
		case 0:
			x.done, x.errno = int(r), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			x.done, x.errno = 0, e
			return true
		}
	}
}
