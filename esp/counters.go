package esp

import (
	"errors"
	"sync/atomic"

	"github.com/vpgw/vpgw/suite"
)

// DropReason says why the datapath discarded a packet.
type DropReason uint8

const (
	DropAuthFailed    DropReason = iota // ICV mismatch
	DropReplay                          // duplicate or left of the replay window
	DropBadPadding                      // padding bytes not 1, 2, 3, ... or too long
	DropBadNextHeader                   // next header neither 4 nor 41, or not IP on the TUN
	DropPolicy                          // inner destination not allowed, or family not carried
	DropNoSA                            // unknown inbound SPI, or no outbound SA installed
	DropMalformed                       // too short, misaligned, truncated, bad inner length
	DropSeqOverflow                     // outbound sequence numbers exhausted
	DropSendFailed                      // the socket refused the packet
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	"auth_failed", "replay", "bad_padding", "bad_next_header", "policy",
	"no_sa", "malformed", "seq_overflow", "send_failed",
}

func (d DropReason) String() string {
	if d < NumDropReasons {
		return dropNames[d]
	}
	return "unknown"
}

// ReasonOf maps an error of Seal or Open to its drop reason.
func ReasonOf(err error) DropReason {
	switch {
	case errors.Is(err, ErrAuthFailed):
		return DropAuthFailed
	case errors.Is(err, ErrReplay):
		return DropReplay
	case errors.Is(err, ErrBadPadding):
		return DropBadPadding
	case errors.Is(err, ErrBadNextHeader):
		return DropBadNextHeader
	case errors.Is(err, ErrSeqOverflow):
		return DropSeqOverflow
	}
	return DropMalformed
}

// counters are updated on the hot path with atomics only.
type counters struct {
	packetsIn, bytesIn, packetsOut, bytesOut atomic.Uint64
	drops                                    [NumDropReasons]atomic.Uint64
}

func (c *counters) in(bytes int) {
	c.packetsIn.Add(1)
	c.bytesIn.Add(uint64(bytes))
}

// outN counts a batch of outbound packets, bytes in all.
func (c *counters) outN(packets, bytes int) {
	c.packetsOut.Add(uint64(packets))
	c.bytesOut.Add(uint64(bytes))
}

func (c *counters) drop(r DropReason, n int) { c.drops[r].Add(uint64(n)) }

func (c *counters) snapshot() Stats {
	s := Stats{
		PacketsIn: c.packetsIn.Load(), BytesIn: c.bytesIn.Load(),
		PacketsOut: c.packetsOut.Load(), BytesOut: c.bytesOut.Load(),
		Drops: make(map[string]uint64, NumDropReasons),
	}
	for r := DropReason(0); r < NumDropReasons; r++ {
		s.Drops[r.String()] = c.drops[r].Load()
	}
	return s
}

// Stats is a snapshot of counters. Bytes count inner IP packets (what the
// TUN sees), not ESP or outer headers. Drops has every reason as a key.
type Stats struct {
	PacketsIn, BytesIn, PacketsOut, BytesOut uint64
	Drops                                    map[string]uint64
}

// Drop returns the count for one reason.
func (s Stats) Drop(r DropReason) uint64 { return s.Drops[r.String()] }

// SAStats are the counters of one installed SA.
type SAStats struct {
	SPI     uint32
	Inbound bool
	ESP     suite.ESP
	Stats
}

// TunnelStats are a tunnel's totals plus each of its SAs.
type TunnelStats struct {
	Stats
	SAs []SAStats
}

// Stats returns the SA's own counters.
func (sa *SA) Stats() Stats { return sa.counters.snapshot() }
