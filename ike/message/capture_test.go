package message

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"
)

// Facts below were read from the capture with tshark and checked by hand
// against RFC 7296 §3: strongSwan 5.9.8 proposing aes128-sha256-modp2048.

func TestCaptureMessages(t *testing.T) {
	c := loadCapture(t)
	type want struct {
		frame    int
		exchange ExchangeType
		response bool
		mid      uint32
		payloads string
	}
	wants := []want{
		{1, IKE_SA_INIT, false, 0, "[SA KE Nonce N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP) " +
			"N(IKEV2_FRAGMENTATION_SUPPORTED) N(SIGNATURE_HASH_ALGORITHMS) N(REDIRECT_SUPPORTED)]"},
		{2, IKE_SA_INIT, true, 0, "[SA KE Nonce N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP) " +
			"N(IKEV2_FRAGMENTATION_SUPPORTED) N(SIGNATURE_HASH_ALGORITHMS) N(CHILDLESS_IKEV2_SUPPORTED) " +
			"N(MULTIPLE_AUTH_SUPPORTED)]"},
		{3, IKE_AUTH, false, 1, "[SK(IDi)]"},
		{4, IKE_AUTH, true, 1, "[SK(IDr)]"},
		{9, INFORMATIONAL, false, 2, "[SK(Delete)]"},
		{10, INFORMATIONAL, true, 2, "[SK(None)]"},
	}
	if len(c) != len(wants) {
		t.Fatalf("found %d IKE messages in the capture, want %d", len(c), len(wants))
	}
	for i, w := range wants {
		m, err := Parse(c[i].Data)
		if err != nil {
			t.Fatalf("frame %d: %v", c[i].Frame, err)
		}
		if c[i].Frame != w.frame || m.Header.Exchange != w.exchange || m.Header.IsResponse() != w.response ||
			m.Header.MessageID != w.mid || PayloadsString(m.Payloads) != w.payloads {
			t.Errorf("frame %d: got %v %s, want frame %d %+v", c[i].Frame, m.Header, PayloadsString(m.Payloads), w.frame, w)
		}
		if !bytes.Equal(m.Raw, c[i].Data) {
			t.Errorf("frame %d: Raw is not the input", c[i].Frame)
		}
		if e := m.Encrypted(); e != nil {
			// AAD + body must be exactly the message.
			if e.BodyOffset != HeaderLen+4 || !bytes.Equal(m.Raw[e.BodyOffset:], e.Body) {
				t.Errorf("frame %d: SK BodyOffset %d does not locate Body", c[i].Frame, e.BodyOffset)
			}
		}
		// Every message round-trips byte for byte.
		out, err := m.Serialize()
		if err != nil {
			t.Fatalf("frame %d: Serialize: %v", c[i].Frame, err)
		}
		if !bytes.Equal(out, c[i].Data) {
			t.Errorf("frame %d: re-serialized message differs\n got %x\nwant %x", c[i].Frame, out, c[i].Data)
		}
	}
}

func TestCaptureIKESAInitRequest(t *testing.T) {
	c := loadCapture(t)
	req := c[0]
	if req.Src.Port() != 500 || req.Dst.Port() != 500 || req.Src.Addr().String() != "198.51.100.2" {
		t.Fatalf("first IKE message is %v -> %v, want the initiator's request on 500", req.Src, req.Dst)
	}
	m, err := Parse(req.Data)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Header
	if h.SPIi != 0x70ba2617d1f7cab8 || h.SPIr != 0 || h.MajorVersion != 2 || h.MinorVersion != 0 ||
		h.Flags != FlagInitiator || h.Length != 464 || h.NextPayload != PayloadSA || len(req.Data) != 464 {
		t.Errorf("header = %+v", h)
	}

	sa, ok := m.Find(PayloadSA).(*SA)
	if !ok {
		t.Fatal("no SA payload")
	}
	wantSA := &SA{Proposals: []Proposal{{
		Number:   1,
		Protocol: ProtocolIKE,
		Transforms: []Transform{
			{Type: TransformENCR, ID: 12, KeyLength: 128}, // ENCR_AES_CBC, key length attribute (TV)
			{Type: TransformINTEG, ID: 12},                // AUTH_HMAC_SHA2_256_128
			{Type: TransformPRF, ID: 5},                   // PRF_HMAC_SHA2_256
			{Type: TransformDH, ID: 14},                   // 2048-bit MODP
		},
	}}}
	if !reflect.DeepEqual(sa, wantSA) {
		t.Errorf("SA = %+v, want %+v", sa, wantSA)
	}
	if got := sa.Proposals[0].String(); got != "IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048" {
		t.Errorf("proposal String = %q", got)
	}

	ke, ok := m.Find(PayloadKE).(*KE)
	if !ok || ke.Group != 14 || len(ke.Data) != 256 {
		t.Errorf("KE = group %d, %d bytes; want group 14, 256 bytes", ke.Group, len(ke.Data))
	}
	if !bytes.HasPrefix(ke.Data, mustHex("7c6f867b5ca94593fbe57e6a18c307ae")) {
		t.Errorf("KE data starts %x", ke.Data[:16])
	}
	n, ok := m.Find(PayloadNonce).(*Nonce)
	if !ok || !bytes.Equal(n.Data, mustHex("f606b3ff68a2637dbf19f43659c8cefaa3bcdb3805bcbaf1e69136cb4fa5da02")) {
		t.Errorf("Nonce = %x", n.Data)
	}
	src := m.FindNotify(NAT_DETECTION_SOURCE_IP)
	dst := m.FindNotify(NAT_DETECTION_DESTINATION_IP)
	if src == nil || dst == nil {
		t.Fatal("NAT detection notifies missing")
	}
	if !bytes.Equal(src.Data, mustHex("75836f4a31d686e27a3fd99e287ee5678b7e0753")) ||
		!bytes.Equal(dst.Data, mustHex("0b3c105a12992f6899f324f3d1c34f518c675dab")) ||
		src.Protocol != 0 || src.SPI != nil {
		t.Errorf("NAT detection: src %+v dst %+v", src, dst)
	}
	sig := m.FindNotify(SIGNATURE_HASH_ALGORITHMS)
	if sig == nil || !bytes.Equal(sig.Data, mustHex("0002000300040005")) {
		t.Errorf("SIGNATURE_HASH_ALGORITHMS = %+v", sig)
	}
	if f := m.FindNotify(IKEV2_FRAGMENTATION_SUPPORTED); f == nil || f.Data != nil {
		t.Errorf("IKEV2_FRAGMENTATION_SUPPORTED = %+v", f)
	}
	if len(m.Notifies()) != 5 {
		t.Errorf("%d notifies, want 5", len(m.Notifies()))
	}

	// Re-serializing the decoded request gives back the captured octets, which
	// is what AUTH signs.
	out, err := m.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, req.Data) {
		t.Errorf("re-serialized IKE_SA_INIT request differs from the capture")
	}
	// Rebuilt from the decoded payloads alone (no Raw), too.
	fresh := &Message{Header: Header{SPIi: h.SPIi, Exchange: IKE_SA_INIT, Flags: FlagInitiator}, Payloads: m.Payloads}
	if out, err = fresh.Serialize(); err != nil || !bytes.Equal(out, req.Data) {
		t.Errorf("message rebuilt from payloads differs from the capture (err %v)", err)
	}
}

func TestCaptureIKEAuthFraming(t *testing.T) {
	c := loadCapture(t)
	m, err := Parse(c[2].Data)
	if err != nil {
		t.Fatal(err)
	}
	if c[2].Dst.Port() != 4500 {
		t.Errorf("IKE_AUTH request sent to %v, want port 4500", c[2].Dst)
	}
	e := m.Encrypted()
	if e == nil || e.NextPayload != PayloadIDi {
		t.Fatalf("IKE_AUTH request: SK = %+v", e)
	}
	// AES-CBC: 16-byte IV, whole blocks, 16-byte HMAC-SHA2-256-128 ICV.
	if ct := len(e.Body) - 16 - 16; ct <= 0 || ct%16 != 0 {
		t.Errorf("SK body of %d bytes is not IV|blocks|ICV", len(e.Body))
	}
	// AppendEncryptedHeader rebuilds the AAD exactly.
	aad := AppendEncryptedHeader(nil, m.Header, e.NextPayload, len(e.Body))
	if !bytes.Equal(aad, m.Raw[:e.BodyOffset]) {
		t.Errorf("AppendEncryptedHeader = %x, want %x", aad, m.Raw[:e.BodyOffset])
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
