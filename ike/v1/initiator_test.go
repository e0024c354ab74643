package v1

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
	"github.com/vpgw/vpgw/suite"
)

// initiator is a minimal IKEv1 initiator (Main Mode with PSK, Quick Mode,
// informational) built from the same codec and crypto as the responder,
// modelled on what strongSwan sends: it builds requests and checks
// responses, with no I/O or timers of its own.
type initiator struct {
	rand io.Reader
	psk  []byte
	id   *isakmp.ID

	// Addresses as the initiator believes them, for NAT-D. A NAT in between
	// makes the responder see another source.
	claimedLocal, claimedRemote netip.AddrPort

	transforms     []isakmp.Transform // phase-1 offer
	vids           [][]byte
	initialContact bool

	ckyI, ckyR   uint64
	suite        ike.V1Suite
	saiBody      []byte
	dh           ike.DH
	gxi, gxr     []byte
	ni, nr       []byte
	keys         *ike.V1Keys
	cbc          *ike.V1CBC
	iv           []byte // phase-1 CBC chain
	lastBlock    []byte
	natT         bool // the responder answered a NAT-T vendor ID
	responderDPD bool
}

// errNotify is a responder's notify as an error.
type errNotify struct {
	t    isakmp.NotifyType
	data []byte
}

func (e *errNotify) Error() string { return "peer answered " + e.t.String() }

// p1Transform builds a phase-1 transform as strongSwan does.
func p1Transform(num uint8, c suite.Cipher, hash uint16, group suite.DHGroup, life time.Duration) isakmp.Transform {
	attrs := []isakmp.Attribute{
		isakmp.BasicAttr(isakmp.AttrEncryption, isakmp.EncrAESCBC),
		isakmp.BasicAttr(isakmp.AttrKeyLength, uint16(c.KeyBits)),
		isakmp.BasicAttr(isakmp.AttrHash, hash),
		isakmp.BasicAttr(isakmp.AttrGroup, uint16(group)),
		isakmp.BasicAttr(isakmp.AttrAuthMethod, isakmp.AuthPSK),
		isakmp.BasicAttr(isakmp.AttrLifeType, isakmp.LifeSeconds),
		isakmp.VarAttr(isakmp.AttrLifeDuration, uint64(life/time.Second)),
	}
	return isakmp.Transform{Number: num, ID: isakmp.TransformKeyIKE, Attributes: attrs}
}

// espTransform builds a quick mode ESP transform; group 0 means no PFS.
func espTransform(num uint8, c suite.Cipher, authAlg uint16, group suite.DHGroup, encap uint16, life time.Duration) isakmp.Transform {
	id := uint8(isakmp.ESP_AES)
	if c.IsAEAD() {
		id = isakmp.ESP_AES_GCM_16
	}
	attrs := []isakmp.Attribute{
		isakmp.BasicAttr(isakmp.AttrSALifeType, isakmp.LifeSeconds),
		isakmp.VarAttr(isakmp.AttrSALifeDuration, uint64(life/time.Second)),
		isakmp.BasicAttr(isakmp.AttrEncapMode, encap),
		isakmp.BasicAttr(isakmp.AttrIPsecKeyLength, uint16(c.KeyBits)),
	}
	if authAlg != 0 {
		attrs = append(attrs, isakmp.BasicAttr(isakmp.AttrAuthAlg, authAlg))
	}
	if group != 0 {
		attrs = append(attrs, isakmp.BasicAttr(isakmp.AttrGroupDesc, uint16(group)))
	}
	return isakmp.Transform{Number: num, ID: id, Attributes: attrs}
}

func newInitiator(ts ...isakmp.Transform) *initiator {
	return &initiator{
		rand: detRand(2), psk: testPSK,
		id:           isakmp.IDFromAddr(cgwAddr),
		claimedLocal: lanAddr, claimedRemote: vgw500,
		transforms: ts,
		vids:       [][]byte{vidDPD, vidRFC3947, vidDraft02N},
	}
}

func (in *initiator) random(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(in.rand, b); err != nil {
		panic(err)
	}
	return b
}

func (in *initiator) header(ex isakmp.ExchangeType, mid uint32) isakmp.Header {
	return isakmp.Header{ICookie: in.ckyI, RCookie: in.ckyR, Version: isakmp.Version, Exchange: ex, MessageID: mid}
}

func mustSerialize(m *isakmp.Message) []byte {
	b, err := m.Serialize()
	if err != nil {
		panic(err)
	}
	return b
}

// MM1 builds the first message (a fresh cookie unless one is kept).
func (in *initiator) MM1() []byte {
	if in.ckyI == 0 {
		in.ckyI = binary.BigEndian.Uint64(in.random(8)) | 1
	}
	sa := &isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SitIdentityOnly, Proposals: []isakmp.Proposal{
		{Number: 1, ProtocolID: isakmp.ProtoISAKMP, Transforms: in.transforms}}}
	ps := []isakmp.Payload{sa}
	for _, v := range in.vids {
		ps = append(ps, &isakmp.VendorID{Data: v})
	}
	pkt := mustSerialize(&isakmp.Message{Header: in.header(isakmp.ExchangeMainMode, 0), Payloads: ps})
	// SAi_b is the body as sent.
	in.saiBody, _ = sa.Serialize()
	return pkt
}

// clearError returns a clear informational's notify as an error.
func clearError(m *isakmp.Message) error {
	if m.Header.Exchange == isakmp.ExchangeInformational && !m.Header.Encrypted() {
		if n, ok := find[*isakmp.Notification](m.Payloads); ok {
			return &errNotify{n.NotifyType, n.Data}
		}
	}
	return nil
}

func (in *initiator) parse(pkt []byte) (*isakmp.Message, error) {
	if pkt == nil {
		return nil, errors.New("no response")
	}
	m, err := isakmp.Parse(bytes.Clone(pkt))
	if err != nil {
		return nil, err
	}
	if m.Header.ICookie != in.ckyI {
		return nil, fmt.Errorf("not our SA: %v", m.Header)
	}
	if err := clearError(m); err != nil {
		return nil, err
	}
	return m, nil
}

func (in *initiator) ProcessMM2(pkt []byte) error {
	m, err := in.parse(pkt)
	if err != nil {
		return err
	}
	sap, ok := find[*isakmp.SA](m.Payloads)
	if !ok || len(sap.Proposals) != 1 || len(sap.Proposals[0].Transforms) != 1 {
		return errors.New("MM2 without a single chosen transform")
	}
	_, st, err := ike.SelectV1IKE(sap.Proposals[0].Transforms, awsPolicy(), 0)
	if err != nil {
		return err
	}
	in.suite, in.ckyR = st, m.Header.RCookie
	in.natT = isakmp.HasVendorID(m.Payloads, vidRFC3947) || isakmp.HasVendorID(m.Payloads, vidDraft02N)
	in.responderDPD = isakmp.HasVendorID(m.Payloads, vidDPD)
	return nil
}

// natdFlavor: draft NAT-D payload numbers unless the RFC was offered.
func (in *initiator) natdFlavor() bool {
	for _, v := range in.vids {
		if bytes.Equal(v, vidRFC3947) {
			return false
		}
	}
	return true
}

func (in *initiator) MM3() []byte {
	dh, err := ike.NewDH(in.suite.DH, in.rand)
	if err != nil {
		panic(err)
	}
	in.dh, in.gxi, in.ni = dh, dh.Public(), in.random(32)
	ps := []isakmp.Payload{&isakmp.KE{Data: in.gxi}, &isakmp.Nonce{Data: in.ni}}
	if in.natT {
		draft := in.natdFlavor()
		ps = append(ps,
			&isakmp.NATD{Draft: draft, Hash: ike.V1NATDHash(in.suite.Hash, in.ckyI, in.ckyR, in.claimedRemote)},
			&isakmp.NATD{Draft: draft, Hash: ike.V1NATDHash(in.suite.Hash, in.ckyI, in.ckyR, in.claimedLocal)})
	}
	return mustSerialize(&isakmp.Message{Header: in.header(isakmp.ExchangeMainMode, 0), Payloads: ps})
}

func (in *initiator) ProcessMM4(pkt []byte) error {
	m, err := in.parse(pkt)
	if err != nil {
		return err
	}
	ke, ok1 := find[*isakmp.KE](m.Payloads)
	nonce, ok2 := find[*isakmp.Nonce](m.Payloads)
	if !ok1 || !ok2 {
		return errors.New("MM4 without KE or Nonce")
	}
	if in.natT && len(findAll[*isakmp.NATD](m.Payloads)) != 2 {
		return errors.New("MM4 without NAT-D")
	}
	gxy, err := in.dh.SharedSecret(ke.Data)
	if err != nil {
		return err
	}
	in.gxr, in.nr = ke.Data, nonce.Data
	if in.keys, err = ike.DeriveV1Keys(in.suite, in.psk, in.ni, in.nr, gxy, in.ckyI, in.ckyR); err != nil {
		return err
	}
	if in.cbc, err = ike.NewV1CBC(in.suite.Cipher, in.keys.EncKey); err != nil {
		return err
	}
	in.iv = ike.V1Phase1IV(in.suite.Hash, in.gxi, in.gxr, 16)
	return nil
}

func (in *initiator) encrypt(h isakmp.Header, first isakmp.PayloadType, chain, iv []byte) ([]byte, []byte) {
	ct, next := in.cbc.Encrypt(iv, chain)
	return isakmp.AppendEncrypted(nil, h, first, ct), next
}

func (in *initiator) decrypt(pkt []byte, iv []byte) (*isakmp.Message, []byte, []isakmp.Payload, []byte, error) {
	m, err := in.parse(pkt)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if !m.Header.Encrypted() {
		return nil, nil, nil, nil, fmt.Errorf("not encrypted: %v", m.Header)
	}
	plain, next, err := in.cbc.Decrypt(iv, m.Body)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ps, err := isakmp.ParsePayloads(m.Header.NextPayload, plain)
	return m, plain, ps, next, err
}

// MM5 builds IDii, HASH_I [, N(INITIAL_CONTACT)], encrypted.
func (in *initiator) MM5() []byte {
	idb, _ := in.id.Serialize()
	hash := ike.V1HashI(in.suite, in.keys.SKEYID, in.gxi, in.gxr, in.ckyI, in.ckyR, in.saiBody, idb)
	ps := []isakmp.Payload{in.id, &isakmp.Hash{Data: hash}}
	if in.initialContact {
		ps = append(ps, &isakmp.Notification{DOI: isakmp.DOIIPsec, ProtocolID: isakmp.ProtoISAKMP,
			SPI: cookieBytes(in.ckyI, in.ckyR), NotifyType: isakmp.INITIAL_CONTACT})
	}
	first, chain, err := isakmp.SerializePayloads(ps)
	if err != nil {
		panic(err)
	}
	pkt, next := in.encrypt(in.header(isakmp.ExchangeMainMode, 0), first, chain, in.iv)
	in.iv = next
	return pkt
}

func cookieBytes(i, r uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, i), r)
}

func (in *initiator) ProcessMM6(pkt []byte) error {
	_, _, ps, next, err := in.decrypt(pkt, in.iv)
	if err != nil {
		return err
	}
	id, ok1 := find[*isakmp.ID](ps)
	hash, ok2 := find[*isakmp.Hash](ps)
	if !ok1 || !ok2 {
		return errors.New("MM6 without ID or HASH")
	}
	want := ike.V1HashR(in.suite, in.keys.SKEYID, in.gxi, in.gxr, in.ckyI, in.ckyR, in.saiBody, id.Raw())
	if subtle.ConstantTimeCompare(want, hash.Data) != 1 {
		return errors.New("HASH_R does not verify")
	}
	in.lastBlock = next
	return nil
}

// qmOffer is what the initiator proposes in Quick Mode.
type qmOffer struct {
	spi        uint32
	transforms []isakmp.Transform
	pfs        suite.DHGroup
	ids        []*isakmp.ID // IDci, IDcr; nil for none
}

// pendingQM is a Quick Mode in flight.
type pendingQM struct {
	offer  qmOffer
	msgID  uint32
	iv     []byte
	ni, nr []byte
	dh     ike.DH
}

// initChild is the IPsec SA as the initiator sees it.
type initChild struct {
	inSPI, outSPI uint32 // initiator's inbound (the responder's outbound) and outbound
	esp           suite.ESP
	in, out       ike.ChildKeys
	ids           []*isakmp.ID
}

func (in *initiator) newMsgID() uint32 { return binary.BigEndian.Uint32(in.random(4)) | 1 }

func (in *initiator) QM1(o qmOffer) ([]byte, *pendingQM) {
	pq := &pendingQM{offer: o, msgID: in.newMsgID(), ni: in.random(32)}
	pq.iv = ike.V1PhaseIV(in.suite.Hash, in.lastBlock, pq.msgID, 16)
	ps := []isakmp.Payload{
		&isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SitIdentityOnly, Proposals: []isakmp.Proposal{
			{Number: 1, ProtocolID: isakmp.ProtoIPsecESP, SPI: binary.BigEndian.AppendUint32(nil, o.spi), Transforms: o.transforms}}},
		&isakmp.Nonce{Data: pq.ni},
	}
	if o.pfs != 0 {
		dh, err := ike.NewDH(o.pfs, in.rand)
		if err != nil {
			panic(err)
		}
		pq.dh = dh
		ps = append(ps, &isakmp.KE{Data: dh.Public()})
	}
	for _, id := range o.ids {
		ps = append(ps, id)
	}
	first, chain, err := ike.V1HashedChain(ps, func(after []byte) []byte {
		return ike.V1QuickHash1(in.suite.Hash, in.keys.SKEYIDa, pq.msgID, after)
	})
	if err != nil {
		panic(err)
	}
	pkt, next := in.encrypt(in.header(isakmp.ExchangeQuickMode, pq.msgID), first, chain, pq.iv)
	pq.iv = next
	return pkt, pq
}

func (in *initiator) ProcessQM2(pkt []byte, pq *pendingQM) (*initChild, error) {
	m, err := in.parse(pkt)
	if err != nil {
		return nil, err
	}
	if m.Header.Exchange == isakmp.ExchangeInformational {
		ps, err := in.OpenInfo(pkt)
		if err != nil {
			return nil, err
		}
		if n, ok := find[*isakmp.Notification](ps); ok {
			return nil, &errNotify{n.NotifyType, n.Data}
		}
		return nil, errors.New("informational instead of QM2")
	}
	if m.Header.MessageID != pq.msgID {
		return nil, fmt.Errorf("QM2 for message ID %d", m.Header.MessageID)
	}
	_, plain, ps, next, err := in.decrypt(pkt, pq.iv)
	if err != nil {
		return nil, err
	}
	hash, after, ok := ike.V1HashedPayloads(m.Header.NextPayload, plain, ps)
	if !ok || subtle.ConstantTimeCompare(hash, ike.V1QuickHash2(in.suite.Hash, in.keys.SKEYIDa, pq.msgID, pq.ni, after)) != 1 {
		return nil, errors.New("HASH(2) does not verify")
	}
	pq.iv = next
	sap, ok1 := find[*isakmp.SA](ps)
	nonce, ok2 := find[*isakmp.Nonce](ps)
	if !ok1 || !ok2 || len(sap.Proposals) != 1 || len(sap.Proposals[0].SPI) != 4 || len(sap.Proposals[0].Transforms) != 1 {
		return nil, errors.New("QM2 without a single chosen transform")
	}
	pq.nr = nonce.Data
	var gxy []byte
	if pq.dh != nil {
		ke, ok := find[*isakmp.KE](ps)
		if !ok {
			return nil, errors.New("PFS asked, QM2 without KE")
		}
		if gxy, err = pq.dh.SharedSecret(ke.Data); err != nil {
			return nil, err
		}
	}
	_, esp, _, _, _, err := ike.SelectV1ESP(sap.Proposals, awsPolicy(), pq.offer.pfs, 0)
	if err != nil {
		return nil, err
	}
	c := &initChild{inSPI: pq.offer.spi, outSPI: binary.BigEndian.Uint32(sap.Proposals[0].SPI), esp: esp,
		ids: findAll[*isakmp.ID](ps)}
	c.in, c.out, err = ike.DeriveV1ChildKeys(in.suite.Hash, in.keys.SKEYIDd, gxy, pq.ni, pq.nr, c.inSPI, c.outSPI, esp)
	return c, err
}

func (in *initiator) QM3(pq *pendingQM) []byte {
	hash := ike.V1QuickHash3(in.suite.Hash, in.keys.SKEYIDa, pq.msgID, pq.ni, pq.nr)
	first, chain, err := isakmp.SerializePayloads([]isakmp.Payload{&isakmp.Hash{Data: hash}})
	if err != nil {
		panic(err)
	}
	pkt, next := in.encrypt(in.header(isakmp.ExchangeQuickMode, pq.msgID), first, chain, pq.iv)
	pq.iv = next
	return pkt
}

// Info builds an informational exchange carrying ps.
func (in *initiator) Info(ps ...isakmp.Payload) []byte {
	mid := in.newMsgID()
	first, chain, err := ike.V1HashedChain(ps, func(after []byte) []byte {
		return ike.V1InfoHash(in.suite.Hash, in.keys.SKEYIDa, mid, after)
	})
	if err != nil {
		panic(err)
	}
	pkt, _ := in.encrypt(in.header(isakmp.ExchangeInformational, mid), first, chain,
		ike.V1PhaseIV(in.suite.Hash, in.lastBlock, mid, 16))
	return pkt
}

// OpenInfo decrypts and verifies an informational from the responder.
func (in *initiator) OpenInfo(pkt []byte) ([]isakmp.Payload, error) {
	m, err := in.parse(pkt)
	if err != nil {
		return nil, err
	}
	if m.Header.Exchange != isakmp.ExchangeInformational {
		return nil, fmt.Errorf("not informational: %v", m.Header)
	}
	mid := m.Header.MessageID
	_, plain, ps, _, err := in.decrypt(pkt, ike.V1PhaseIV(in.suite.Hash, in.lastBlock, mid, 16))
	if err != nil {
		return nil, err
	}
	hash, after, ok := ike.V1HashedPayloads(m.Header.NextPayload, plain, ps)
	if !ok || subtle.ConstantTimeCompare(hash, ike.V1InfoHash(in.suite.Hash, in.keys.SKEYIDa, mid, after)) != 1 {
		return nil, errors.New("informational HASH does not verify")
	}
	return ps[1:], nil
}

// rekeyed returns a fresh initiator for a second Main Mode (re-authentication)
// with the same configuration.
func (in *initiator) fresh() *initiator {
	n := newInitiator(in.transforms...)
	n.rand, n.psk, n.id, n.vids = in.rand, in.psk, in.id, in.vids
	n.claimedLocal, n.claimedRemote = in.claimedLocal, in.claimedRemote
	return n
}
