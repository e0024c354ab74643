package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// link is one SA's UDP socket, shared by both IKE versions: its own source
// port, the responder's port 500 or, after NAT detection, 4500 with the
// non-ESP marker (RFC 3948 §2.2).
type link struct {
	conn   *net.UDPConn
	remote netip.AddrPort
	natt   bool
}

// dial opens an SA's socket on a fresh port of the pair's local address
// and returns it with that address as the responder should see it.
func dial(p *params) (link, netip.AddrPort, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.local, 0)))
	if err != nil {
		return link{}, netip.AddrPort{}, err
	}
	ap := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return link{conn: conn, remote: netip.AddrPortFrom(p.target, p.port)}, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// floatNATT moves the link to the responder's port 4500.
func (l *link) floatNATT() {
	l.natt = true
	l.remote = netip.AddrPortFrom(l.remote.Addr(), 4500)
}

func (l *link) close() {
	if l.conn != nil {
		_ = l.conn.Close()
	}
}

// send writes pkt, with the non-ESP marker on port 4500.
func (l *link) send(pkt []byte) error {
	if l.natt {
		pkt = append([]byte{0, 0, 0, 0}, pkt...)
	}
	_, err := l.conn.WriteToUDPAddrPort(pkt, l.remote)
	return err
}

// read reads one datagram and returns the IKE message in it (a copy), or
// nil for anything else (ESP, NAT keepalive).
func (l *link) read(buf []byte) ([]byte, error) {
	n, from, err := l.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil, err
	}
	b := buf[:n]
	if from.Port() == 4500 || l.natt {
		if len(b) < 4 || !bytes.Equal(b[:4], []byte{0, 0, 0, 0}) {
			return nil, nil
		}
		b = b[4:]
	}
	return bytes.Clone(b), nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// exchange sends pkt and waits for a message take accepts, retransmitting
// pkt on the timeouts (one per try).
func (l *link) exchange(timeouts []time.Duration, pkt []byte, take func(b []byte) bool) error {
	buf := make([]byte, 65536)
	for _, wait := range timeouts {
		if err := l.send(pkt); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		_ = l.conn.SetReadDeadline(time.Now().Add(wait))
		for {
			b, err := l.read(buf)
			if isTimeout(err) {
				break
			}
			if err != nil {
				return fmt.Errorf("receive: %w", err)
			}
			if b != nil && take(b) {
				return nil
			}
		}
	}
	return fmt.Errorf("no response after %d tries", len(timeouts))
}

// listen hands every IKE message to handle until quit is closed, the
// socket fails or handle reports it is done (while an SA is held).
func (l *link) listen(quit <-chan struct{}, handle func(b []byte) (done bool)) {
	buf := make([]byte, 65536)
	for {
		select {
		case <-quit:
			return
		default:
		}
		_ = l.conn.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		b, err := l.read(buf)
		if isTimeout(err) {
			continue
		}
		if err != nil {
			return
		}
		if b != nil && handle(b) {
			return
		}
	}
}
