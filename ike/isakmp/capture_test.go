package isakmp

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"reflect"
	"testing"
)

// Facts below were read from testdata/strongswan-ikev1.pcap with tshark and
// checked by hand against RFC 2408 §3 / RFC 2409 / RFC 3947: strongSwan 5.9.8
// (198.51.100.2) initiating Main Mode aes128-sha256-modp2048 with PSK to a
// strongSwan responder (203.0.113.2), moving to 4500 for messages 5/6.

func TestCaptureMessages(t *testing.T) {
	c := loadCapture(t)
	type want struct {
		frame     int
		exchange  ExchangeType
		encrypted bool
		mid       uint32
		summary   string // PayloadsString for clear ones, first payload type for encrypted ones
	}
	wants := []want{
		{1, ExchangeMainMode, false, 0, "[SA V(XAuth) V(DPD) V(FRAGMENTATION) V(NAT-T (RFC 3947)) V(NAT-T draft-02\\n)]"},
		{2, ExchangeMainMode, false, 0, "[SA V(XAuth) V(DPD) V(FRAGMENTATION) V(NAT-T (RFC 3947))]"},
		{3, ExchangeMainMode, false, 0, "[KE Nonce NAT-D NAT-D]"},
		{4, ExchangeMainMode, false, 0, "[KE Nonce NAT-D NAT-D]"},
		{5, ExchangeMainMode, true, 0, "ID"},
		{6, ExchangeMainMode, true, 0, "ID"},
		{7, ExchangeQuickMode, true, 3950508140, "HASH"},
		{8, ExchangeQuickMode, true, 3950508140, "HASH"},
		{9, ExchangeQuickMode, true, 3950508140, "HASH"},
		{14, ExchangeInformational, true, 608284452, "HASH"},
		{15, ExchangeInformational, true, 1014491273, "HASH"},
	}
	if len(c) != len(wants) {
		t.Fatalf("found %d ISAKMP messages in the capture, want %d", len(c), len(wants))
	}
	for i, w := range wants {
		m, err := Parse(c[i].Data)
		if err != nil {
			t.Fatalf("frame %d: %v", c[i].Frame, err)
		}
		h := m.Header
		summary := PayloadsString(m.Payloads)
		if w.encrypted {
			summary = h.NextPayload.String()
		}
		if c[i].Frame != w.frame || h.Exchange != w.exchange || h.Encrypted() != w.encrypted ||
			h.MessageID != w.mid || summary != w.summary || h.Version != 0x10 ||
			h.ICookie != 0x183dcd8ced11ded0 || (w.frame > 1 && h.RCookie != 0x900b5909025466b9) {
			t.Errorf("frame %d: got %v %s, want %+v", c[i].Frame, h, summary, w)
		}
		if !bytes.Equal(m.Raw, c[i].Data) || !bytes.Equal(m.Body, c[i].Data[HeaderLen:]) {
			t.Errorf("frame %d: Raw/Body are not the input", c[i].Frame)
		}
		if w.encrypted {
			// Payloads stay unparsed; the ciphertext is whole AES blocks.
			if m.Payloads != nil || len(m.Body)%16 != 0 || len(m.Body) == 0 {
				t.Errorf("frame %d: encrypted body of %d bytes, %d payloads", c[i].Frame, len(m.Body), len(m.Payloads))
			}
		}
		// Every message, clear or encrypted, re-serializes byte for byte.
		out, err := m.Serialize()
		if err != nil || !bytes.Equal(out, c[i].Data) {
			t.Errorf("frame %d: re-serialized message differs (err %v)\n got %x\nwant %x", c[i].Frame, err, out, c[i].Data)
		}
		// Ports: messages 1-4 on 500, the rest on 4500 (NAT-T RFC 3947 §4).
		if port := c[i].Dst.Port(); (w.frame <= 4) != (port == 500) {
			t.Errorf("frame %d sent to port %d", c[i].Frame, port)
		}
	}
}

func TestCaptureMainMode1(t *testing.T) {
	req := loadCapture(t)[0]
	m, err := Parse(req.Data)
	if err != nil {
		t.Fatal(err)
	}
	if h := m.Header; h.RCookie != 0 || h.Flags != 0 || h.Length != 180 || h.NextPayload != PayloadSA {
		t.Errorf("header = %+v", h)
	}
	sa, ok := m.Find(PayloadSA).(*SA)
	if !ok {
		t.Fatal("no SA payload")
	}
	// One proposal, one KEY_IKE transform, all seven attributes in TV form
	// (strongSwan sends Life Duration as TV when it fits 16 bits: 15840 s is
	// 4h24m, its default rekey time plus margin).
	want := []Proposal{{Number: 1, ProtocolID: ProtoISAKMP, Transforms: []Transform{{
		Number: 1, ID: TransformKeyIKE, Attributes: []Attribute{
			BasicAttr(AttrEncryption, EncrAESCBC),
			BasicAttr(AttrKeyLength, 128),
			BasicAttr(AttrHash, HashSHA256),
			BasicAttr(AttrGroup, 14),
			BasicAttr(AttrAuthMethod, AuthPSK),
			BasicAttr(AttrLifeType, LifeSeconds),
			BasicAttr(AttrLifeDuration, 15840),
		}}}}}
	if sa.DOI != DOIIPsec || sa.Situation != SitIdentityOnly || !reflect.DeepEqual(sa.Proposals, want) {
		t.Errorf("SA = DOI %d sit %d %+v", sa.DOI, sa.Situation, sa.Proposals)
	}
	if got := sa.Proposals[0].String(); got !=
		"ISAKMP#1: KEY_IKE{ENCR=AES_CBC KEY_LEN=128 HASH=SHA2_256 GROUP=MODP_2048 AUTH=PSK LIFE_TYPE=SECONDS LIFE=15840}" {
		t.Errorf("proposal String = %q", got)
	}
	tr := sa.Proposals[0].Transforms[0]
	if v, ok := tr.AttrValue(AttrLifeDuration); !ok || v != 15840 {
		t.Errorf("life duration = %d, %v", v, ok)
	}
	if _, ok := tr.Attr(AttrPRF); ok {
		t.Error("PRF attribute found, strongSwan sends none")
	}
	// SAi_b, which HASH_I covers, is the SA body exactly as received.
	saRaw := mustHex("00000001000000010000002c01010001000000240101000080010007800e0080" +
		"800200048004000e80030001800b0001800c3de0")
	if !bytes.Equal(sa.Raw(), saRaw) || !bytes.Equal(req.Data[HeaderLen+4:HeaderLen+4+len(saRaw)], saRaw) {
		t.Errorf("SA Raw = %x", sa.Raw())
	}
	if b, _ := sa.Serialize(); !bytes.Equal(b, saRaw) {
		t.Errorf("SA re-encodes to %x", b)
	}

	// Vendor IDs: XAuth, DPD, Cisco/strongSwan fragmentation, NAT-T RFC 3947
	// and draft-02\n (the initiator offers both NAT-T flavours; the
	// responder in message 2 answers with RFC 3947 only).
	wantVIDs := [][]byte{VIDXAuth, VIDDPD, VIDFragmentation, VIDRFC3947, VIDDraft02N}
	if got := VendorIDs(m.Payloads); !reflect.DeepEqual(got, wantVIDs) {
		t.Errorf("vendor IDs = %x", got)
	}
	m2, _ := Parse(loadCapture(t)[1].Data)
	if got := VendorIDs(m2.Payloads); !reflect.DeepEqual(got, wantVIDs[:4]) {
		t.Errorf("message 2 vendor IDs = %x", got)
	}
	if HasVendorID(m2.Payloads, VIDDraft02N) || !HasVendorID(m2.Payloads, VIDRFC3947) {
		t.Error("HasVendorID on message 2")
	}

	// A message built from scratch with the constructors is the capture.
	built := &Message{
		Header: Header{ICookie: 0x183dcd8ced11ded0, Exchange: ExchangeMainMode},
		Payloads: []Payload{
			&SA{DOI: DOIIPsec, Situation: SitIdentityOnly, Proposals: want},
			&VendorID{Data: VIDXAuth}, &VendorID{Data: VIDDPD}, &VendorID{Data: VIDFragmentation},
			&VendorID{Data: VIDRFC3947}, &VendorID{Data: VIDDraft02N},
		},
	}
	if out, err := built.Serialize(); err != nil || !bytes.Equal(out, req.Data) {
		t.Errorf("built message 1 differs (err %v)\n got %x\nwant %x", err, out, req.Data)
	}
	// Same with Life Duration left to Serialize's choice: a variable
	// attribute is then a 4-byte TLV, the form strongSwan uses above 0xffff.
	want[0].Transforms[0].Attributes[6] = VarAttr(AttrLifeDuration, 15840)
	b, _ := (&SA{DOI: DOIIPsec, Situation: SitIdentityOnly, Proposals: want}).Serialize()
	if !bytes.HasSuffix(b, mustHex("000c000400003de0")) {
		t.Errorf("TLV life duration: %x", b)
	}
}

// Messages 3 and 4 carry KE, Nonce and two RFC 3947 NAT-D payloads (type
// 20). With SHA2-256 negotiated, NAT-D = SHA-256(CKY-I | CKY-R | IP | port);
// the first covers the destination, the second the source (RFC 3947 §3.2).
func TestCaptureNATD(t *testing.T) {
	for _, c := range loadCapture(t)[2:4] {
		m, err := Parse(c.Data)
		if err != nil {
			t.Fatal(err)
		}
		ke, _ := m.Find(PayloadKE).(*KE)
		nonce, _ := m.Find(PayloadNonce).(*Nonce)
		if ke == nil || len(ke.Data) != 256 || nonce == nil || len(nonce.Data) != 32 {
			t.Fatalf("frame %d: KE %v nonce %v", c.Frame, ke, nonce)
		}
		natd := NATDs(m.Payloads)
		if len(natd) != 2 || natd[0].Draft || natd[0].Type() != PayloadNATD {
			t.Fatalf("frame %d: NAT-D payloads %+v", c.Frame, natd)
		}
		dst := natdHash(m.Header, c.Dst.Addr().AsSlice(), c.Dst.Port())
		src := natdHash(m.Header, c.Src.Addr().AsSlice(), c.Src.Port())
		if !bytes.Equal(natd[0].Hash, dst) || !bytes.Equal(natd[0].Raw(), dst) {
			t.Errorf("frame %d: first NAT-D = %x, want %x", c.Frame, natd[0].Hash, dst)
		}
		// The lab runs both ends with encap=yes: strongSwan then fakes its
		// source NAT-D so the peer sees a NAT and both float to 4500 with
		// UDP encapsulation, though there is no NAT on the path.
		if len(natd[1].Hash) != sha256.Size || bytes.Equal(natd[1].Hash, src) {
			t.Errorf("frame %d: second NAT-D = %x, expected a faked source hash", c.Frame, natd[1].Hash)
		}
	}
	m, _ := Parse(loadCapture(t)[2].Data)
	if n := m.Payloads[1].(*Nonce); hex.EncodeToString(n.Data) != "d8528e0bfa491dc3fed7bf7702dd04923ed5b30b0f199e3d218af159d3f6e4af" {
		t.Errorf("Ni = %x", n.Data)
	}
}

func natdHash(h Header, ip []byte, port uint16) []byte {
	b := binary.BigEndian.AppendUint64(nil, h.ICookie)
	b = binary.BigEndian.AppendUint64(b, h.RCookie)
	b = append(b, ip...)
	sum := sha256.Sum256(binary.BigEndian.AppendUint16(b, port))
	return sum[:]
}

// Messages 5 and 6 are encrypted (IDii/HASH_I and IDir/HASH_R): only the
// header is decoded and the body kept for the caller to decrypt.
func TestCaptureMainMode5And6(t *testing.T) {
	for i, c := range loadCapture(t)[4:6] {
		m, err := Parse(c.Data)
		if err != nil {
			t.Fatal(err)
		}
		h := m.Header
		if h.Flags != FlagEncryption || h.NextPayload != PayloadID || m.Payloads != nil {
			t.Errorf("frame %d: header %+v, %d payloads", c.Frame, h, len(m.Payloads))
		}
		if wantLen := []int{96, 64}[i]; len(m.Body) != wantLen || &m.Body[0] != &c.Data[HeaderLen] {
			t.Errorf("frame %d: body of %d bytes, want %d aliasing the input", c.Frame, len(m.Body), wantLen)
		}
		if got := AppendEncrypted(nil, Header{ICookie: h.ICookie, RCookie: h.RCookie, Exchange: h.Exchange},
			PayloadID, m.Body); !bytes.Equal(got, c.Data) {
			t.Errorf("frame %d: AppendEncrypted differs", c.Frame)
		}
	}
}
