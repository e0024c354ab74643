package mmsg

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listen opens a UDP socket on an ephemeral loopback port (no root needed).
func listen(t *testing.T) (*Conn, netip.AddrPort) {
	t.Helper()
	u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConn(u)
	if err != nil {
		u.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, u.LocalAddr().(*net.UDPAddr).AddrPort()
}

func readBufs(n, size int) []Message {
	ms := make([]Message, n)
	for i := range ms {
		ms[i].Buf = make([]byte, size)
	}
	return ms
}

func TestRoundTrip(t *testing.T) {
	a, aAddr := listen(t)
	b, bAddr := listen(t)
	var sa, sb Scratch
	out := []Message{
		{Buf: []byte("one"), Addr: bAddr},
		{Buf: bytes.Repeat([]byte{2}, 1400), Addr: netip.AddrPortFrom(netip.AddrFrom16(bAddr.Addr().As16()), bAddr.Port())}, // v4-mapped
		{Buf: []byte{}, Addr: bAddr},
		{Buf: bytes.Repeat([]byte{4}, 100), Addr: bAddr},
	}
	if n, err := a.WriteBatch(out, &sa); n != len(out) || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	in := readBufs(8, 64)
	got := 0
	for got < len(out) {
		n, err := b.ReadBatch(in[got:], &sb)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	for i, m := range in[:got] {
		want := out[i].Buf
		if m.Addr != aAddr {
			t.Errorf("message %d from %v, want %v", i, m.Addr, aAddr)
		}
		trunc := len(want) > 64
		if (m.Flags&unix.MSG_TRUNC != 0) != trunc {
			t.Errorf("message %d flags %#x, truncated %v", i, m.Flags, trunc)
		}
		if !trunc && !bytes.Equal(m.Buf[:m.N], want) {
			t.Errorf("message %d = %q, want %q", i, m.Buf[:m.N], want)
		}
	}
}

// TestNotIPv4 checks that the messages before an unusable destination are
// sent and the error is about that one.
func TestNotIPv4(t *testing.T) {
	a, _ := listen(t)
	b, bAddr := listen(t)
	out := []Message{
		{Buf: []byte("sent"), Addr: bAddr},
		{Buf: []byte("v6"), Addr: netip.MustParseAddrPort("[2001:db8::1]:4500")},
		{Buf: []byte("after"), Addr: bAddr},
	}
	if n, err := a.WriteBatch(out, new(Scratch)); n != 1 || !errors.Is(err, errNotIPv4) {
		t.Fatalf("WriteBatch = %d, %v; want 1, %v", n, err, errNotIPv4)
	}
	if n, err := a.WriteBatch(out[2:], new(Scratch)); n != 1 || err != nil {
		t.Fatalf("WriteBatch after = %d, %v", n, err)
	}
	in := readBufs(2, 64)
	var s Scratch
	for _, want := range []string{"sent", "after"} {
		if n, err := b.ReadBatch(in[:1], &s); n != 1 || err != nil || string(in[0].Buf[:in[0].N]) != want {
			t.Fatalf("ReadBatch = %d, %v, %q; want %q", n, err, in[0].Buf[:in[0].N], want)
		}
	}
}

// TestCloseUnblocks checks that a ReadBatch parked in the netpoller (EAGAIN)
// returns net.ErrClosed when the Conn is closed.
func TestCloseUnblocks(t *testing.T) {
	c, _ := listen(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.ReadBatch(readBufs(4, 64), new(Scratch))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("ReadBatch after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadBatch still blocked after Close")
	}
}

func TestNewConnRejectsNonIPv4(t *testing.T) {
	u, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "@vpgw-mmsg-test", Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := NewConn(u); err == nil {
		t.Fatal("NewConn accepted an AF_UNIX socket")
	}
}

// TestAllocs checks that a batch written and read back allocates nothing
// once the Scratches have grown.
func TestAllocs(t *testing.T) {
	a, _ := listen(t)
	b, bAddr := listen(t)
	var sa, sb Scratch
	out := make([]Message, 16)
	for i := range out {
		out[i] = Message{Buf: bytes.Repeat([]byte{byte(i)}, 1000), Addr: bAddr}
	}
	in := readBufs(16, 2048)
	allocs := testing.AllocsPerRun(100, func() {
		if n, err := a.WriteBatch(out, &sa); n != len(out) || err != nil {
			t.Fatalf("WriteBatch = %d, %v", n, err)
		}
		for got := 0; got < len(out); {
			n, err := b.ReadBatch(in, &sb)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch of %d written and read", allocs, len(out))
	}
}

// BenchmarkRoundTrip writes and reads back batches of 64 1400-byte datagrams
// over loopback, one datagram per send and per read; one op is one datagram.
func BenchmarkRoundTrip(b *testing.B) {
	benchRoundTrip(b, false)
}

func benchRoundTrip(b *testing.B, offload bool) {
	ua, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	ub, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	ca, _ := NewConn(ua)
	cb, _ := NewConn(ub)
	defer ca.Close()
	defer cb.Close()
	size := 2048
	ca.SetGSO(offload)
	if offload {
		if err := cb.EnableGRO(); err != nil {
			b.Fatal(err)
		}
		size = MaxGROSize
	}
	var sa, sb Scratch
	const batch = 64
	out := make([]Message, batch)
	for i := range out {
		out[i] = Message{Buf: make([]byte, 1400), Addr: ub.LocalAddr().(*net.UDPAddr).AddrPort()}
	}
	in := readBufs(batch, size)
	b.SetBytes(1400)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		if _, err := ca.WriteBatch(out, &sa); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < batch*1400; {
			n, err := cb.ReadBatch(in, &sb)
			if err != nil {
				b.Fatal(err)
			}
			for _, m := range in[:n] {
				got += m.N
			}
		}
	}
}
