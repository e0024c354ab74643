package mmsg

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
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
	c  io.Closer
	rc syscall.RawConn
}

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
	return &Conn{c: c, rc: rc}, nil
}

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
	for i := range ms {
		x.pack(i, ms[i].Buf)
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
	}
	return x.done, nil
}

// WriteBatch sends ms in order, each ms[i].Buf to ms[i].Addr, and returns
// how many were sent. On error, n < len(ms) and the error is about ms[n];
// the caller may go on from ms[n+1].
func (c *Conn) WriteBatch(ms []Message, s *Scratch) (int, error) {
	x := &s.sys
	x.grow(len(ms))
	n, bad := len(ms), error(nil)
	for i := range ms {
		a := ms[i].Addr.Addr().Unmap()
		if !a.Is4() {
			// Send what precedes it, then report it.
			n, bad = i, errNotIPv4
			break
		}
		x.pack(i, ms[i].Buf)
		x.setAddr(i, a.As4(), ms[i].Addr.Port())
	}
	sent := 0
	for sent < n {
		x.first, x.n = sent, n
		if err := c.rc.Write(x.send); err != nil {
			return sent, err
		}
		if x.errno != 0 {
			return sent, os.NewSyscallError("sendmmsg", x.errno)
		}
		if x.done <= 0 {
			return sent, io.ErrShortWrite // vlen > 0: cannot happen
		}
		sent += x.done
	}
	return sent, bad
}

// sysScratch is Scratch on Linux: hdrs[i] points at iovs[i] and names[i].
type sysScratch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4

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
	for i := range x.hdrs {
		h := &x.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&x.names[i]))
		h.Iov = &x.iovs[i]
		h.SetIovlen(1)
	}
}

// pack points message i at b and resets what the kernel writes back.
func (x *sysScratch) pack(i int, b []byte) {
	x.iovs[i].Base = unsafe.SliceData(b)
	x.iovs[i].SetLen(len(b))
	h := &x.hdrs[i]
	h.Hdr.Namelen = unix.SizeofSockaddrInet4
	h.Hdr.Flags = 0
	h.Len = 0
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
