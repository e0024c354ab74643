package mmsg

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

// datagrams makes messages to dst of the given sizes, each filled with its
// index so that order and boundaries can be checked.
func datagrams(dst netip.AddrPort, sizes ...int) []Message {
	ms := make([]Message, len(sizes))
	for i, n := range sizes {
		ms[i] = Message{Buf: bytes.Repeat([]byte{byte(i + 1)}, n), Addr: dst}
	}
	return ms
}

// readDatagrams reads until want datagrams arrived, splitting coalesced
// reads, and returns them; it fails after a few seconds.
func readDatagrams(t *testing.T, c *Conn, want int, bufSize int) (got [][]byte, coalesced int) {
	t.Helper()
	in := readBufs(8, bufSize)
	var s Scratch
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want {
		if time.Now().After(deadline) {
			t.Fatalf("got %d datagrams, want %d", len(got), want)
		}
		n, err := c.ReadBatch(in, &s)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range in[:n] {
			if m.Flags != 0 {
				t.Fatalf("read flags %#x (truncated?)", m.Flags)
			}
			seg := m.Segment
			if seg == 0 {
				seg = m.N
			} else {
				coalesced++
			}
			for off := 0; off < m.N; off += seg {
				got = append(got, bytes.Clone(m.Buf[off:min(off+seg, m.N)]))
			}
		}
	}
	return got, coalesced
}

func checkSame(t *testing.T, got [][]byte, want []Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d datagrams, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i].Buf) {
			t.Errorf("datagram %d: %d bytes of %d, want %d bytes of %d", i, len(got[i]), got[i][0], len(want[i].Buf), want[i].Buf[0])
		}
	}
}

// TestGSOSendsEachDatagram checks that runs sent with segmentation offload
// arrive as the same datagrams, in order, at a socket without GRO: runs of
// equal sizes, a shorter one closing a run, a larger one starting the next,
// and more than maxGSOSegments in a row.
func TestGSOSendsEachDatagram(t *testing.T) {
	a, _ := listen(t)
	b, bAddr := listen(t)
	if !a.GSO() {
		t.Fatal("UDP GSO not available on this kernel (needs 4.18+): the datapath would fall back to one send per packet")
	}
	sizes := []int{1000, 1000, 1000, 400, 1200, 1200, 1}
	for range maxGSOSegments + 5 {
		sizes = append(sizes, 300)
	}
	out := datagrams(bAddr, sizes...)
	var s Scratch
	if n, err := a.WriteBatch(out, &s); n != len(out) || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	got, coalesced := readDatagrams(t, b, len(out), 2048)
	checkSame(t, got, out)
	if coalesced != 0 {
		t.Errorf("%d coalesced reads without GRO", coalesced)
	}
}

// TestGROCoalescesReads checks that with GRO on, a run of equal datagrams
// comes back in fewer reads with Segment set, and splits into the datagrams
// sent; with GSO off on the sender the datagrams still arrive.
func TestGROCoalescesReads(t *testing.T) {
	a, _ := listen(t)
	b, bAddr := listen(t)
	if err := b.EnableGRO(); err != nil {
		t.Fatal(err)
	}
	out := datagrams(bAddr, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 900, 1400)
	var s Scratch
	if n, err := a.WriteBatch(out, &s); n != len(out) || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	got, coalesced := readDatagrams(t, b, len(out), MaxGROSize)
	checkSame(t, got, out)
	if coalesced == 0 {
		t.Error("GRO on, GSO sends: no read was coalesced")
	}

	a.SetGSO(false)
	if a.GSO() {
		t.Fatal("SetGSO(false) left GSO on")
	}
	if n, err := a.WriteBatch(out, &s); n != len(out) || err != nil {
		t.Fatalf("WriteBatch without GSO = %d, %v", n, err)
	}
	got, _ = readDatagrams(t, b, len(out), MaxGROSize)
	checkSame(t, got, out)
	if !a.SetGSO(true) {
		t.Error("SetGSO(true) did not turn GSO back on")
	}
}

// TestEnableGRONeedsUDP checks that offloads are refused where they cannot work.
func TestEnableGRONeedsUDP(t *testing.T) {
	c := &Conn{}
	if err := c.EnableGRO(); err == nil {
		t.Fatal("EnableGRO on a non-UDP conn succeeded")
	}
	if c.SetGSO(true) {
		t.Fatal("SetGSO(true) on a non-UDP conn reported on")
	}
}

// TestGROAllocs checks that GSO writes and GRO reads allocate nothing.
func TestGROAllocs(t *testing.T) {
	a, _ := listen(t)
	b, bAddr := listen(t)
	if err := b.EnableGRO(); err != nil {
		t.Fatal(err)
	}
	out := datagrams(bAddr, 1400, 1400, 1400, 1400, 1400, 1400, 1400, 1400)
	in := readBufs(4, MaxGROSize)
	var sa, sb Scratch
	allocs := testing.AllocsPerRun(50, func() {
		if n, err := a.WriteBatch(out, &sa); n != len(out) || err != nil {
			t.Fatalf("WriteBatch = %d, %v", n, err)
		}
		for got := 0; got < len(out)*1400; {
			n, err := b.ReadBatch(in, &sb)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range in[:n] {
				got += m.N
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per GSO batch written and GRO read", allocs)
	}
}

// BenchmarkRoundTripGSO is BenchmarkRoundTrip with GSO sends and GRO reads.
func BenchmarkRoundTripGSO(b *testing.B) {
	benchRoundTrip(b, true)
}
