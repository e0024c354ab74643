package v2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

// IKE_SA_INIT (RFC 7296 §1.2): choose the IKE proposal, do the DH half,
// exchange nonces, detect NAT and derive the IKE SA's keys. Refusals
// (NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD) keep no state, and neither do
// requests answered with a COOKIE under a flood (limits.go, cookie.go).

const nonceLen = 32

// saInitState is one IKE_SA_INIT exchange; it is discarded once the
// response is built and the half-open IKE SA exists.
type saInitState struct {
	r             *Responder
	req           *message.Message
	local, remote netip.AddrPort

	proposal message.Proposal
	suite    ike.IKESuite
	ke       *message.KE
	ni, nr   []byte
	dh       ike.DH
	gir      []byte
	natd     natdResult
	spir     uint64
}

func (r *Responder) handleSAInit(m *message.Message, local, remote netip.AddrPort) {
	h := m.Header
	if !h.IsInitiator() || h.SPIi == 0 || h.SPIr != 0 || h.MessageID != 0 {
		r.counters.Malformed++
		return
	}
	if old := r.byInit[h.SPIi]; old != nil {
		if bytes.Equal(old.initReq, m.Raw) {
			r.counters.Retransmits++
			r.log.Debug("IKE_SA_INIT retransmit answered from cache", "spi", old.String())
			r.out.Queue(old.initResp, local, remote)
			return
		}
		if old.state != saEstablished {
			// A fresh attempt with the same SPI replaces the one still half open.
			r.removeSA(old, "")
		}
	}
	verified, ok := r.admitSAInit(m, local, remote)
	if !ok {
		return
	}
	s := &saInitState{r: r, req: m, local: local, remote: remote}
	reply, sa, err := s.process()
	if err != nil {
		r.counters.Malformed++
		r.log.Warn("IKE_SA_INIT dropped", "from", remote, "err", err)
		return
	}
	resp := message.Message{
		Header: message.Header{
			SPIi: h.SPIi, MajorVersion: 2, Exchange: message.IKE_SA_INIT,
			Flags: message.FlagResponse,
		},
		Payloads: reply,
	}
	if sa != nil {
		resp.Header.SPIr = sa.spir
	}
	pkt, err := resp.Serialize()
	if err != nil {
		r.log.Error("cannot build IKE_SA_INIT response", "err", err)
		return
	}
	if sa != nil {
		sa.initResp = pkt
		r.sas[sa.spir] = sa
		r.byInit[sa.spii] = sa
		r.startHalfOpenTimer(sa)
		r.trackHalfOpen(sa, remote, verified)
	}
	r.out.Queue(pkt, local, remote)
}

// process runs the steps. It returns the reply payloads and, when the
// exchange succeeded, the new half-open IKE SA. An error means drop.
func (s *saInitState) process() ([]message.Payload, *ikeSA, error) {
	if reply := s.pickProposal(); reply != nil {
		return reply, nil, nil
	}
	if reply := s.checkKE(); reply != nil {
		return reply, nil, nil
	}
	if err := s.readNonce(); err != nil {
		return nil, nil, err
	}
	if err := s.computeDH(); err != nil {
		return nil, nil, err
	}
	s.natd = checkNATD(message.Notifies(s.req.Payloads), s.req.Header.SPIi, s.local, s.remote)
	if s.natd.present {
		s.natd.force(s.r.cfg.ForceUDPEncap)
	}
	sa, err := s.createSA()
	if err != nil {
		return nil, nil, err
	}
	return s.buildResponse(), sa, nil
}

func (s *saInitState) pickProposal() []message.Payload {
	r := s.r
	sap, ok := find[*message.SA](s.req.Payloads)
	if !ok {
		r.log.Warn("IKE_SA_INIT without SA payload", "from", s.remote)
		return errorNotify(message.INVALID_SYNTAX, nil)
	}
	// Prefer the group of the peer's KE payload when that proposal allows
	// it: saves the INVALID_KE_PAYLOAD round trip.
	var keGroup suite.DHGroup
	if ke, ok := find[*message.KE](s.req.Payloads); ok {
		keGroup = suite.DHGroup(ke.Group)
	}
	prop, st, err := ike.SelectIKEForKE(sap.Proposals, r.cfg.IKE, keGroup)
	if err != nil {
		reason := "IKE_SA_INIT: " + err.Error()
		r.log.Warn(reason, "from", s.remote)
		r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: reason})
		return errorNotify(message.NO_PROPOSAL_CHOSEN, nil)
	}
	s.proposal, s.suite = prop, st
	return nil
}

// checkKE answers INVALID_KE_PAYLOAD when the initiator guessed another
// group than the one we chose (RFC 7296 §1.2); it retries with ours.
func (s *saInitState) checkKE() []message.Payload {
	ke, ok := find[*message.KE](s.req.Payloads)
	if ok && suite.DHGroup(ke.Group) == s.suite.DH {
		s.ke = ke
		return nil
	}
	got := "none"
	if ok {
		got = groupName(suite.DHGroup(ke.Group))
	}
	s.r.log.Info("IKE_SA_INIT: asking peer for another DH group", "from", s.remote,
		"offered_ke", got, "want", groupName(s.suite.DH))
	return errorNotify(message.INVALID_KE_PAYLOAD, binary.BigEndian.AppendUint16(nil, uint16(s.suite.DH)))
}

func (s *saInitState) readNonce() error {
	n, ok := find[*message.Nonce](s.req.Payloads)
	if !ok {
		return fmt.Errorf("no Nonce payload")
	}
	// RFC 7296 §2.10: 16 to 256 octets.
	if len(n.Data) < 16 || len(n.Data) > 256 {
		return fmt.Errorf("nonce of %d bytes", len(n.Data))
	}
	s.ni = bytes.Clone(n.Data)
	s.nr = make([]byte, nonceLen)
	_, err := io.ReadFull(s.r.rand, s.nr)
	return err
}

func (s *saInitState) computeDH() error {
	dh, err := ike.NewDH(s.suite.DH, s.r.rand)
	if err != nil {
		return err
	}
	gir, err := dh.SharedSecret(s.ke.Data)
	if err != nil {
		return fmt.Errorf("peer's KE: %w", err)
	}
	s.dh, s.gir = dh, gir
	return nil
}

func (s *saInitState) createSA() (*ikeSA, error) {
	r := s.r
	spir, err := r.randUint64(func(v uint64) bool { return r.sas[v] != nil })
	if err != nil {
		return nil, err
	}
	s.spir = spir
	spii := s.req.Header.SPIi
	keys, err := ike.DeriveIKEKeys(s.suite, s.ni, s.nr, s.gir, spii, spir)
	if err != nil {
		return nil, err
	}
	sa := &ikeSA{
		spii: spii, spir: spir, state: saHalfOpen, suite: s.suite, keys: keys,
		local: s.local, remote: s.remote, natt: s.natd.detection,
		initReq: s.req.Raw, ni: s.ni, nr: s.nr,
		nextRecvID: 1, children: map[uint32]*childSA{},
	}
	if err := sa.newProtectors(); err != nil {
		return nil, err
	}
	r.log.Info(fmt.Sprintf("IKE_SA_INIT from %v: chose %s, %s", s.remote, ikeSuiteName(s.suite), s.natd.describe("")), "spi", sa.String())
	return sa, nil
}

func (s *saInitState) buildResponse() []message.Payload {
	prop := s.proposal
	prop.SPI = nil // RFC 7296 §3.3.1: empty SPI in the initial IKE_SA_INIT
	reply := []message.Payload{
		&message.SA{Proposals: []message.Proposal{prop}},
		&message.KE{Group: uint16(s.suite.DH), Data: s.dh.Public()},
		&message.Nonce{Data: s.nr},
	}
	if s.natd.present {
		reply = append(reply, natdNotifies(s.req.Header.SPIi, s.spir, s.local, s.remote, s.r.cfg.ForceUDPEncap)...)
	}
	return reply
}
