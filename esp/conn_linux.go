package esp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vpgw/vpgw/esp/mmsg"
)

// socketBufferSize is asked of the kernel for each socket; with
// SO_RCVBUFFORCE root may exceed net.core.rmem_max, which cannot be raised
// inside a netns (LAB.md).
const socketBufferSize = 4 << 20

// Listen opens UDP 500, UDP 4500 and a raw IPPROTO_ESP socket on local and
// starts their read loops. onIKE gets IKE messages from both UDP ports.
func Listen(local netip.Addr, onIKE IKEHandler, log *slog.Logger) (*Endpoint, error) {
	if !local.Is4() {
		return nil, fmt.Errorf("esp: local address %v is not IPv4", local)
	}
	var closers []interface{ Close() error }
	fail := func(err error) (*Endpoint, error) {
		for _, c := range closers {
			c.Close()
		}
		return nil, err
	}
	ike, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, PortIKE)))
	if err != nil {
		return fail(fmt.Errorf("esp: listen IKE: %w", err))
	}
	closers = append(closers, ike)
	natt, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, PortNATT)))
	if err != nil {
		return fail(fmt.Errorf("esp: listen NAT-T: %w", err))
	}
	closers = append(closers, natt)
	// A raw socket of protocol 50 bound to local: the kernel has no ESP of
	// its own, delivers each ESP packet here with its IPv4 header, and adds
	// one on send.
	raw, err := net.ListenIP("ip4:50", &net.IPAddr{IP: local.AsSlice()})
	if err != nil {
		return fail(fmt.Errorf("esp: open raw ESP socket: %w", err))
	}
	closers = append(closers, raw)
	for _, c := range []syscall.Conn{ike, natt, raw} {
		if err := setBuffers(c); err != nil {
			log.Debug("cannot enlarge socket buffers", "err", err)
		}
	}
	var conns [3]*mmsg.Conn
	for i, c := range []interface {
		syscall.Conn
		Close() error
	}{ike, natt, raw} {
		if conns[i], err = mmsg.NewConn(c); err != nil {
			return fail(fmt.Errorf("esp: %w", err))
		}
	}
	return NewEndpoint(local, Conns{IKE: conns[0], NATT: conns[1], ESP: conns[2]}, onIKE, log), nil
}

func setBuffers(c syscall.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var errs []error
	err = rc.Control(func(fd uintptr) {
		for _, opt := range []int{unix.SO_RCVBUFFORCE, unix.SO_SNDBUFFORCE} {
			errs = append(errs, unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, socketBufferSize))
		}
	})
	return errors.Join(append(errs, err)...)
}
