package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/ike/isakmp"
	"github.com/vpgw/vpgw/suite"
)

// One IKEv1 initiator (--ike-version 1) built from vpgw's IKEv1 pieces (ike:
// the V1 offers and selection, SKEYID family, CBC with IV chaining,
// HASH_I/R, Quick Mode hashes, KEYMAT; ike/isakmp: the wire format), sending
// what strongSwan sends:
//
//	MM1  HDR, SA, VID(RFC 3947), VID(DPD)            →
//	MM3  HDR, KE, Ni [, NAT-D, NAT-D]                →  NAT-D if the responder speaks RFC 3947
//	MM5  HDR*, IDii, HASH_I                          →  to port 4500 if NAT-D shows a NAT
//	QM1  HDR*, HASH(1), SA, Ni [, KE], IDci, IDcr    →  KE with --pfs
//	QM3  HDR*, HASH(3)                               →
//
// No INITIAL_CONTACT: the responder must keep every ISAKMP SA. Informational
// exchanges (info_v1.go) are one-way: the DELETEs get no answer.

// The lifetimes offered: AWS's phase 1 and phase 2 defaults.
const (
	v1IKELifetime   = 8 * time.Hour
	v1ChildLifetime = time.Hour
)

// v1SA is an established ISAKMP SA and its IPsec SA pair, kept until they
// are deleted.
type v1SA struct {
	link
	p             *params
	ckyI, ckyR    uint64
	suite         ike.V1Suite
	keys          *ike.V1Keys
	cbc           *ike.V1CBC
	lastBlock     []byte // phase 1's last CBC block: informational IVs derive from it
	inSPI, outSPI uint32 // the IPsec SA pair: ours (the responder sends with it) and the responder's
	qm2, qm3      []byte // a retransmitted QM2 (QM3 lost) gets QM3 again while held
	gone          bool   // the responder deleted the ISAKMP SA (seen by serve)
	childGone     bool   // the responder deleted the IPsec SA (seen by serve)
}

// mainMode is Main Mode's throw-away state.
type mainMode struct {
	saiBody  []byte // SAi_b as sent: HASH_I and HASH_R cover it
	dh       ike.DH
	gxi, gxr []byte
	ni, nr   []byte
	iv       []byte // phase 1's CBC chain
}

// establishV1 runs Main Mode and one Quick Mode on a fresh socket. On
// success the SA keeps its socket for the DELETEs.
func establishV1(p *params) (session, error) {
	l, localAP, err := dial(p)
	if err != nil {
		return nil, fail("socket", "%v", err)
	}
	sa := &v1SA{link: l, p: p, ckyI: randUint64()}
	ok := false
	defer func() {
		if !ok {
			sa.close()
		}
	}()
	if err := sa.mainMode(localAP); err != nil {
		return nil, err
	}
	if err := sa.quickMode(); err != nil {
		return nil, err
	}
	ok = true
	return sa, nil
}

func (sa *v1SA) header(ex isakmp.ExchangeType, mid uint32) isakmp.Header {
	return isakmp.Header{ICookie: sa.ckyI, RCookie: sa.ckyR, Version: isakmp.Version, Exchange: ex, MessageID: mid}
}

// parse returns nil for anything that is not an ISAKMP message of this SA.
func (sa *v1SA) parse(b []byte) *isakmp.Message {
	m, err := isakmp.Parse(b)
	if err != nil || m.Header.ICookie != sa.ckyI || (sa.ckyR != 0 && m.Header.RCookie != sa.ckyR) {
		return nil
	}
	return m
}

func (sa *v1SA) encrypt(h isakmp.Header, first isakmp.PayloadType, chain, iv []byte) (pkt, nextIV []byte) {
	ct, nextIV := sa.cbc.Encrypt(iv, chain)
	return isakmp.AppendEncrypted(nil, h, first, ct), nextIV
}

func (sa *v1SA) decrypt(m *isakmp.Message, iv []byte) (plain []byte, ps []isakmp.Payload, nextIV []byte, err error) {
	if !m.Header.Encrypted() {
		return nil, nil, nil, errors.New("not encrypted")
	}
	if plain, nextIV, err = sa.cbc.Decrypt(iv, m.Body); err != nil {
		return nil, nil, nil, err
	}
	ps, err = isakmp.ParsePayloads(m.Header.NextPayload, plain)
	return plain, ps, nextIV, err
}

// refusal returns the first error notify among ps, nil if none.
func refusal(ps []isakmp.Payload) *isakmp.Notification {
	for _, n := range isakmp.Notifications(ps) {
		if n.NotifyType < 16384 {
			return n
		}
	}
	return nil
}

// exchangeMM sends a Main Mode message and returns the responder's answer,
// which want tells from retransmits of its earlier ones. A clear notify
// refusing the exchange ends it.
func (sa *v1SA) exchangeMM(step string, pkt []byte, want func(*isakmp.Message) bool) (*isakmp.Message, error) {
	var got *isakmp.Message
	var refused *isakmp.Notification
	err := sa.exchange(sa.p.timeouts, pkt, func(b []byte) bool {
		m := sa.parse(b)
		switch {
		case m == nil:
		case m.Header.Exchange == isakmp.ExchangeInformational && !m.Header.Encrypted():
			refused = refusal(m.Payloads)
		case m.Header.Exchange == isakmp.ExchangeMainMode && want(m):
			got = m
		}
		return got != nil || refused != nil
	})
	switch {
	case refused != nil:
		return nil, fail(step, "responder answered %s", refused.NotifyType)
	case err != nil:
		return nil, fail(step, "%v", err)
	}
	return got, nil
}

func (sa *v1SA) mainMode(localAP netip.AddrPort) error {
	p, mm := sa.p, &mainMode{}

	// MM1 → MM2: the responder's choice among our transforms.
	offer := ike.V1IKETransforms(p.ikePol, v1IKELifetime)
	sap := &isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SitIdentityOnly,
		Proposals: []isakmp.Proposal{{Number: 1, ProtocolID: isakmp.ProtoISAKMP, Transforms: offer}}}
	var err error
	if mm.saiBody, err = sap.Serialize(); err != nil {
		return fail("MM1", "serialize: %v", err)
	}
	pkt, err := (&isakmp.Message{Header: sa.header(isakmp.ExchangeMainMode, 0), Payloads: []isakmp.Payload{
		sap, &isakmp.VendorID{Data: isakmp.VIDRFC3947}, &isakmp.VendorID{Data: isakmp.VIDDPD}}}).Serialize()
	if err != nil {
		return fail("MM1", "serialize: %v", err)
	}
	m2, err := sa.exchangeMM("MM1", pkt, func(m *isakmp.Message) bool {
		_, hasSA := isakmp.Find(m.Payloads, isakmp.PayloadSA).(*isakmp.SA)
		return !m.Header.Encrypted() && m.Header.RCookie != 0 && hasSA
	})
	if err != nil {
		return err
	}
	chosen, _ := isakmp.Find(m2.Payloads, isakmp.PayloadSA).(*isakmp.SA)
	if len(chosen.Proposals) != 1 {
		return fail("MM2", "responder chose %d proposals", len(chosen.Proposals))
	}
	_, st, err := ike.SelectV1IKE(chosen.Proposals[0].Transforms, p.ikePol, 0)
	if err != nil || len(chosen.Proposals[0].Transforms) != 1 || st.DH != p.group {
		return fail("MM2", "responder chose %s", ike.V1TransformsString(chosen.Proposals[0].Transforms))
	}
	sa.suite, sa.ckyR = st, m2.Header.RCookie
	natT := isakmp.HasVendorID(m2.Payloads, isakmp.VIDRFC3947)

	// MM3 → MM4: Diffie-Hellman, nonces, NAT detection.
	if mm.dh, err = ike.NewDH(st.DH, rand.Reader); err != nil {
		return fail("MM3", "DH: %v", err)
	}
	mm.gxi, mm.ni = mm.dh.Public(), make([]byte, nonceLen)
	_, _ = rand.Read(mm.ni)
	ps := []isakmp.Payload{&isakmp.KE{Data: mm.gxi}, &isakmp.Nonce{Data: mm.ni}}
	if natT {
		// RFC 3947 §3.2: the responder's address first, then ours.
		ps = append(ps, &isakmp.NATD{Hash: ike.V1NATDHash(st.Hash, sa.ckyI, sa.ckyR, sa.remote)},
			&isakmp.NATD{Hash: ike.V1NATDHash(st.Hash, sa.ckyI, sa.ckyR, localAP)})
	}
	if pkt, err = (&isakmp.Message{Header: sa.header(isakmp.ExchangeMainMode, 0), Payloads: ps}).Serialize(); err != nil {
		return fail("MM3", "serialize: %v", err)
	}
	m4, err := sa.exchangeMM("MM3", pkt, func(m *isakmp.Message) bool {
		_, hasKE := isakmp.Find(m.Payloads, isakmp.PayloadKE).(*isakmp.KE)
		return !m.Header.Encrypted() && hasKE
	})
	if err != nil {
		return err
	}
	ke, _ := isakmp.Find(m4.Payloads, isakmp.PayloadKE).(*isakmp.KE)
	nonce, ok := isakmp.Find(m4.Payloads, isakmp.PayloadNonce).(*isakmp.Nonce)
	if !ok || len(nonce.Data) < 8 || len(nonce.Data) > 256 {
		return fail("MM4", "no usable nonce")
	}
	gxy, err := mm.dh.SharedSecret(ke.Data)
	if err != nil {
		return fail("MM4", "KE: %v", err)
	}
	defer clear(gxy)
	mm.gxr, mm.nr = ke.Data, nonce.Data
	if sa.keys, err = ike.DeriveV1Keys(st, p.psk, mm.ni, mm.nr, gxy, sa.ckyI, sa.ckyR); err != nil {
		return fail("MM4", "keys: %v", err)
	}
	if sa.cbc, err = ike.NewV1CBC(st.Cipher, sa.keys.EncKey); err != nil {
		return fail("MM4", "%v", err)
	}
	mm.iv = ike.V1Phase1IV(st.Hash, mm.gxi, mm.gxr, sa.cbc.BlockSize())
	if natT && natDetected(isakmp.NATDs(m4.Payloads), st.Hash, sa.ckyI, sa.ckyR, localAP, sa.remote) {
		// RFC 3947 §4: MM5 on goes to port 4500 (strongSwan with
		// kernel-libipsec always fakes a NAT).
		sa.floatNATT()
	}

	// MM5 → MM6: authentication with the PSK.
	id := isakmp.IDFromAddr(p.local)
	idb, _ := id.Serialize()
	first, chain, err := isakmp.SerializePayloads([]isakmp.Payload{id,
		&isakmp.Hash{Data: ike.V1HashI(st, sa.keys.SKEYID, mm.gxi, mm.gxr, sa.ckyI, sa.ckyR, mm.saiBody, idb)}})
	if err != nil {
		return fail("MM5", "serialize: %v", err)
	}
	pkt, mm.iv = sa.encrypt(sa.header(isakmp.ExchangeMainMode, 0), first, chain, mm.iv)
	m6, err := sa.exchangeMM("MM5", pkt, func(m *isakmp.Message) bool { return m.Header.Encrypted() })
	if err != nil {
		return err
	}
	_, ps, next, err := sa.decrypt(m6, mm.iv)
	if err != nil {
		return fail("MM6", "does not decrypt (PSK mismatch?)")
	}
	idr, ok1 := isakmp.Find(ps, isakmp.PayloadID).(*isakmp.ID)
	hash, ok2 := isakmp.Find(ps, isakmp.PayloadHash).(*isakmp.Hash)
	if !ok1 || !ok2 {
		return fail("MM6", "no ID or HASH")
	}
	want := ike.V1HashR(st, sa.keys.SKEYID, mm.gxi, mm.gxr, sa.ckyI, sa.ckyR, mm.saiBody, idr.Raw())
	if subtle.ConstantTimeCompare(want, hash.Data) != 1 {
		return fail("MM6", "HASH_R does not verify (PSK mismatch?)")
	}
	sa.lastBlock = next
	return nil
}

// natDetected checks the responder's NAT-D payloads against the addresses
// as we see them (RFC 3947 §3.2): the first hashes us, the others the
// responder; a mismatch on either side is a NAT.
func natDetected(ds []*isakmp.NATD, h suite.PRF, ckyI, ckyR uint64, local, remote netip.AddrPort) bool {
	if len(ds) < 2 {
		return false
	}
	if subtle.ConstantTimeCompare(ds[0].Hash, ike.V1NATDHash(h, ckyI, ckyR, local)) != 1 {
		return true
	}
	want := ike.V1NATDHash(h, ckyI, ckyR, remote)
	for _, d := range ds[1:] {
		if subtle.ConstantTimeCompare(d.Hash, want) == 1 {
			return false
		}
	}
	return true
}

func randMsgID() uint32 {
	for {
		if v := uint32(randUint64()); v != 0 {
			return v
		}
	}
}

// quickMode sets up the IPsec SA pair: ESP in tunnel mode (UDP-encapsulated
// behind a NAT) between the first --tsi and --tsr prefixes.
func (sa *v1SA) quickMode() error {
	p := sa.p
	encap := uint16(isakmp.EncapTunnel)
	if sa.natt {
		encap = isakmp.EncapUDPTunnel
	}
	mid := randMsgID()
	sa.inSPI = uint32(randUint64()) | 0x100 // not 1–255 (reserved, RFC 4303 §2.1)
	ni := make([]byte, nonceLen)
	_, _ = rand.Read(ni)
	ps := []isakmp.Payload{
		&isakmp.SA{DOI: isakmp.DOIIPsec, Situation: isakmp.SitIdentityOnly, Proposals: []isakmp.Proposal{{
			Number: 1, ProtocolID: isakmp.ProtoIPsecESP, SPI: binary.BigEndian.AppendUint32(nil, sa.inSPI),
			Transforms: ike.V1ESPTransforms(p.espPol, p.pfs, encap, v1ChildLifetime)}}},
		&isakmp.Nonce{Data: ni},
	}
	var dh ike.DH
	if p.pfs != 0 {
		var err error
		if dh, err = ike.NewDH(p.pfs, rand.Reader); err != nil {
			return fail("QM1", "DH: %v", err)
		}
		ps = append(ps, &isakmp.KE{Data: dh.Public()})
	}
	ps = append(ps, isakmp.IDFromPrefix(p.tsi[0]), isakmp.IDFromPrefix(p.tsr[0]))
	first, chain, err := ike.V1HashedChain(ps, func(after []byte) []byte {
		return ike.V1QuickHash1(sa.suite.Hash, sa.keys.SKEYIDa, mid, after)
	})
	if err != nil {
		return fail("QM1", "serialize: %v", err)
	}
	qm1, iv := sa.encrypt(sa.header(isakmp.ExchangeQuickMode, mid), first, chain,
		ike.V1PhaseIV(sa.suite.Hash, sa.lastBlock, mid, sa.cbc.BlockSize()))

	// QM2, verified by HASH(2); or the responder's refusal in an informational.
	var answer []isakmp.Payload
	var refused *isakmp.Notification
	err = sa.exchange(p.timeouts, qm1, func(b []byte) bool {
		m := sa.parse(b)
		if m == nil || !m.Header.Encrypted() {
			return false
		}
		switch m.Header.Exchange {
		case isakmp.ExchangeQuickMode:
			if m.Header.MessageID != mid {
				return false
			}
			plain, ps, next, err := sa.decrypt(m, iv)
			if err != nil {
				return false
			}
			hash, after, ok := ike.V1HashedPayloads(m.Header.NextPayload, plain, ps)
			if !ok || subtle.ConstantTimeCompare(hash, ike.V1QuickHash2(sa.suite.Hash, sa.keys.SKEYIDa, mid, ni, after)) != 1 {
				return false
			}
			answer, iv, sa.qm2 = ps[1:], next, b
			return true
		case isakmp.ExchangeInformational:
			ps, err := sa.openInfo(m)
			if err != nil {
				return false
			}
			refused = refusal(ps)
			sa.takeInfo(ps)
			return refused != nil
		}
		return false
	})
	switch {
	case refused != nil:
		return fail("QM1", "responder answered %s", refused.NotifyType)
	case err != nil:
		return fail("QM1", "%v", err)
	}

	chosen, ok1 := isakmp.Find(answer, isakmp.PayloadSA).(*isakmp.SA)
	nonce, ok2 := isakmp.Find(answer, isakmp.PayloadNonce).(*isakmp.Nonce)
	if !ok1 || !ok2 || len(chosen.Proposals) != 1 || len(chosen.Proposals[0].SPI) != 4 || len(chosen.Proposals[0].Transforms) != 1 {
		return fail("QM2", "no single chosen transform or no nonce")
	}
	_, esp, group, _, _, err := ike.SelectV1ESP(chosen.Proposals, p.espPol, p.pfs, 0)
	if err != nil || group != p.pfs {
		return fail("QM2", "responder chose %s", ike.V1ProposalsString(chosen.Proposals))
	}
	var gqmxy []byte
	ke, hasKE := isakmp.Find(answer, isakmp.PayloadKE).(*isakmp.KE)
	if hasKE != (dh != nil) {
		return fail("QM2", "PFS mismatch: KE payload %v", hasKE)
	}
	if dh != nil {
		if gqmxy, err = dh.SharedSecret(ke.Data); err != nil {
			return fail("QM2", "KE: %v", err)
		}
		defer clear(gqmxy)
	}
	sa.outSPI = binary.BigEndian.Uint32(chosen.Proposals[0].SPI)
	// Derive the IPsec SA's keys as a real initiator would (and check that
	// the responder's choice works with vpgw's key schedule).
	in, out, err := ike.DeriveV1ChildKeys(sa.suite.Hash, sa.keys.SKEYIDd, gqmxy, ni, nonce.Data, sa.inSPI, sa.outSPI, esp)
	if err != nil {
		return fail("QM2", "keys: %v", err)
	}
	for _, k := range [][]byte{in.Encr, in.Integ, out.Encr, out.Integ} {
		clear(k)
	}

	// QM3: the responder installs the IPsec SA on it.
	first, chain, err = isakmp.SerializePayloads([]isakmp.Payload{
		&isakmp.Hash{Data: ike.V1QuickHash3(sa.suite.Hash, sa.keys.SKEYIDa, mid, ni, nonce.Data)}})
	if err != nil {
		return fail("QM3", "serialize: %v", err)
	}
	sa.qm3, _ = sa.encrypt(sa.header(isakmp.ExchangeQuickMode, mid), first, chain, iv)
	if err := sa.send(sa.qm3); err != nil {
		return fail("QM3", "send: %v", err)
	}
	return nil
}
