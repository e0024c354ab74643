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

// CHILD_SA negotiation, shared by IKE_AUTH (the first child) and
// CREATE_CHILD_SA (more children, optional PFS, and rekeying with
// REKEY_SA, RFC 7296 §1.3.1, §1.3.3). CREATE_CHILD_SA that rekeys the IKE
// SA itself is in rekey.go.

type childRequest struct {
	sa       *message.SA
	payloads []message.Payload // TSi, TSr, notifies
	ni, nr   []byte            // the nonces of the exchange
	ke       *message.KE       // peer's KE for PFS, nil without
	local    netip.AddrPort
	remote   netip.AddrPort
	exchange string   // "IKE_AUTH" or "CREATE_CHILD_SA", for reasons
	rekeys   *childSA // the CHILD_SA this one replaces, if any
}

// childResult is the reply parts of a successful negotiation, or the error
// notify of a failed one.
type childResult struct {
	notify   *message.Notify
	sa       *message.SA
	ke       *message.KE
	tsi, tsr *message.TrafficSelectors
	child    *childSA
}

func childFailed(t message.NotifyType, data []byte) childResult {
	return childResult{notify: &message.Notify{NotifyType: t, Data: data}}
}

// negotiateChild chooses the ESP proposal, narrows the selectors, derives
// the keys, records the child under sa and emits ChildUp.
func (r *Responder) negotiateChild(sa *ikeSA, req childRequest) childResult {
	prop, esp, group, err := ike.SelectESP(req.sa.Proposals, r.cfg.ESP, req.ke != nil)
	if err == nil && len(prop.SPI) != 4 {
		err = fmt.Errorf("proposal SPI of %d bytes", len(prop.SPI))
	}
	if err != nil {
		reason := req.exchange + ": CHILD_SA: " + err.Error()
		r.log.Warn(reason, "spi", sa.String())
		r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: reason})
		return childFailed(message.NO_PROPOSAL_CHOSEN, nil)
	}
	if group != 0 && (req.ke == nil || suite.DHGroup(req.ke.Group) != group) {
		r.log.Info(req.exchange+": asking peer for another PFS group", "want", groupName(group), "spi", sa.String())
		return childFailed(message.INVALID_KE_PAYLOAD, binary.BigEndian.AppendUint16(nil, uint16(group)))
	}

	tsiP, _ := findType(req.payloads, message.PayloadTSi).(*message.TrafficSelectors)
	tsrP, _ := findType(req.payloads, message.PayloadTSr).(*message.TrafficSelectors)
	if tsiP == nil || tsrP == nil {
		r.log.Warn(req.exchange+": CHILD_SA request without TSi/TSr", "spi", sa.String())
		return childFailed(message.TS_UNACCEPTABLE, nil)
	}
	tsi := narrowTS(tsiP.Selectors, r.cfg.AllowedRemoteTS)
	tsr := narrowTS(tsrP.Selectors, r.cfg.AllowedLocalTS)
	if len(tsi) == 0 || len(tsr) == 0 {
		reason := fmt.Sprintf("%s: CHILD_SA: traffic selectors unacceptable: peer proposed %s === %s; tunnel allows %v === %v",
			req.exchange, tsList(tsiP.Selectors), tsList(tsrP.Selectors), r.cfg.AllowedRemoteTS, r.cfg.AllowedLocalTS)
		r.log.Warn(reason, "spi", sa.String())
		r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: reason})
		return childFailed(message.TS_UNACCEPTABLE, nil)
	}
	if message.FindNotify(req.payloads, message.USE_TRANSPORT_MODE) != nil {
		// RFC 7296 §1.3.1: not echoing the notify means tunnel mode.
		r.log.Info(req.exchange+": peer asked for transport mode, answering with tunnel mode", "spi", sa.String())
	}

	var gir []byte
	var ourKE *message.KE
	if group != 0 {
		dh, err := ike.NewDH(group, r.rand)
		if err == nil {
			gir, err = dh.SharedSecret(req.ke.Data)
		}
		if err != nil {
			r.log.Warn(req.exchange+": CHILD_SA: bad PFS key exchange", "err", err, "spi", sa.String())
			return childFailed(message.NO_PROPOSAL_CHOSEN, nil)
		}
		ourKE = &message.KE{Group: uint16(group), Data: dh.Public()}
	}
	inSPI, err := r.newInboundSPI()
	if err != nil {
		return childFailed(message.TEMPORARY_FAILURE, nil)
	}
	iToR, rToI, err := ike.DeriveChildKeys(sa.suite.PRF, sa.keys.SKd, gir, req.ni, req.nr, esp)
	clear(gir)
	if err != nil {
		r.log.Error(req.exchange+": CHILD_SA key derivation failed", "err", err, "spi", sa.String())
		return childFailed(message.NO_PROPOSAL_CHOSEN, nil)
	}

	c := &childSA{
		inSPI: inSPI, outSPI: binary.BigEndian.Uint32(prop.SPI), esp: esp, pfs: group,
		localTS: tsr, remoteTS: tsi, local: req.local, remote: req.remote,
		udpEncap: sa.natt, created: r.clock.Now(),
	}
	sa.children[inSPI] = c
	r.startChildLifetime(sa, c)

	verb := "established"
	if req.rekeys != nil {
		req.rekeys.rekeyed = true
		stopTimer(&req.rekeys.rekeyTimer)
		verb = fmt.Sprintf("rekeyed by peer (replaces in=0x%08x out=0x%08x)", req.rekeys.inSPI, req.rekeys.outSPI)
	}
	r.log.Info(fmt.Sprintf("%s: CHILD_SA %s in=0x%08x out=0x%08x %s, TS %s === %s",
		req.exchange, verb, c.inSPI, c.outSPI, espSuiteName(esp, group), tsString(tsi), tsString(tsr)),
		"spi", sa.String())
	c.up = ike.ChildSA{
		Tunnel: r.cfg.Tunnel, IKEVersion: ike.IKEv2,
		InSPI: c.inSPI, OutSPI: c.outSPI, ESP: esp,
		InKeys: iToR, OutKeys: rToI,
		Local: req.local, Remote: req.remote, UDPEncap: sa.natt,
		LocalTS: tsPrefixes(tsr), RemoteTS: tsPrefixes(tsi),
		Lifetime: r.cfg.ChildLifetime,
	}
	if req.rekeys == nil {
		// A rekey's child is announced by peerRekeyedChild, which knows
		// about collisions.
		r.announce(c)
	}

	out := prop
	out.SPI = binary.BigEndian.AppendUint32(nil, inSPI)
	return childResult{
		sa:    &message.SA{Proposals: []message.Proposal{out}},
		ke:    ourKE,
		tsi:   &message.TrafficSelectors{Initiator: true, Selectors: tsi},
		tsr:   &message.TrafficSelectors{Initiator: false, Selectors: tsr},
		child: c,
	}
}

// handleCreateChild answers CREATE_CHILD_SA: a new or rekeyed CHILD_SA, or
// (rekey.go) a rekey of the IKE SA.
func (r *Responder) handleCreateChild(sa *ikeSA, req *request) ([]message.Payload, bool) {
	switch sa.state {
	case saEstablished:
	case saRekeyed:
		// RFC 7296 §2.25: the IKE SA is being replaced; the peer retries on the new one.
		return errorNotify(message.TEMPORARY_FAILURE, nil), true
	default:
		return nil, false
	}
	sap, _ := find[*message.SA](req.payloads)
	nonce, _ := find[*message.Nonce](req.payloads)
	if sap == nil || nonce == nil || len(nonce.Data) < 16 || len(nonce.Data) > 256 || len(sap.Proposals) == 0 {
		r.log.Warn("CREATE_CHILD_SA without usable SA/Nonce", "spi", sa.String())
		return errorNotify(message.INVALID_SYNTAX, nil), true
	}
	if sap.Proposals[0].Protocol == message.ProtocolIKE {
		return r.rekeyIKE(sa, req, sap, nonce.Data), true
	}
	var old *childSA
	if n := message.FindNotify(req.payloads, message.REKEY_SA); n != nil {
		// The notify names the SA by the SPI the peer receives on: our outbound SPI.
		if len(n.SPI) == 4 {
			out := binary.BigEndian.Uint32(n.SPI)
			for _, c := range sa.children {
				if c.outSPI == out {
					old = c
					break
				}
			}
		}
		if old == nil {
			r.log.Info("CREATE_CHILD_SA: peer rekeys a CHILD_SA we do not have", "spi", sa.String())
			return []message.Payload{&message.Notify{Protocol: message.ProtocolESP, SPI: bytes.Clone(n.SPI), NotifyType: message.CHILD_SA_NOT_FOUND}}, true
		}
		if old.deleting || old.redundant {
			// RFC 7296 §2.25.1: we are deleting it already.
			r.log.Info("CREATE_CHILD_SA: peer rekeys a CHILD_SA we are deleting", "child", old.String(), "spi", sa.String())
			return errorNotify(message.TEMPORARY_FAILURE, nil), true
		}
	}
	nr := make([]byte, nonceLen)
	if _, err := io.ReadFull(r.rand, nr); err != nil {
		return errorNotify(message.TEMPORARY_FAILURE, nil), true
	}
	ke, _ := find[*message.KE](req.payloads)
	res := r.negotiateChild(sa, childRequest{
		sa: sap, payloads: req.payloads, ni: nonce.Data, nr: nr, ke: ke,
		local: req.local, remote: req.remote, exchange: "CREATE_CHILD_SA", rekeys: old,
	})
	if res.notify != nil {
		return []message.Payload{res.notify}, true
	}
	if old != nil {
		r.peerRekeyedChild(sa, old, res.child, nonce.Data, nr)
	}
	reply := []message.Payload{res.sa, &message.Nonce{Data: nr}}
	if res.ke != nil {
		reply = append(reply, res.ke)
	}
	return append(reply, res.tsi, res.tsr), true
}

func tsList(tss []message.TrafficSelector) string {
	var b bytes.Buffer
	for i, ts := range tss {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(ts.String())
	}
	return b.String()
}
