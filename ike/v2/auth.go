package v2

import (
	"crypto/subtle"
	"fmt"
	"net/netip"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
)

// IKE_AUTH (RFC 7296 §1.2, §2.15): check the peer's PSK AUTH, answer with
// ours, and set up the first CHILD_SA. A failing CHILD_SA leaves the IKE SA
// up (RFC 7296 §1.2: the child's error notify goes into the response).

// authState is one IKE_AUTH exchange.
type authState struct {
	r   *Responder
	sa  *ikeSA
	req *request

	idi  *message.ID
	idr  *message.ID
	auth []byte // our AUTH data
}

// handleAuth runs IKE_AUTH on a half-open SA. ok=false drops the request.
func (r *Responder) handleAuth(sa *ikeSA, req *request) (reply []message.Payload, ok bool) {
	if sa.state != saHalfOpen {
		return nil, false
	}
	s := &authState{r: r, sa: sa, req: req}
	if reason := s.verifyPeer(); reason != "" {
		// Tell the peer, forget the SA once retransmits stop mattering.
		r.log.Warn(reason, "from", req.remote, "spi", sa.String())
		r.out.Emit(ike.NegotiationFailed{Tunnel: r.cfg.Tunnel, Reason: reason})
		sa.state = saFailed
		sa.ni, sa.nr = nil, nil
		r.startHalfOpenTimer(sa)
		return errorNotify(message.AUTHENTICATION_FAILED, nil), true
	}
	s.buildOwnAuth()
	r.replaceOlderSAs(sa, req)
	s.establish()
	reply = []message.Payload{s.idr, &message.Auth{Method: message.AuthSharedKeyMIC, Data: s.auth}}
	reply = append(reply, s.createChild()...)
	sa.ni, sa.nr = nil, nil // only IKE_SA_INIT's child needed them
	return reply, true
}

// verifyPeer checks IDi and AUTH. It returns the operator-facing reason on
// failure, "" on success.
func (s *authState) verifyPeer() string {
	ps := s.req.payloads
	idi, _ := findType(ps, message.PayloadIDi).(*message.ID)
	if idi == nil {
		return "IKE authentication failed: peer sent no IDi"
	}
	switch idi.IDType {
	case message.IDIPv4Addr, message.IDIPv6Addr, message.IDFQDN, message.IDRFC822Addr, message.IDKeyID:
	default:
		return fmt.Sprintf("IKE authentication failed: unsupported identity type %d", idi.IDType)
	}
	s.idi = idi
	auth, ok := find[*message.Auth](ps)
	if !ok {
		return "IKE authentication failed: peer sent no AUTH (EAP is not supported)"
	}
	if auth.Method != message.AuthSharedKeyMIC {
		return fmt.Sprintf("IKE authentication failed: peer uses auth method %d, tunnel uses a pre-shared key", auth.Method)
	}
	sa := s.sa
	want := ike.PSKAuth(sa.suite.PRF, s.r.cfg.PSK, sa.initReq, sa.nr, sa.keys.SKpi, idi.Body())
	if subtle.ConstantTimeCompare(want, auth.Data) != 1 {
		return "IKE authentication failed: PSK mismatch"
	}
	sa.peerID = idString(idi)
	return ""
}

// buildOwnAuth: IDr is our outside IPv4 address; AUTH signs our IKE_SA_INIT
// response with Ni and SK_pr (RFC 7296 §2.15).
func (s *authState) buildOwnAuth() {
	sa := s.sa
	local := s.r.cfg.Local
	s.idr = &message.ID{IDType: message.IDIPv4Addr, Data: local.AsSlice()}
	if local.Is6() {
		s.idr.IDType = message.IDIPv6Addr
	}
	s.auth = ike.PSKAuth(sa.suite.PRF, s.r.cfg.PSK, sa.initResp, sa.ni, sa.keys.SKpr, s.idr.Body())
}

// replaceOlderSAs honours INITIAL_CONTACT (RFC 7296 §2.4): the peer has no
// other SAs with us, so everything older of this tunnel is stale. It runs
// before the new SA counts as established, so the gateway sees the old
// SAs go down before the new one comes up.
func (r *Responder) replaceOlderSAs(sa *ikeSA, req *request) {
	if message.FindNotify(req.payloads, message.INITIAL_CONTACT) == nil {
		return
	}
	for _, old := range r.sas {
		if old == sa {
			continue
		}
		if old.state == saEstablished || old.state == saRekeyed {
			r.log.Info("IKE_SA replaced: peer sent INITIAL_CONTACT", "old", old.String(), "new", sa.String())
		}
		r.removeSA(old, "replaced by a new IKE SA (INITIAL_CONTACT)")
	}
}

func (s *authState) establish() {
	r, sa := s.r, s.sa
	sa.state = saEstablished
	sa.established = r.clock.Now()
	r.startIKELifetime(sa)
	nat := ""
	if sa.natt {
		nat = ", NAT-T"
	}
	r.log.Info(fmt.Sprintf("IKE_AUTH: peer %v authenticated with PSK (id %s), IKE_SA established%s",
		s.req.remote.Addr(), sa.peerID, nat), "spi", sa.String())
	r.out.Emit(ike.IKEUp{Tunnel: r.cfg.Tunnel, Version: ike.IKEv2, Remote: s.req.remote, NATT: sa.natt})
	r.onIKEUp()
}

// createChild negotiates the CHILD_SA carried in IKE_AUTH (no KE: no PFS
// for the first child, RFC 7296 §1.2). It returns SA, TSi, TSr, or the
// error notify when the child fails.
func (s *authState) createChild() []message.Payload {
	r, sa := s.r, s.sa
	sap, ok := find[*message.SA](s.req.payloads)
	if !ok {
		r.log.Info("IKE_AUTH without SA payload: no CHILD_SA (childless IKE SA)", "spi", sa.String())
		return nil
	}
	res := r.negotiateChild(sa, childRequest{
		sa: sap, payloads: s.req.payloads, ni: sa.ni, nr: sa.nr,
		local: s.req.local, remote: s.req.remote, exchange: "IKE_AUTH",
	})
	if res.notify != nil {
		return []message.Payload{res.notify}
	}
	return []message.Payload{res.sa, res.tsi, res.tsr}
}

func idString(id *message.ID) string {
	switch id.IDType {
	case message.IDIPv4Addr, message.IDIPv6Addr:
		if a, ok := netip.AddrFromSlice(id.Data); ok {
			return a.String()
		}
	case message.IDFQDN, message.IDRFC822Addr:
		return printable(id.Data)
	}
	return fmt.Sprintf("keyid:%x", id.Data)
}

// printable keeps peer-supplied text safe for logs.
func printable(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out = append(out, c)
	}
	return string(out)
}
