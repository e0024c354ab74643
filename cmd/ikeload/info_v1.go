package main

import (
	"bytes"
	"crypto/subtle"
	"errors"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
)

// IKEv1 informational exchanges (RFC 2409 §5.7) on an established ISAKMP
// SA: one-way, encrypted with the phase-1 keys under an IV of their own
// (from phase 1's last block and the message ID), HASH(1) = prf(SKEYID_a,
// M-ID | payloads) in front. They carry the DELETEs and DPD (RFC 3706).

// sendInfo sends an informational carrying ps.
func (sa *v1SA) sendInfo(ps ...isakmp.Payload) error {
	mid := randMsgID()
	first, chain, err := ike.V1HashedChain(ps, func(after []byte) []byte {
		return ike.V1InfoHash(sa.suite.Hash, sa.keys.SKEYIDa, mid, after)
	})
	if err != nil {
		return err
	}
	pkt, _ := sa.encrypt(sa.header(isakmp.ExchangeInformational, mid), first, chain,
		ike.V1PhaseIV(sa.suite.Hash, sa.lastBlock, mid, sa.cbc.BlockSize()))
	return sa.send(pkt)
}

// openInfo decrypts and verifies the responder's informational and returns
// the payloads after HASH(1).
func (sa *v1SA) openInfo(m *isakmp.Message) ([]isakmp.Payload, error) {
	h := m.Header
	if h.Exchange != isakmp.ExchangeInformational || h.MessageID == 0 {
		return nil, errors.New("not an informational")
	}
	plain, ps, _, err := sa.decrypt(m, ike.V1PhaseIV(sa.suite.Hash, sa.lastBlock, h.MessageID, sa.cbc.BlockSize()))
	if err != nil {
		return nil, err
	}
	hash, after, ok := ike.V1HashedPayloads(h.NextPayload, plain, ps)
	if !ok || subtle.ConstantTimeCompare(hash, ike.V1InfoHash(sa.suite.Hash, sa.keys.SKEYIDa, h.MessageID, after)) != 1 {
		return nil, errors.New("informational HASH does not verify")
	}
	return ps[1:], nil
}

// takeInfo acts on the responder's informational: an R-U-THERE gets its
// ACK, a DELETE marks what it deletes. It reports whether the ISAKMP SA is
// gone.
func (sa *v1SA) takeInfo(ps []isakmp.Payload) bool {
	for _, pl := range ps {
		switch pl := pl.(type) {
		case *isakmp.Notification:
			if seq, ok := pl.DPDSequence(); ok && pl.NotifyType == isakmp.R_U_THERE {
				_ = sa.sendInfo(isakmp.NewDPD(isakmp.R_U_THERE_ACK, sa.ckyI, sa.ckyR, seq))
			}
		case *isakmp.Delete:
			switch pl.ProtocolID {
			case isakmp.ProtoIPsecESP:
				// The responder names its inbound SPI, our outbound one.
				for _, spi := range pl.SPIs32() {
					sa.childGone = sa.childGone || spi == sa.outSPI
				}
			case isakmp.ProtoISAKMP:
				ours := isakmp.DeleteISAKMP(sa.ckyI, sa.ckyR).SPIs[0]
				for _, spi := range pl.SPIs {
					sa.gone = sa.gone || bytes.Equal(spi, ours)
				}
			}
		}
	}
	return sa.gone
}

// serve answers the responder while the SA is held, until quit is closed:
// its DPD R-U-THEREs (vpgw asks after 10 s idle and clears the tunnel when
// unanswered), a retransmitted QM2 (our QM3 was lost), and its DELETEs,
// which spare us ours. A DELETE of the ISAKMP SA ends serving.
func (sa *v1SA) serve(quit <-chan struct{}) {
	sa.listen(quit, func(b []byte) bool {
		m := sa.parse(b)
		switch {
		case m == nil:
			return false
		case m.Header.Exchange == isakmp.ExchangeQuickMode && bytes.Equal(b, sa.qm2):
			_ = sa.send(sa.qm3)
			return false
		}
		ps, err := sa.openInfo(m)
		return err == nil && sa.takeInfo(ps)
	})
}

func (sa *v1SA) deletedByPeer() bool { return sa.gone }

// remove deletes the IPsec SA (unless the responder did) and then the
// ISAKMP SA, each in its own informational as strongSwan does. Nothing
// answers an IKEv1 DELETE: sent is done.
func (sa *v1SA) remove() error {
	if !sa.childGone {
		if err := sa.sendInfo(isakmp.DeleteESP(sa.inSPI)); err != nil {
			return err
		}
	}
	return sa.sendInfo(isakmp.DeleteISAKMP(sa.ckyI, sa.ckyR))
}
