package esp

// replayWindow is the RFC 4303 §3.4.3 anti-replay window for 32-bit sequence
// numbers, kept as a ring of 64-bit words as in RFC 6479 so that sliding the
// window clears whole words instead of shifting a bitmap. The ring holds more
// bits than the window; the window size alone decides what is too old.
type replayWindow struct {
	last   uint32 // highest sequence number accepted; 0 before the first
	window uint32
	ring   [replayRingWords]uint64
}

const (
	replayWordBits  = 64
	replayRingWords = 64 // 4096 bits: > MaxReplayWindow + one word, a power of two
	replayRingMask  = replayRingWords - 1
)

func (r *replayWindow) reset(window uint32) {
	*r = replayWindow{window: window}
}

// check reports whether seq may be accepted: it is new and not left of the
// window. It does not change the window.
func (r *replayWindow) check(seq uint32) bool {
	if seq == 0 {
		return false // the first packet carries 1 (RFC 4303 §3.3.3)
	}
	if seq > r.last {
		return true
	}
	if r.last-seq >= r.window {
		return false
	}
	word := (seq / replayWordBits) & replayRingMask
	return r.ring[word]&(1<<(seq%replayWordBits)) == 0
}

// update records seq, which check accepted and whose ICV was verified.
func (r *replayWindow) update(seq uint32) {
	if seq > r.last {
		cur := r.last / replayWordBits
		next := seq / replayWordBits
		diff := next - cur
		if diff > replayRingWords {
			diff = replayRingWords
		}
		for i := uint32(1); i <= diff; i++ {
			r.ring[(cur+i)&replayRingMask] = 0
		}
		r.last = seq
	}
	r.ring[(seq/replayWordBits)&replayRingMask] |= 1 << (seq % replayWordBits)
}
