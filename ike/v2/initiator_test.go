package v2

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/message"
	"github.com/vpgw/vpgw/suite"
)

// initiator is a minimal IKEv2 initiator built from the same codec and
// crypto as the responder: it builds requests and checks responses, with no
// I/O or timers of its own. Tests drive it against a Responder; it is kept
// free of test-only shortcuts so it can grow into vpgw's own initiator.
type initiator struct {
	rand io.Reader
	psk  []byte
	id   *message.ID

	// Addresses as the initiator believes them, for NAT_DETECTION_*.
	// A NAT in between makes the responder see another source.
	claimedLocal, claimedRemote netip.AddrPort

	ikeProposals []message.Proposal
	group        suite.DHGroup // KE guess for IKE_SA_INIT

	spii, spir        uint64
	suite             ike.IKESuite
	keys              *ike.IKEKeys
	in, out           *ike.Protector // in: responder→initiator
	ni, nr            []byte
	initReq, initResp []byte
	dh                ike.DH
	nextID            uint32
}

// errNotify is a responder's error notify as an error.
type errNotify struct {
	t    message.NotifyType
	data []byte
}

func (e *errNotify) Error() string { return "peer answered " + e.t.String() }

// ikeProposal builds an IKE proposal with one transform of each type.
func ikeProposal(num uint8, c suite.Cipher, i suite.Integ, p suite.PRF, g suite.DHGroup) message.Proposal {
	ts := []message.Transform{{Type: message.TransformENCR, ID: uint16(c.Encr), KeyLength: uint16(c.KeyBits)}, {Type: message.TransformPRF, ID: uint16(p)}}
	if i != suite.IntegNone {
		ts = append(ts, message.Transform{Type: message.TransformINTEG, ID: uint16(i)})
	}
	ts = append(ts, message.Transform{Type: message.TransformDH, ID: uint16(g)})
	return message.Proposal{Number: num, Protocol: message.ProtocolIKE, Transforms: ts}
}

// espProposal builds an ESP proposal; g 0 means no PFS group.
func espProposal(num uint8, spi uint32, c suite.Cipher, i suite.Integ, g suite.DHGroup) message.Proposal {
	ts := []message.Transform{{Type: message.TransformENCR, ID: uint16(c.Encr), KeyLength: uint16(c.KeyBits)}}
	if i != suite.IntegNone {
		ts = append(ts, message.Transform{Type: message.TransformINTEG, ID: uint16(i)})
	}
	if g != 0 {
		ts = append(ts, message.Transform{Type: message.TransformDH, ID: uint16(g)})
	}
	ts = append(ts, message.Transform{Type: message.TransformESN, ID: message.ESNNone})
	return message.Proposal{Number: num, Protocol: message.ProtocolESP, SPI: binary.BigEndian.AppendUint32(nil, spi), Transforms: ts}
}

// suiteOf reads the transforms of a chosen (single-transform-per-type) proposal.
func suiteOf(p message.Proposal) (ike.IKESuite, suite.ESP) {
	var s ike.IKESuite
	var e suite.ESP
	for _, t := range p.Transforms {
		switch t.Type {
		case message.TransformENCR:
			s.Cipher = suite.Cipher{Encr: suite.Encr(t.ID), KeyBits: int(t.KeyLength)}
		case message.TransformINTEG:
			s.Integ = suite.Integ(t.ID)
		case message.TransformPRF:
			s.PRF = suite.PRF(t.ID)
		case message.TransformDH:
			s.DH = suite.DHGroup(t.ID)
		}
	}
	e.Cipher, e.Integ = s.Cipher, s.Integ
	return s, e
}

func (in *initiator) nonce() []byte {
	n := make([]byte, 32)
	if _, err := io.ReadFull(in.rand, n); err != nil {
		panic(err)
	}
	return n
}

// SAInit builds the IKE_SA_INIT request (a fresh SPIi unless one is kept
// for a retry).
func (in *initiator) SAInit() ([]byte, error) {
	if in.spii == 0 {
		var b [8]byte
		io.ReadFull(in.rand, b[:])
		in.spii = binary.BigEndian.Uint64(b[:]) | 1
	}
	dh, err := ike.NewDH(in.group, in.rand)
	if err != nil {
		return nil, err
	}
	in.dh, in.ni, in.nextID = dh, in.nonce(), 0
	m := message.Message{
		Header: message.Header{SPIi: in.spii, MajorVersion: 2, Exchange: message.IKE_SA_INIT, Flags: message.FlagInitiator},
		Payloads: []message.Payload{
			&message.SA{Proposals: in.ikeProposals},
			&message.KE{Group: uint16(in.group), Data: dh.Public()},
			&message.Nonce{Data: in.ni},
			&message.Notify{NotifyType: message.NAT_DETECTION_SOURCE_IP, Data: natdHash(in.spii, 0, in.claimedLocal)},
			&message.Notify{NotifyType: message.NAT_DETECTION_DESTINATION_IP, Data: natdHash(in.spii, 0, in.claimedRemote)},
		},
	}
	in.initReq, err = m.Serialize()
	in.nextID = 1
	return in.initReq, err
}

// ProcessSAInit reads the IKE_SA_INIT response and derives the IKE keys.
// INVALID_KE_PAYLOAD switches the guessed group, so SAInit can be retried.
func (in *initiator) ProcessSAInit(pkt []byte) error {
	m, err := message.Parse(bytes.Clone(pkt))
	if err != nil {
		return err
	}
	if !m.Header.IsResponse() || m.Header.SPIi != in.spii || m.Header.Exchange != message.IKE_SA_INIT {
		return fmt.Errorf("not our IKE_SA_INIT response: %v", m.Header)
	}
	for _, n := range m.Notifies() {
		if n.NotifyType.IsError() {
			if n.NotifyType == message.INVALID_KE_PAYLOAD && len(n.Data) == 2 {
				in.group = suite.DHGroup(binary.BigEndian.Uint16(n.Data))
			}
			return &errNotify{n.NotifyType, n.Data}
		}
	}
	sap, _ := m.Find(message.PayloadSA).(*message.SA)
	ke, _ := m.Find(message.PayloadKE).(*message.KE)
	nonce, _ := m.Find(message.PayloadNonce).(*message.Nonce)
	if sap == nil || ke == nil || nonce == nil || len(sap.Proposals) != 1 {
		return errors.New("IKE_SA_INIT response lacks SA, KE or Nonce")
	}
	in.suite, _ = suiteOf(sap.Proposals[0])
	if suite.DHGroup(ke.Group) != in.suite.DH || in.suite.DH != in.group {
		return fmt.Errorf("responder KE group %d, chose %d", ke.Group, in.suite.DH)
	}
	gir, err := in.dh.SharedSecret(ke.Data)
	if err != nil {
		return err
	}
	in.spir, in.nr, in.initResp = m.Header.SPIr, nonce.Data, m.Raw
	return in.setKeys(ike.DeriveIKEKeys(in.suite, in.ni, in.nr, gir, in.spii, in.spir))
}

func (in *initiator) setKeys(k *ike.IKEKeys, err error) error {
	if err != nil {
		return err
	}
	in.keys = k
	if in.out, err = ike.NewProtector(in.suite.Cipher, in.suite.Integ, k.SKei, k.SKai); err != nil {
		return err
	}
	in.in, err = ike.NewProtector(in.suite.Cipher, in.suite.Integ, k.SKer, k.SKar)
	return err
}

// Request seals a request of the given exchange with the next message ID.
func (in *initiator) Request(ex message.ExchangeType, ps []message.Payload) ([]byte, error) {
	h := message.Header{SPIi: in.spii, SPIr: in.spir, MajorVersion: 2, Exchange: ex, Flags: message.FlagInitiator, MessageID: in.nextID}
	inner, plain, err := message.SerializePayloads(ps)
	if err != nil {
		return nil, err
	}
	n := in.out.SealedLen(len(plain))
	pkt := message.AppendEncryptedHeader(nil, h, inner, n)
	in.nextID++
	return append(pkt, in.out.Seal(pkt, plain, in.rand)...), nil
}

// RequestRaw seals an arbitrary inner payload chain (for fuzzing the
// responder's handlers past the integrity check).
func (in *initiator) RequestRaw(ex message.ExchangeType, first message.PayloadType, plain []byte) []byte {
	h := message.Header{SPIi: in.spii, SPIr: in.spir, MajorVersion: 2, Exchange: ex, Flags: message.FlagInitiator, MessageID: in.nextID}
	n := in.out.SealedLen(len(plain))
	pkt := message.AppendEncryptedHeader(nil, h, first, n)
	in.nextID++
	return append(pkt, in.out.Seal(pkt, plain, in.rand)...)
}

// Open checks and decrypts a message from the responder.
func (in *initiator) Open(pkt []byte) (message.Header, []message.Payload, error) {
	m, err := message.Parse(bytes.Clone(pkt))
	if err != nil {
		return message.Header{}, nil, err
	}
	sk := m.Encrypted()
	if sk == nil || m.Header.SPIi != in.spii || m.Header.SPIr != in.spir {
		return m.Header, nil, fmt.Errorf("not an encrypted message of our SA: %v", m.Header)
	}
	plain, err := in.in.Open(m.Raw[:sk.BodyOffset], sk.Body)
	if err != nil {
		return m.Header, nil, err
	}
	ps, err := message.ParsePayloads(sk.NextPayload, plain)
	return m.Header, ps, err
}

// childOffer is what the initiator proposes for a CHILD_SA.
type childOffer struct {
	proposals []message.Proposal // SPIs are the initiator's inbound SPI
	tsi, tsr  []message.TrafficSelector
	notifies  []message.Payload // e.g. INITIAL_CONTACT, REKEY_SA, USE_TRANSPORT_MODE
}

// Auth builds IKE_AUTH with IDi, AUTH and the first CHILD_SA.
func (in *initiator) Auth(c childOffer) ([]byte, error) {
	auth := ike.PSKAuth(in.suite.PRF, in.psk, in.initReq, in.nr, in.keys.SKpi, in.id.Body())
	ps := []message.Payload{in.id}
	ps = append(ps, c.notifies...)
	ps = append(ps, &message.Auth{Method: message.AuthSharedKeyMIC, Data: auth},
		&message.SA{Proposals: c.proposals},
		&message.TrafficSelectors{Initiator: true, Selectors: c.tsi},
		&message.TrafficSelectors{Initiator: false, Selectors: c.tsr})
	return in.Request(message.IKE_AUTH, ps)
}

// childResult as the initiator sees it.
type initChild struct {
	inSPI, outSPI uint32 // initiator's inbound (the responder's outbound) and outbound
	esp           suite.ESP
	iToR, rToI    ike.ChildKeys
	tsi, tsr      []message.TrafficSelector
}

// ProcessAuth verifies the responder's AUTH and derives the first child's keys.
func (in *initiator) ProcessAuth(pkt []byte, offered childOffer) (*initChild, error) {
	h, ps, err := in.Open(pkt)
	if err != nil {
		return nil, err
	}
	if !h.IsResponse() || h.Exchange != message.IKE_AUTH {
		return nil, fmt.Errorf("not an IKE_AUTH response: %v", h)
	}
	if n := firstError(ps); n != nil && findType(ps, message.PayloadAUTH) == nil {
		return nil, n
	}
	idr, _ := findType(ps, message.PayloadIDr).(*message.ID)
	auth, _ := findType(ps, message.PayloadAUTH).(*message.Auth)
	if idr == nil || auth == nil {
		return nil, errors.New("IKE_AUTH response lacks IDr or AUTH")
	}
	want := ike.PSKAuth(in.suite.PRF, in.psk, in.initResp, in.ni, in.keys.SKpr, idr.Body())
	if subtle.ConstantTimeCompare(want, auth.Data) != 1 {
		return nil, errors.New("responder AUTH does not verify")
	}
	return in.child(ps, offered, nil, in.ni, in.nr)
}

// child reads SA/TS of a response and derives the CHILD_SA keys.
func (in *initiator) child(ps []message.Payload, offered childOffer, gir, ni, nr []byte) (*initChild, error) {
	if n := firstError(ps); n != nil {
		return nil, n
	}
	sap, _ := findType(ps, message.PayloadSA).(*message.SA)
	tsi, _ := findType(ps, message.PayloadTSi).(*message.TrafficSelectors)
	tsr, _ := findType(ps, message.PayloadTSr).(*message.TrafficSelectors)
	if sap == nil || tsi == nil || tsr == nil || len(sap.Proposals) != 1 || len(sap.Proposals[0].SPI) != 4 {
		return nil, errors.New("no usable CHILD_SA in response")
	}
	chosen := sap.Proposals[0]
	var inSPI uint32
	for _, p := range offered.proposals {
		if p.Number == chosen.Number {
			inSPI = binary.BigEndian.Uint32(p.SPI)
		}
	}
	_, esp := suiteOf(chosen)
	iToR, rToI, err := ike.DeriveChildKeys(in.suite.PRF, in.keys.SKd, gir, ni, nr, esp)
	if err != nil {
		return nil, err
	}
	return &initChild{inSPI: inSPI, outSPI: binary.BigEndian.Uint32(chosen.SPI), esp: esp,
		iToR: iToR, rToI: rToI, tsi: tsi.Selectors, tsr: tsr.Selectors}, nil
}

// pendingChild is a CREATE_CHILD_SA in flight.
type pendingChild struct {
	offer childOffer
	ni    []byte
	dh    ike.DH
}

// CreateChild builds CREATE_CHILD_SA for a new (or, with a REKEY_SA notify
// in offer, rekeyed) CHILD_SA; pfs 0 sends no KE.
func (in *initiator) CreateChild(offer childOffer, pfs suite.DHGroup) ([]byte, *pendingChild, error) {
	pc := &pendingChild{offer: offer, ni: in.nonce()}
	ps := append([]message.Payload{}, offer.notifies...)
	ps = append(ps, &message.SA{Proposals: offer.proposals}, &message.Nonce{Data: pc.ni})
	if pfs != 0 {
		dh, err := ike.NewDH(pfs, in.rand)
		if err != nil {
			return nil, nil, err
		}
		pc.dh = dh
		ps = append(ps, &message.KE{Group: uint16(pfs), Data: dh.Public()})
	}
	ps = append(ps, &message.TrafficSelectors{Initiator: true, Selectors: offer.tsi},
		&message.TrafficSelectors{Initiator: false, Selectors: offer.tsr})
	pkt, err := in.Request(message.CREATE_CHILD_SA, ps)
	return pkt, pc, err
}

func (in *initiator) ProcessCreateChild(pkt []byte, pc *pendingChild) (*initChild, error) {
	_, ps, err := in.Open(pkt)
	if err != nil {
		return nil, err
	}
	if n := firstError(ps); n != nil {
		return nil, n
	}
	nonce, _ := findType(ps, message.PayloadNonce).(*message.Nonce)
	if nonce == nil {
		return nil, errors.New("CREATE_CHILD_SA response without nonce")
	}
	var gir []byte
	if pc.dh != nil {
		ke, _ := findType(ps, message.PayloadKE).(*message.KE)
		if ke == nil {
			return nil, errors.New("PFS requested, no KE in response")
		}
		if gir, err = pc.dh.SharedSecret(ke.Data); err != nil {
			return nil, err
		}
	}
	return in.child(ps, pc.offer, gir, pc.ni, nonce.Data)
}

// RekeyIKE builds CREATE_CHILD_SA rekeying the IKE SA with one proposal.
func (in *initiator) RekeyIKE(p message.Proposal) ([]byte, *initiator, error) {
	next := *in
	var b [8]byte
	io.ReadFull(in.rand, b[:])
	next.spii = binary.BigEndian.Uint64(b[:]) | 1
	p.SPI = binary.BigEndian.AppendUint64(nil, next.spii)
	next.suite, _ = suiteOf(p)
	dh, err := ike.NewDH(next.suite.DH, in.rand)
	if err != nil {
		return nil, nil, err
	}
	next.dh, next.ni = dh, in.nonce()
	pkt, err := in.Request(message.CREATE_CHILD_SA, []message.Payload{
		&message.SA{Proposals: []message.Proposal{p}},
		&message.Nonce{Data: next.ni},
		&message.KE{Group: uint16(next.suite.DH), Data: dh.Public()},
	})
	return pkt, &next, err
}

// ProcessRekeyIKE completes the rekey on next (as returned by RekeyIKE).
func (in *initiator) ProcessRekeyIKE(pkt []byte, next *initiator) error {
	_, ps, err := in.Open(pkt)
	if err != nil {
		return err
	}
	if n := firstError(ps); n != nil {
		return n
	}
	sap, _ := findType(ps, message.PayloadSA).(*message.SA)
	nonce, _ := findType(ps, message.PayloadNonce).(*message.Nonce)
	ke, _ := findType(ps, message.PayloadKE).(*message.KE)
	if sap == nil || nonce == nil || ke == nil || len(sap.Proposals) != 1 || len(sap.Proposals[0].SPI) != 8 {
		return errors.New("IKE rekey response incomplete")
	}
	gir, err := next.dh.SharedSecret(ke.Data)
	if err != nil {
		return err
	}
	next.spir = binary.BigEndian.Uint64(sap.Proposals[0].SPI)
	next.nr = nonce.Data
	next.nextID = 0
	return next.setKeys(ike.DeriveRekeyedIKEKeys(in.suite.PRF, in.keys.SKd, next.suite, next.ni, next.nr, gir, next.spii, next.spir))
}

func firstError(ps []message.Payload) error {
	for _, n := range message.Notifies(ps) {
		if n.NotifyType.IsError() {
			return &errNotify{n.NotifyType, n.Data}
		}
	}
	return nil
}
