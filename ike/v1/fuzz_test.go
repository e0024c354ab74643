package v1

import (
	"encoding/binary"
	"io"
	"log/slog"
	"testing"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// FuzzHandlePacket feeds arbitrary bytes to a responder that already has an
// established ISAKMP SA and IPsec SA, as a fresh message on 500 and with that
// SA's cookies patched in on 4500. It must never panic. The seed corpus is
// strongSwan's Main Mode, Quick Mode and informational messages from the lab
// capture.
func FuzzHandlePacket(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newHarnessLog(t, nil, quiet)
		in, offer := awsDefault()
		h.mainMode(in)
		h.quickMode(in, offer)
		h.r.HandlePacket(data, vgw500, cgw500)
		if len(data) >= 16 {
			patched := append([]byte(nil), data...)
			binary.BigEndian.PutUint64(patched, in.ckyI)
			binary.BigEndian.PutUint64(patched[8:], in.ckyR)
			h.r.HandlePacket(patched, vgw4500, cgw4500)
		}
		h.takeEvents()
	})
}

// FuzzAuthenticatedPayloads seals arbitrary payload chains into correctly
// hashed and encrypted Quick Mode or informational messages, so the
// handlers see garbage past the integrity check. data[0] picks the exchange
// (even: Quick Mode, odd: informational), data[1] the first payload type.
// Seeds are in testdata/fuzz/FuzzAuthenticatedPayloads.
func FuzzAuthenticatedPayloads(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		h := newHarnessLog(t, nil, quiet)
		in, offer := awsDefault()
		h.mainMode(in)
		h.quickMode(in, offer)
		ex := isakmp.ExchangeQuickMode
		if data[0]&1 == 1 {
			ex = isakmp.ExchangeInformational
		}
		after := data[2:]
		mid := in.newMsgID()
		var hash []byte
		if ex == isakmp.ExchangeQuickMode {
			hash = ike.V1QuickHash1(in.suite.Hash, in.keys.SKEYIDa, mid, after)
		} else {
			hash = ike.V1InfoHash(in.suite.Hash, in.keys.SKEYIDa, mid, after)
		}
		chain := append([]byte{data[1], 0, 0, byte(4 + len(hash))}, hash...)
		chain = append(chain, after...)
		pkt, _ := in.encrypt(in.header(ex, mid), isakmp.PayloadHash, chain, ike.V1PhaseIV(in.suite.Hash, in.lastBlock, mid, 16))
		h.r.HandlePacket(pkt, vgw4500, cgw4500)
		h.takeEvents()
	})
}
