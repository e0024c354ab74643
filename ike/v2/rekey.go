package v2

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

// IKE SA rekey by the peer (RFC 7296 §1.3.2, §2.18): a CREATE_CHILD_SA whose
// SA payload proposes protocol IKE. The new IKE SA takes over the CHILD_SAs;
// the old one answers this exchange, then waits for the peer's DELETE. We
// never start a rekey ourselves, so there are no collisions to resolve.

func (r *Responder) rekeyIKE(old *ikeSA, req *request, sap *message.SA, ni []byte) []message.Payload {
	var keGroup suite.DHGroup
	if ke, ok := find[*message.KE](req.payloads); ok {
		keGroup = suite.DHGroup(ke.Group)
	}
	prop, st, err := ike.SelectIKEForKE(sap.Proposals, r.cfg.IKE, keGroup)
	if err != nil {
		reason := "IKE SA rekey: " + err.Error()
		r.log.Warn(reason, "spi", old.String())
		r.emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: reason})
		return errorNotify(message.NO_PROPOSAL_CHOSEN, nil)
	}
	if len(prop.SPI) != 8 || binary.BigEndian.Uint64(prop.SPI) == 0 {
		return errorNotify(message.INVALID_SYNTAX, nil)
	}
	spii := binary.BigEndian.Uint64(prop.SPI)
	ke, _ := find[*message.KE](req.payloads)
	if ke == nil || suite.DHGroup(ke.Group) != st.DH {
		r.log.Info("IKE SA rekey: asking peer for another DH group", "want", groupName(st.DH), "spi", old.String())
		return errorNotify(message.INVALID_KE_PAYLOAD, binary.BigEndian.AppendUint16(nil, uint16(st.DH)))
	}
	dh, err := ike.NewDH(st.DH, r.rand)
	if err != nil {
		return errorNotify(message.NO_PROPOSAL_CHOSEN, nil)
	}
	gir, err := dh.SharedSecret(ke.Data)
	if err != nil {
		r.log.Warn("IKE SA rekey: bad key exchange from peer", "err", err, "spi", old.String())
		return errorNotify(message.INVALID_SYNTAX, nil)
	}
	defer clear(gir)
	nr := make([]byte, nonceLen)
	if _, err := io.ReadFull(r.rand, nr); err != nil {
		return errorNotify(message.TEMPORARY_FAILURE, nil)
	}
	spir, err := r.randUint64(func(v uint64) bool { return r.sas[v] != nil })
	if err != nil {
		return errorNotify(message.TEMPORARY_FAILURE, nil)
	}
	keys, err := ike.DeriveRekeyedIKEKeys(old.suite.PRF, old.keys.SKd, st, ni, nr, gir, spii, spir)
	if err != nil {
		r.log.Error("IKE SA rekey: key derivation failed", "err", err, "spi", old.String())
		return errorNotify(message.NO_PROPOSAL_CHOSEN, nil)
	}
	nsa := &ikeSA{
		spii: spii, spir: spir, state: saEstablished, suite: st, keys: keys,
		local: req.local, remote: req.remote, natt: old.natt,
		initReq: old.initReq, initResp: old.initResp,
		peerID: old.peerID, established: r.clock.Now(),
		children: old.children,
	}
	if err := nsa.newProtectors(); err != nil {
		r.log.Error("IKE SA rekey: cannot key the new SA", "err", err, "spi", old.String())
		return errorNotify(message.NO_PROPOSAL_CHOSEN, nil)
	}
	old.children = map[uint32]*childSA{}
	old.state = saRekeyed
	r.startHalfOpenTimer(old) // gone for good if the peer never deletes it
	r.sas[spir] = nsa
	r.startIKELifetime(nsa)
	r.log.Info(fmt.Sprintf("IKE_SA rekeyed by peer: %s, %d CHILD_SAs moved", ikeSuiteName(st), len(nsa.children)),
		"old", old.String(), "new", nsa.String())

	out := prop
	out.SPI = binary.BigEndian.AppendUint64(nil, spir)
	return []message.Payload{
		&message.SA{Proposals: []message.Proposal{out}},
		&message.Nonce{Data: nr},
		&message.KE{Group: uint16(st.DH), Data: dh.Public()},
	}
}
