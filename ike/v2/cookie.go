package v2

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"net/netip"
	"time"

	"github.com/vpgw/vpgw/ike/message"
)

// IKE_SA_INIT cookies (RFC 7296 §2.6). Under pressure (limits.go) the
// responder answers an IKE_SA_INIT without a valid COOKIE with
//
//	HDR(SPIi, 0), N(COOKIE)
//
// and keeps nothing. An initiator that really owns its source address gets
// the answer and retries with the cookie as first payload and the rest of
// the request unchanged; only then is any state created. A cookie is
//
//	<version of secret> | HMAC-SHA256(secret, Ni | IPi | SPIi)
//
// so it is checked by recomputing it: no state per request. The secret is
// replaced every cookieSecretLifetime; cookies made with the previous one
// stay valid until the next replacement.

const (
	cookieSecretLifetime = 2 * time.Minute
	cookieSecretLen      = 32
	cookieLen            = 1 + sha256.Size
)

// cookieJar holds the current and previous cookie secrets. It is created
// lazily, on the first cookie made or checked, and guarded by Responder.mu.
type cookieJar struct {
	cur, prev cookieSecret
	since     time.Time // when cur was made
}

type cookieSecret struct {
	version byte
	key     []byte // nil: none
}

// refresh replaces an expired secret: the current one becomes the previous
// one, unless it is so old that even its successor would have expired.
func (j *cookieJar) refresh(now time.Time, rand io.Reader) error {
	age := now.Sub(j.since)
	if j.cur.key != nil && age < cookieSecretLifetime {
		return nil
	}
	key := make([]byte, cookieSecretLen)
	if _, err := io.ReadFull(rand, key); err != nil {
		return err
	}
	j.prev = cookieSecret{}
	if j.cur.key != nil && age < 2*cookieSecretLifetime {
		j.prev = j.cur
	}
	j.cur = cookieSecret{version: j.cur.version + 1, key: key}
	j.since = now
	return nil
}

func (s cookieSecret) cookie(ni []byte, ipi netip.Addr, spii uint64) []byte {
	mac := hmac.New(sha256.New, s.key)
	mac.Write(ni)
	mac.Write(ipi.AsSlice())
	mac.Write(binary.BigEndian.AppendUint64(nil, spii))
	return mac.Sum([]byte{s.version})
}

// make returns the cookie for a request.
func (j *cookieJar) make(now time.Time, rand io.Reader, ni []byte, ipi netip.Addr, spii uint64) ([]byte, error) {
	if err := j.refresh(now, rand); err != nil {
		return nil, err
	}
	return j.cur.cookie(ni, ipi, spii), nil
}

// valid reports whether c is the cookie we would have made for the request
// with the current or the previous secret.
func (j *cookieJar) valid(now time.Time, rand io.Reader, c, ni []byte, ipi netip.Addr, spii uint64) bool {
	if len(c) != cookieLen || j.refresh(now, rand) != nil {
		return false
	}
	for _, s := range []cookieSecret{j.cur, j.prev} {
		if s.key != nil && c[0] == s.version {
			return hmac.Equal(c, s.cookie(ni, ipi, spii))
		}
	}
	return false
}

// requestCookie returns the data of the request's COOKIE notify, nil if it
// has none. RFC 7296 §2.6 puts it first; we accept it anywhere.
func requestCookie(m *message.Message) []byte {
	if n := m.FindNotify(message.COOKIE); n != nil {
		return n.Data
	}
	return nil
}

// requestNonce returns Ni, or nil if the request has no usable one.
func requestNonce(m *message.Message) []byte {
	n, ok := find[*message.Nonce](m.Payloads)
	if !ok || len(n.Data) < 16 || len(n.Data) > 256 {
		return nil
	}
	return n.Data
}

// sendCookie answers an IKE_SA_INIT request with a COOKIE and nothing else.
func (r *Responder) sendCookie(m *message.Message, ni []byte, local, remote netip.AddrPort) {
	c, err := r.flood.cookies.make(r.clock.Now(), r.rand, ni, remote.Addr(), m.Header.SPIi)
	if err != nil {
		r.log.Error("cannot make IKE cookie", "err", err)
		return
	}
	pkt, err := (&message.Message{
		Header: message.Header{
			SPIi: m.Header.SPIi, MajorVersion: 2, Exchange: message.IKE_SA_INIT,
			Flags: message.FlagResponse,
		},
		Payloads: []message.Payload{&message.Notify{NotifyType: message.COOKIE, Data: c}},
	}).Serialize()
	if err != nil {
		r.log.Error("cannot build COOKIE response", "err", err)
		return
	}
	r.counters.CookiesSent++
	r.out.Queue(pkt, local, remote)
}
