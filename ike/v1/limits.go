package v1

import (
	"log/slog"
	"net/netip"
	"time"
)

// Flood protection of Main Mode. IKEv1 has no stateless cookie round trip
// like IKEv2's COOKIE: the responder cookie we pick in MM2 must be kept
// together with SAi_b, which HASH_I and HASH_R sign. So every MM1 costs a
// half-open ISAKMP SA, but a small one (no DH before MM3), and it is
// bounded:
//
//   - An SA still waiting for MM3, or kept only to answer retransmits of a
//     refused exchange (p1Failed), is unproven: its initiator has not shown
//     that it receives our packets (MM3 echoes our responder cookie).
//   - A new Main Mode (or a refused Aggressive Mode) whose source address
//     and port already has halfOpenPerSource half-open SAs, or that finds
//     halfOpenMax on the tunnel, replaces the oldest unproven one there;
//     when all of them have advanced, it is dropped (Counters.HalfOpenLimit).
//     A real initiator answers MM2 within a round trip, so it survives a
//     spoofed flood that would otherwise keep every slot taken, as long as
//     fewer than about halfOpenMax spoofed MM1s arrive in that round trip.
//   - Under pressure (pressureThreshold half-open SAs), unproven SAs expire
//     after halfOpenTimeoutPressure instead of halfOpenTimeout, and refused
//     exchanges are logged at debug level without a NegotiationFailed event.
//
// Source means address and port: a Responder only accepts its customer
// gateway's address, so a limit per address would be the tunnel's limit.

const (
	pressureThreshold       = 32
	halfOpenPerSource       = 16
	halfOpenMax             = 256 // an unproven SA holds about 1 KiB: MM1, MM2, no keys
	halfOpenTimeoutPressure = 10 * time.Second
	// floodLogEvery spaces the warnings about a flood.
	floodLogEvery = 10 * time.Second
)

// floodState is the Responder's flood protection, guarded by its mu.
type floodState struct {
	halfOpen map[*isakmpSA]halfOpenEntry // Main Modes we answered, until established or gone
	pressure bool
	lastLog  time.Time
	seq      uint64 // of the last tracked SA
}

type halfOpenEntry struct {
	seq     uint64 // order of creation: ties of created are common
	created time.Time
	source  netip.AddrPort
}

func unproven(sa *isakmpSA) bool { return sa.state == p1WaitKE || sa.state == p1Failed }

// admitMainMode decides whether a first message (MM1, or an Aggressive
// Mode to refuse) from remote may create a half-open SA, making room if it
// can. false means drop; it is counted.
func (r *Responder) admitMainMode(remote netip.AddrPort) bool {
	now := r.clock.Now()
	total, fromSource := r.pruneHalfOpen(now, remote)
	if fromSource >= halfOpenPerSource {
		if !r.evictHalfOpen(&remote) {
			r.counters.HalfOpenLimit++
			r.logFlood(now, total, "Main Mode dropped: too many half-open ISAKMP SAs from this source")
			return false
		}
		total--
	}
	if total >= halfOpenMax && !r.evictHalfOpen(nil) {
		r.counters.HalfOpenLimit++
		r.logFlood(now, total, "Main Mode dropped: too many half-open ISAKMP SAs")
		return false
	}
	if total+1 >= pressureThreshold && !r.flood.pressure {
		r.flood.pressure = true
		r.flood.lastLog = time.Time{}
	}
	if r.flood.pressure {
		r.logFlood(now, total+1, "Main Mode flood: limiting half-open ISAKMP SAs")
	}
	return true
}

// trackHalfOpen records a half-open SA created by a first message.
func (r *Responder) trackHalfOpen(sa *isakmpSA, source netip.AddrPort) {
	if sa == nil {
		return
	}
	if r.flood.halfOpen == nil {
		r.flood.halfOpen = make(map[*isakmpSA]halfOpenEntry)
	}
	r.flood.seq++
	r.flood.halfOpen[sa] = halfOpenEntry{seq: r.flood.seq, created: r.clock.Now(), source: source}
}

// pruneHalfOpen forgets tracked SAs that were established or removed,
// expires unproven ones early under pressure, and returns how many
// half-open SAs the tunnel and the given source have.
func (r *Responder) pruneHalfOpen(now time.Time, source netip.AddrPort) (total, fromSource int) {
	for sa := range r.flood.halfOpen {
		if r.sas[sa.cookies()] != sa || sa.state == p1Established {
			delete(r.flood.halfOpen, sa)
		}
	}
	pressure := len(r.flood.halfOpen) >= pressureThreshold
	for sa, e := range r.flood.halfOpen {
		if pressure && unproven(sa) && now.Sub(e.created) >= halfOpenTimeoutPressure {
			r.log.Debug("ISAKMP SA dropped: Main Mode not completed in time under pressure", "sa", sa.String())
			delete(r.flood.halfOpen, sa)
			r.removeSA(sa, "")
			continue
		}
		total++
		if e.source == source {
			fromSource++
		}
	}
	if r.flood.pressure && total < pressureThreshold/2 {
		r.flood.pressure = false
		c := r.counters
		r.log.Info("Main Mode flood over", "half_open", total,
			"half_open_limit", c.HalfOpenLimit, "half_open_evicted", c.HalfOpenEvicted)
	}
	return total, fromSource
}

// evictHalfOpen removes the oldest unproven half-open SA, from source if it
// is not nil. It reports whether one was removed.
func (r *Responder) evictHalfOpen(source *netip.AddrPort) bool {
	var oldest *isakmpSA
	var first uint64
	for sa, e := range r.flood.halfOpen {
		if !unproven(sa) || (source != nil && e.source != *source) {
			continue
		}
		if oldest == nil || e.seq < first {
			oldest, first = sa, e.seq
		}
	}
	if oldest == nil {
		return false
	}
	r.counters.HalfOpenEvicted++
	r.log.Debug("half-open ISAKMP SA evicted for a new Main Mode", "sa", oldest.String())
	delete(r.flood.halfOpen, oldest)
	r.removeSA(oldest, "")
	return true
}

// floodLevel is the level of per-attempt log lines: debug under pressure,
// so a flood cannot flood the log.
func (r *Responder) floodLevel(normal slog.Level) slog.Level {
	if r.flood.pressure {
		return slog.LevelDebug
	}
	return normal
}

// logFlood warns about a flood at most every floodLogEvery, with the
// counters so far.
func (r *Responder) logFlood(now time.Time, halfOpen int, msg string) {
	if !r.flood.lastLog.IsZero() && now.Sub(r.flood.lastLog) < floodLogEvery {
		return
	}
	r.flood.lastLog = now
	c := r.counters
	r.log.Warn(msg, "half_open", halfOpen, "half_open_limit", c.HalfOpenLimit, "half_open_evicted", c.HalfOpenEvicted)
}
