package v2

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// FuzzHandlePacket feeds arbitrary bytes to a responder that already has
// an established IKE SA, as a fresh message and with that SA's SPIs
// patched in, on both ports. It must never panic.
func FuzzHandlePacket(f *testing.F) {
	if b, err := os.ReadFile("testdata/strongswan-ike-sa-init.bin"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newHarnessLog(t, nil, quiet)
		in := newInitiator([]message.Proposal{ikeProposal(1, gcm128, suite.IntegNone, suite.PRFHMACSHA256, x25519)}, x25519)
		h.establish(in, defaultOffer(0xc0000001, defaultESP))
		h.r.HandlePacket(data, vgw500, cgw500)
		if len(data) >= 16 {
			patched := append([]byte(nil), data...)
			copy(patched, u64(in.spii))
			copy(patched[8:], u64(in.spir))
			h.r.HandlePacket(patched, vgw4500, cgw4500)
		}
		h.takeEvents()
	})
}

// FuzzEncryptedRequest seals arbitrary inner payloads into a valid request
// on an established SA, so the exchange handlers see garbage past the
// integrity check. data[0] picks the exchange, data[1] the first payload.
func FuzzEncryptedRequest(f *testing.F) {
	f.Add([]byte{37, 0})
	f.Add([]byte{36, 33, 0, 0, 0, 8, 0, 0, 0, 0})
	f.Add([]byte{37, 42, 0, 0, 0, 8, 3, 4, 0, 1, 0xc0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		h := newHarnessLog(t, nil, quiet)
		in := newInitiator([]message.Proposal{ikeProposal(1, gcm128, suite.IntegNone, suite.PRFHMACSHA256, x25519)}, x25519)
		h.establish(in, defaultOffer(0xc0000001, defaultESP))
		pkt := in.RequestRaw(message.ExchangeType(data[0]), message.PayloadType(data[1]), data[2:])
		h.r.HandlePacket(pkt, vgw4500, cgw4500)
		h.takeEvents()
	})
}

func u64(v uint64) []byte {
	return []byte{byte(v >> 56), byte(v >> 48), byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}
