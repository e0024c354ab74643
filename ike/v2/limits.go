package v2

import (
	"net/netip"
	"time"

	"github.com/vpgw/vpgw/ike/message"
)

// Flood protection of IKE_SA_INIT. Every IKE_SA_INIT we accept costs a DH
// computation and a half-open IKE SA (keys, both IKE_SA_INIT messages) that
// waits up to halfOpenTimeout for IKE_AUTH. A request can come from anyone
// who can put the customer gateway's address in a packet, so:
//
//   - From cookieThreshold half-open SAs on the tunnel, or halfOpenPerSource
//     from one source address and port, IKE_SA_INIT needs a valid COOKIE
//     (cookie.go); without one it gets a COOKIE and leaves no state. A
//     spoofer never sees the cookie, so unverified state stays below those
//     numbers.
//   - A request with a valid cookie (the sender receives our packets) that
//     finds its source at halfOpenPerSource, or the tunnel at halfOpenMax,
//     replaces the oldest half-open SA that came without a cookie; if there
//     is none, it is dropped (Counters.HalfOpenLimit).
//   - Under pressure (cookieThreshold reached, or a COOKIE demanded within
//     pressureHold), half-open SAs that came without a cookie expire after
//     halfOpenTimeoutPressure instead of halfOpenTimeout.
//
// Source means address and port: a Responder only accepts its customer
// gateway's address, so a limit per address would be the tunnel's limit.
//
// The half-open SAs are tracked here, by pointer, beside Responder.sas:
// entries whose SA is established or gone are pruned before each decision,
// so nothing outside this file and handleSAInit needs to know.

const (
	cookieThreshold         = 32
	halfOpenPerSource       = 16
	halfOpenMax             = 256
	halfOpenTimeoutPressure = 10 * time.Second
	// pressureHold is how long pressure lasts after the last COOKIE we
	// demanded, once the half-open SAs are below cookieThreshold again.
	pressureHold = 10 * time.Second
	// floodLogEvery spaces the warnings about a flood.
	floodLogEvery = 10 * time.Second
)

// floodState is the Responder's flood protection, guarded by its mu.
type floodState struct {
	halfOpen   map[*ikeSA]halfOpenEntry
	cookies    cookieJar
	pressure   bool      // cookies are being demanded
	lastCookie time.Time // when one was last demanded
	lastLog    time.Time // of the last flood warning
	seq        uint64    // of the last tracked SA
}

type halfOpenEntry struct {
	seq      uint64 // order of creation: ties of created are common
	created  time.Time
	source   netip.AddrPort
	verified bool // the IKE_SA_INIT carried a valid cookie
}

// admitSAInit decides whether an IKE_SA_INIT request that is not a
// retransmit may create state. ok=false means it was answered with a
// COOKIE or dropped (and counted). verified says it carried a valid cookie.
func (r *Responder) admitSAInit(m *message.Message, local, remote netip.AddrPort) (verified, ok bool) {
	now := r.clock.Now()
	total, fromSource := r.pruneHalfOpen(now, remote)
	ni := requestNonce(m)
	cookie := requestCookie(m)
	if cookie != nil && ni != nil {
		verified = r.flood.cookies.valid(now, r.rand, cookie, ni, remote.Addr(), m.Header.SPIi)
	}
	if !verified && (total >= cookieThreshold || fromSource >= halfOpenPerSource) {
		if ni == nil {
			r.counters.Malformed++
			return false, false
		}
		if cookie != nil {
			// RFC 7296 §2.6: handled as if it had none, with a new cookie.
			r.counters.BadCookies++
		}
		if !r.flood.pressure {
			r.flood.pressure = true
			r.flood.lastLog = time.Time{}
		}
		r.flood.lastCookie = now
		r.sendCookie(m, ni, local, remote)
		r.logFlood(now, total, "IKE_SA_INIT flood: answering with COOKIEs")
		return false, false
	}
	if fromSource >= halfOpenPerSource {
		if !r.evictHalfOpen(&remote) {
			r.counters.HalfOpenLimit++
			r.logFlood(now, total, "IKE_SA_INIT dropped: too many half-open IKE SAs from this source")
			return false, false
		}
		total--
	}
	if total >= halfOpenMax && !r.evictHalfOpen(nil) {
		r.counters.HalfOpenLimit++
		r.logFlood(now, total, "IKE_SA_INIT dropped: too many half-open IKE SAs")
		return false, false
	}
	return verified, true
}

// trackHalfOpen records a half-open SA created by IKE_SA_INIT.
func (r *Responder) trackHalfOpen(sa *ikeSA, source netip.AddrPort, verified bool) {
	if r.flood.halfOpen == nil {
		r.flood.halfOpen = make(map[*ikeSA]halfOpenEntry)
	}
	r.flood.seq++
	r.flood.halfOpen[sa] = halfOpenEntry{seq: r.flood.seq, created: r.clock.Now(), source: source, verified: verified}
}

// pruneHalfOpen forgets tracked SAs that were established or removed,
// expires unverified ones early under pressure, and returns how many
// half-open SAs the tunnel and the given source have.
func (r *Responder) pruneHalfOpen(now time.Time, source netip.AddrPort) (total, fromSource int) {
	for sa := range r.flood.halfOpen {
		if r.sas[sa.ourSPI()] != sa || sa.state == saEstablished {
			delete(r.flood.halfOpen, sa)
		}
	}
	pressure := r.flood.pressure || len(r.flood.halfOpen) >= cookieThreshold
	for sa, e := range r.flood.halfOpen {
		if pressure && !e.verified && now.Sub(e.created) >= halfOpenTimeoutPressure {
			r.log.Debug("IKE_SA dropped: not established in time under pressure", "spi", sa.String())
			delete(r.flood.halfOpen, sa)
			r.removeSA(sa, "")
			continue
		}
		total++
		if e.source == source {
			fromSource++
		}
	}
	if r.flood.pressure && total < cookieThreshold && now.Sub(r.flood.lastCookie) >= pressureHold {
		r.flood.pressure = false
		c := r.counters
		r.log.Info("IKE_SA_INIT flood over: cookies no longer required", "half_open", total,
			"cookies_sent", c.CookiesSent, "bad_cookies", c.BadCookies,
			"half_open_limit", c.HalfOpenLimit, "half_open_evicted", c.HalfOpenEvicted)
	}
	return total, fromSource
}

// evictHalfOpen removes the oldest half-open SA that came without a cookie,
// from source if it is not nil. It reports whether one was removed.
func (r *Responder) evictHalfOpen(source *netip.AddrPort) bool {
	var oldest *ikeSA
	var first uint64
	for sa, e := range r.flood.halfOpen {
		if e.verified || (source != nil && e.source != *source) {
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
	r.log.Debug("half-open IKE_SA evicted for a verified initiator", "spi", oldest.String())
	delete(r.flood.halfOpen, oldest)
	r.removeSA(oldest, "")
	return true
}

// logFlood warns about a flood at most every floodLogEvery, with the
// counters so far.
func (r *Responder) logFlood(now time.Time, halfOpen int, msg string) {
	if !r.flood.lastLog.IsZero() && now.Sub(r.flood.lastLog) < floodLogEvery {
		return
	}
	r.flood.lastLog = now
	c := r.counters
	r.log.Warn(msg, "half_open", halfOpen, "cookies_sent", c.CookiesSent, "bad_cookies", c.BadCookies,
		"half_open_limit", c.HalfOpenLimit, "half_open_evicted", c.HalfOpenEvicted)
}
