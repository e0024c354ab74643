package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

// One IKEv2 initiator exchange driven directly with vpgw's building blocks
// (ike: DH, key derivation, PSK AUTH, SK protection, proposal selection;
// ike/message: the wire format). Each SA has its own UDP socket (its own
// source port) so the responder sees many SAs from one address, as from one
// customer gateway. No INITIAL_CONTACT is sent: the responder must keep
// every SA, not replace the older ones.

const nonceLen = 32

// params is what one SA is made with: the run's shared settings and its
// pair's addresses and PSK.
type params struct {
	local, target netip.Addr
	port          uint16 // the responder's IKE port: 500 (tests use another)
	psk           []byte
	group         suite.DHGroup
	ikePol        ike.Policy
	espPol        ike.Policy
	pfs           suite.DHGroup // IKEv1 Quick Mode's PFS group, 0 for none
	tsi, tsr      []netip.Prefix
	timeouts      []time.Duration // per try: first send and each retransmit
}

// ikeSA is an established IKEv2 SA, kept until it is deleted.
type ikeSA struct {
	link
	p          *params // its pair's addresses and PSK
	spii, spir uint64
	in, out    *ike.Protector
	nextID     uint32
	gone       bool // the responder deleted it (seen by serve)
}

func (sa *ikeSA) deletedByPeer() bool { return sa.gone }

func (sa *ikeSA) remove() error { return deleteSA(sa.p, sa) }

// exchange sends pkt and waits for a message accept() takes, retransmitting
// pkt on the run's schedule. It returns the parsed message.
func (sa *ikeSA) exchange(p *params, pkt []byte, accept func(*message.Message) bool) (*message.Message, error) {
	var got *message.Message
	err := sa.link.exchange(p.timeouts, pkt, func(b []byte) bool {
		if m := sa.parse(b); m != nil && accept(m) {
			got = m
			return true
		}
		return false
	})
	return got, err
}

// parse returns nil for anything that is not an IKE message of this SA.
func (sa *ikeSA) parse(b []byte) *message.Message {
	m, err := message.Parse(b)
	if err != nil || m.Header.SPIi != sa.spii {
		return nil
	}
	return m
}

// serve answers the responder's INFORMATIONAL requests while the SA is
// held, until quit is closed: its liveness checks (DPD: vpgw asks after
// 10 s without traffic and clears the SA when unanswered) get an empty
// response, and a DELETE of the IKE SA is acknowledged and marks the SA
// gone, so no DELETE of ours follows. Other requests are ignored.
func (sa *ikeSA) serve(quit <-chan struct{}) {
	sa.listen(quit, func(b []byte) bool {
		m := sa.parse(b)
		if m == nil || m.Header.Exchange != message.INFORMATIONAL || m.Header.IsResponse() || m.Header.SPIr != sa.spir {
			return false
		}
		payloads, err := sa.open(m)
		if err != nil || sa.answer(m.Header.MessageID) != nil {
			return false
		}
		for _, pl := range payloads {
			if d, ok := pl.(*message.Delete); ok && d.Protocol == message.ProtocolIKE {
				sa.gone = true
				return true
			}
		}
		return false
	})
}

// answer sends an empty INFORMATIONAL response to the responder's request id.
func (sa *ikeSA) answer(id uint32) error {
	rh := message.Header{SPIi: sa.spii, SPIr: sa.spir, MajorVersion: 2, Exchange: message.INFORMATIONAL,
		Flags: message.FlagInitiator | message.FlagResponse, MessageID: id}
	r, err := sa.seal(rh, nil)
	if err != nil {
		return err
	}
	return sa.send(r)
}

func randUint64() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}

func natdHash(spii, spir uint64, ap netip.AddrPort) []byte {
	var b [8 + 8 + 4 + 2]byte
	binary.BigEndian.PutUint64(b[0:], spii)
	binary.BigEndian.PutUint64(b[8:], spir)
	ip := ap.Addr().Unmap().As4()
	copy(b[16:], ip[:])
	binary.BigEndian.PutUint16(b[20:], ap.Port())
	h := sha1.Sum(b[:])
	return h[:]
}

func selectors(ps []netip.Prefix) []message.TrafficSelector {
	out := make([]message.TrafficSelector, 0, len(ps))
	for _, p := range ps {
		out = append(out, message.SelectorFromPrefix(p))
	}
	return out
}

// seal builds an encrypted message with the SA's outbound keys.
func (sa *ikeSA) seal(h message.Header, payloads []message.Payload) ([]byte, error) {
	inner, plain, err := message.SerializePayloads(payloads)
	if err != nil {
		return nil, err
	}
	n := sa.out.SealedLen(len(plain))
	pkt := message.AppendEncryptedHeader(make([]byte, 0, message.HeaderLen+4+n), h, inner, n)
	return append(pkt, sa.out.Seal(pkt, plain, rand.Reader)...), nil
}

// open verifies and decrypts a message's SK payload.
func (sa *ikeSA) open(m *message.Message) ([]message.Payload, error) {
	if len(m.Payloads) != 1 {
		return nil, errors.New("no SK payload")
	}
	sk, ok := m.Payloads[0].(*message.Encrypted)
	if !ok || sk.BodyOffset < message.HeaderLen || sk.BodyOffset > len(m.Raw) {
		return nil, errors.New("no SK payload")
	}
	plain, err := sa.in.Open(m.Raw[:sk.BodyOffset], sk.Body)
	if err != nil {
		return nil, err
	}
	return message.ParsePayloads(sk.NextPayload, plain)
}

// failure is an SA that did not come up, with the step that failed.
type failure struct {
	step, reason string
}

func (f *failure) Error() string { return f.step + ": " + f.reason }

func fail(step, format string, a ...any) *failure {
	return &failure{step: step, reason: fmt.Sprintf(format, a...)}
}

// establish runs IKEv2's IKE_SA_INIT and IKE_AUTH (with one CHILD_SA) on a fresh
// socket. On success the SA keeps its socket for the DELETE.
func establish(p *params) (session, error) {
	l, localAP, err := dial(p)
	if err != nil {
		return nil, fail("socket", "%v", err)
	}
	sa := &ikeSA{link: l, p: p, spii: randUint64()}
	ok := false
	defer func() {
		if !ok {
			sa.close()
		}
	}()

	// IKE_SA_INIT
	dh, err := ike.NewDH(p.group, rand.Reader)
	if err != nil {
		return nil, fail("IKE_SA_INIT", "DH: %v", err)
	}
	ni := make([]byte, nonceLen)
	_, _ = rand.Read(ni)
	var cookie []byte
	var resp *message.Message
	var req []byte
	for attempt := 0; ; attempt++ {
		var ps []message.Payload
		if cookie != nil {
			ps = append(ps, &message.Notify{NotifyType: message.COOKIE, Data: cookie})
		}
		ps = append(ps,
			&message.SA{Proposals: ike.V2IKEProposals(ike.Policy{Ciphers: p.ikePol.Ciphers, Integs: p.ikePol.Integs}, p.group)},
			&message.KE{Group: uint16(p.group), Data: dh.Public()},
			&message.Nonce{Data: ni},
			&message.Notify{NotifyType: message.NAT_DETECTION_SOURCE_IP, Data: natdHash(sa.spii, 0, localAP)},
			&message.Notify{NotifyType: message.NAT_DETECTION_DESTINATION_IP, Data: natdHash(sa.spii, 0, sa.remote)},
		)
		m := message.Message{
			Header:   message.Header{SPIi: sa.spii, MajorVersion: 2, Exchange: message.IKE_SA_INIT, Flags: message.FlagInitiator},
			Payloads: ps,
		}
		req, err = m.Serialize()
		if err != nil {
			return nil, fail("IKE_SA_INIT", "serialize: %v", err)
		}
		resp, err = sa.exchange(p, req, func(m *message.Message) bool {
			return m.Header.Exchange == message.IKE_SA_INIT && m.Header.IsResponse() && m.Header.MessageID == 0
		})
		if err != nil {
			return nil, fail("IKE_SA_INIT", "%v", err)
		}
		if n := resp.FindNotify(message.COOKIE); n != nil && attempt < 2 {
			cookie = bytes.Clone(n.Data)
			continue
		}
		break
	}
	for _, n := range resp.Notifies() {
		if n.NotifyType.IsError() {
			return nil, fail("IKE_SA_INIT", "responder answered %s", n.NotifyType)
		}
	}
	sap, _ := resp.Find(message.PayloadSA).(*message.SA)
	ke, _ := resp.Find(message.PayloadKE).(*message.KE)
	nonce, _ := resp.Find(message.PayloadNonce).(*message.Nonce)
	if sap == nil || ke == nil || nonce == nil || resp.Header.SPIr == 0 {
		return nil, fail("IKE_SA_INIT", "response lacks SA, KE or Nonce")
	}
	_, s, err := ike.SelectIKE(sap.Proposals, p.ikePol)
	if err != nil || s.DH != p.group {
		return nil, fail("IKE_SA_INIT", "responder chose %s", ike.ProposalsString(sap.Proposals))
	}
	gir, err := dh.SharedSecret(ke.Data)
	if err != nil {
		return nil, fail("IKE_SA_INIT", "KE: %v", err)
	}
	sa.spir = resp.Header.SPIr
	keys, err := ike.DeriveIKEKeys(s, ni, nonce.Data, gir, sa.spii, sa.spir)
	if err != nil {
		return nil, fail("IKE_SA_INIT", "keys: %v", err)
	}
	if sa.in, err = ike.NewProtector(s.Cipher, s.Integ, keys.SKer, keys.SKar); err != nil {
		return nil, fail("IKE_SA_INIT", "%v", err)
	}
	if sa.out, err = ike.NewProtector(s.Cipher, s.Integ, keys.SKei, keys.SKai); err != nil {
		return nil, fail("IKE_SA_INIT", "%v", err)
	}
	// NAT detection (RFC 7296 §2.23): a mismatch on either side moves the
	// SA to the responder's port 4500 (strongSwan with kernel-libipsec
	// always fakes one).
	var srcOK, dstOK, seen bool
	for _, n := range resp.Notifies() {
		switch n.NotifyType {
		case message.NAT_DETECTION_SOURCE_IP:
			seen = true
			srcOK = srcOK || subtle.ConstantTimeCompare(n.Data, natdHash(sa.spii, sa.spir, sa.remote)) == 1
		case message.NAT_DETECTION_DESTINATION_IP:
			dstOK = dstOK || subtle.ConstantTimeCompare(n.Data, natdHash(sa.spii, sa.spir, localAP)) == 1
		}
	}
	if seen && (!srcOK || !dstOK) {
		sa.floatNATT()
	}

	// IKE_AUTH with the first CHILD_SA
	idi := &message.ID{Initiator: true, IDType: message.IDIPv4Addr, Data: p.local.AsSlice()}
	auth := ike.PSKAuth(s.PRF, p.psk, req, nonce.Data, keys.SKpi, idi.Body())
	var spiB [4]byte
	_, _ = rand.Read(spiB[:])
	inSPI := binary.BigEndian.Uint32(spiB[:]) | 0x100
	ps := []message.Payload{
		idi,
		&message.Auth{Method: message.AuthSharedKeyMIC, Data: auth},
		&message.SA{Proposals: ike.V2ESPProposals(p.espPol, inSPI, 0)},
		&message.TrafficSelectors{Initiator: true, Selectors: selectors(p.tsi)},
		&message.TrafficSelectors{Initiator: false, Selectors: selectors(p.tsr)},
	}
	h := message.Header{SPIi: sa.spii, SPIr: sa.spir, MajorVersion: 2, Exchange: message.IKE_AUTH, Flags: message.FlagInitiator, MessageID: 1}
	pkt, err := sa.seal(h, ps)
	if err != nil {
		return nil, fail("IKE_AUTH", "seal: %v", err)
	}
	var payloads []message.Payload
	_, err = sa.exchange(p, pkt, func(m *message.Message) bool {
		if m.Header.Exchange != message.IKE_AUTH || !m.Header.IsResponse() || m.Header.MessageID != 1 || m.Header.SPIr != sa.spir {
			return false
		}
		pl, err := sa.open(m)
		if err != nil {
			return false
		}
		payloads = pl
		return true
	})
	if err != nil {
		return nil, fail("IKE_AUTH", "%v", err)
	}
	sa.nextID = 2
	var idr *message.ID
	var rauth *message.Auth
	var csa *message.SA
	var tsOK int
	for _, pl := range payloads {
		switch pl := pl.(type) {
		case *message.ID:
			idr = pl
		case *message.Auth:
			rauth = pl
		case *message.SA:
			csa = pl
		case *message.TrafficSelectors:
			tsOK++
		case *message.Notify:
			if pl.NotifyType.IsError() {
				return nil, fail("IKE_AUTH", "responder answered %s", pl.NotifyType)
			}
		}
	}
	if idr == nil || rauth == nil {
		return nil, fail("IKE_AUTH", "response lacks IDr or AUTH")
	}
	want := ike.PSKAuth(s.PRF, p.psk, resp.Raw, ni, keys.SKpr, idr.Body())
	if subtle.ConstantTimeCompare(want, rauth.Data) != 1 {
		return nil, fail("IKE_AUTH", "responder's AUTH does not verify (PSK mismatch?)")
	}
	if csa == nil || tsOK != 2 {
		return nil, fail("CHILD_SA", "IKE_AUTH response carries no CHILD_SA")
	}
	_, esp, _, err := ike.SelectESP(csa.Proposals, p.espPol, false)
	if err != nil || len(csa.Proposals) != 1 || len(csa.Proposals[0].SPI) != 4 {
		return nil, fail("CHILD_SA", "responder chose %s", ike.ProposalsString(csa.Proposals))
	}
	// Derive the CHILD_SA keys as a real initiator would (and check that
	// the responder's choice works with vpgw's key schedule).
	if _, _, err := ike.DeriveChildKeys(s.PRF, keys.SKd, nil, ni, nonce.Data, esp); err != nil {
		return nil, fail("CHILD_SA", "keys: %v", err)
	}
	keys.Zero()
	clear(gir)
	ok = true
	return sa, nil
}

// deleteSA sends INFORMATIONAL with DELETE(IKE) and waits for the answer.
func deleteSA(p *params, sa *ikeSA) error {
	h := message.Header{SPIi: sa.spii, SPIr: sa.spir, MajorVersion: 2, Exchange: message.INFORMATIONAL,
		Flags: message.FlagInitiator, MessageID: sa.nextID}
	pkt, err := sa.seal(h, []message.Payload{&message.Delete{Protocol: message.ProtocolIKE}})
	if err != nil {
		return err
	}
	_, err = sa.exchange(p, pkt, func(m *message.Message) bool {
		if m.Header.Exchange == message.INFORMATIONAL && !m.Header.IsResponse() {
			// A request of the responder's (e.g. its own DELETE): answer empty.
			if _, err := sa.open(m); err == nil {
				_ = sa.answer(m.Header.MessageID)
			}
			return false
		}
		if m.Header.Exchange != message.INFORMATIONAL || !m.Header.IsResponse() || m.Header.MessageID != sa.nextID {
			return false
		}
		_, err := sa.open(m)
		return err == nil
	})
	return err
}
