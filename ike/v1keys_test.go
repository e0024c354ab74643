package ike

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/vpgw/vpgw/suite"
)

// NIST CAVP IKEv1 KDF (SP 800-135) sample vectors as carried in NSS
// (gtests/common/testvectors/ike-sha1-vectors.h and ike-sha256-vectors.h,
// "these vectors are from this NIST samples"): SKEYID for pre-shared keys,
// and SKEYID_d/_a/_e from a given SKEYID, g^xy and the cookies.
var cavpV1 = []struct {
	prf                              suite.PRF
	psk, ni, nr, skeyidPSK           string
	skeyid, gxy, ckyI, ckyR, d, a, e string
}{
	{
		prf: suite.PRFHMACSHA1,
		psk: "c0", ni: "03a6f25a83c8c2a3", nr: "9d958a6618f77e7f",
		skeyidPSK: "ab3be41bc62f2ef0c41a3076d58768be77fadd2e",
		skeyid:    "707197817fb2d90cf54d1842606bdea59b9f4823",
		gxy:       "8ba4cbc73c0187301dc19a975823854dbd641c597f637f8d053a83b9514673eb",
		ckyI:      "8c3bcd3a69831d7f", ckyR: "d2d9a7ff4fbe95a7",
		d: "384be709a8a5e63c3ed160cfe3921c4b37d5b32d",
		a: "48b327575abe3adba0f279849e289022a13e2b47",
		e: "a4a415c8e0c38c0da847c356cc61c24df8025560",
	},
	{
		prf: suite.PRFHMACSHA256,
		psk: "a0", ni: "ead9ced494868f41", nr: "f1aff4f425a94f18",
		skeyidPSK: "558a99b299773d267cf7c8ef073bf3b7af362c206c75a538403c5ef884d4cace",
		skeyid:    "750c5c94b9c2ec20b68033e024dadf0fa87e8b48c6561b21c72478451a06583d",
		gxy:       "a1ff3dc6cf9b4c04709943cb4ca1f1789bcf360b03f1d027de3ae8ee039e9155",
		ckyI:      "6c6beb72631ddc3d", ckyR: "b84e24b22cffbd14",
		d: "a4f7ca7de913814813e3312099e7c943bd293483f387532330237f1b20957310",
		a: "1d4b705746c43b0a6fcbb8db33983c0f24ff6f8b6543e3779fed227c6067f004",
		e: "03e6f16cd9ce9f64b5cdc5b34cca7163483ba5389a30afebef3d14640b0a815e",
	},
}

func TestV1KeysCAVP(t *testing.T) {
	for _, v := range cavpV1 {
		t.Run(v.prf.String(), func(t *testing.T) {
			prf, _ := NewPRF(v.prf)
			// SKEYID = prf(pre-shared-key, Ni_b | Nr_b), via the public API.
			s := V1Suite{Cipher: aes128CBC, Hash: v.prf}
			k, err := DeriveV1Keys(s, unhex(t, v.psk), unhex(t, v.ni), unhex(t, v.nr), nil, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, v.skeyidPSK); !bytes.Equal(k.SKEYID, want) {
				t.Errorf("SKEYID = %x\nwant     %x", k.SKEYID, want)
			}
			k = v1KeysFromSKEYID(prf, unhex(t, v.skeyid), unhex(t, v.gxy), spi(t, v.ckyI), spi(t, v.ckyR))
			for _, c := range []struct {
				name      string
				got, want []byte
			}{{"SKEYID_d", k.SKEYIDd, unhex(t, v.d)}, {"SKEYID_a", k.SKEYIDa, unhex(t, v.a)}, {"SKEYID_e", k.SKEYIDe, unhex(t, v.e)}} {
				if !bytes.Equal(c.got, c.want) {
					t.Errorf("%s = %x\nwant %x", c.name, c.got, c.want)
				}
			}
		})
	}
}

// NSS's self-generated Appendix B vectors (same files, "ikeV1AppB" and
// "ikeV1AppBQuick"): the key stretching K1 = prf(K, 0), Kn = prf(K, K(n-1)),
// and the quick mode form Kn = prf(K, K(n-1) | seed) with seed = one zero
// octet. A request no longer than the key returns the key's prefix.
var nssAppB = []struct {
	prf             suite.PRF
	key             string
	n               int
	appB, appBQuick string
}{
	{suite.PRFHMACSHA1, "63e81194946ebd05df7df5ebf5d8750056bf1f1d", 132,
		"933347a07de5782247dd36d1562ffe0eecade1eb4134165257e3af1000af8ae3f165063828cbb60d910b7db38fa3c7f6" +
			"2c4afaaf3203da065c841729853edb23e9e7ac8286ae65c8cb6c667d79268c0bd6705abb9131698eb822b1c1f9dd142f" +
			"c7be2c1010ee0152e10195add98999c6b6d42c8fe9c1b134d56ad5f2c6f20e815bd25c52",
		"933347a07de5782247dd36d1562ffe0eecade1ebaeaa476a5f578c34a9b2b7101a621202f61db924c5ef9efa3bb26980" +
			"95841603b7ac8a880329a927ecd4ad53a944b607a5ac2f3d154e2748c188d7370d76be83fc204fdacf0f66b99dd760ba" +
			"619ffac65eda1420c8a936dac5a599afaf4043b29ef2b65dc042724355b550875316c6fd"},
	{suite.PRFHMACSHA1, "63e81194946ebd05df7df5ebf5d8750056bf1f1d", 40,
		"933347a07de5782247dd36d1562ffe0eecade1eb4134165257e3af1000af8ae3f165063828cbb60d",
		"933347a07de5782247dd36d1562ffe0eecade1ebaeaa476a5f578c34a9b2b7101a621202f61db924"},
	{suite.PRFHMACSHA1, "63e81194946ebd05df7df5ebf5d8750056bf1f1d", 15,
		"63e81194946ebd05df7df5ebf5d875", "933347a07de5782247dd36d1562ffe"},
	{suite.PRFHMACSHA256, "5f00d1bd2c58ec224b1e6b71fa0f19a1faa7a193952c444411b47c1a9d8ba6fe", 132,
		"b10fff32cbeaa1e7afe6ab0b191e0bd63cd524849a4b56019146d232a24cf9af6b89494d2a360b06825db8bb0324c15c" +
			"ecf47fc0bc99e39bf1171a7f4bf1733dc49ef64c642e73b054b2e82456e34fa3c822da475e27e403b3da3929da50e6aa" +
			"9e7f9252c68fa069b4b0edd374e80d35378c4f5e8ec285a1b169c92bbb5353d05ba94165",
		"b10fff32cbeaa1e7afe6ab0b191e0bd63cd524849a4b56019146d232a24cf9af59f18ed9aabbb2dbbafecf48d72a34a8" +
			"f72fab2ff4f37e5c917288a78ce00933612e9531a7469995c7f7cc33c7627cac3efbc819330c4fe3bfa3788799630f37" +
			"bcb74800d82bbebd17b1906e304a786f4f810c266c15be1a30576039c293272748d65966"},
	{suite.PRFHMACSHA256, "5f00d1bd2c58ec224b1e6b71fa0f19a1faa7a193952c444411b47c1a9d8ba6fe", 32,
		"5f00d1bd2c58ec224b1e6b71fa0f19a1faa7a193952c444411b47c1a9d8ba6fe",
		"b10fff32cbeaa1e7afe6ab0b191e0bd63cd524849a4b56019146d232a24cf9af"},
}

func TestV1KeyExtensionNSS(t *testing.T) {
	for _, v := range nssAppB {
		prf, _ := NewPRF(v.prf)
		key := unhex(t, v.key)
		if got, want := v1ExtendKey(prf, key, v.n), unhex(t, v.appB); !bytes.Equal(got, want) {
			t.Errorf("%v n=%d: Appendix B = %x\nwant %x", v.prf, v.n, got, want)
		}
		seed := []byte{0}
		if got, want := v1Expand(prf, key, seed, seed, v.n), unhex(t, v.appBQuick); !bytes.Equal(got, want) {
			t.Errorf("%v n=%d: quick mode expansion = %x\nwant %x", v.prf, v.n, got, want)
		}
	}
}

// swanV1 was captured once from strongSwan 5.9.8 (charon with ike/enc log
// level 4) in the netns lab: a cgw charon initiating Main Mode + Quick Mode
// to a vgw charon with IKE aes256-sha1-modp2048 (SKEYID_e is 20 bytes, the
// key 32, so Appendix B's extension runs), ESP aes256-sha1 without PFS,
// behind NAT-T (encapsulation mode 3). Values are the responder's (vgw) log:
// "SKEYID", "SKEYID_d/_a/_e", "encryption key Ka", "initial IV", "HASH_I
// data", "next IV for MID", the "IV"/"plain"/"encrypted" dumps of each
// message, "Hash(1)".."Hash(3)"; nonces and KE data from the raw packets.
// The two ESP packets (one ping each way) were captured with tcpdump on the
// WAN link: strongSwan does not log KEYMAT, so the test proves ours by
// authenticating and decrypting them.
var swanV1 = struct {
	psk                                       string
	ckyI, ckyR, ni, nr, gxi, gxr, gxy         string
	sai, idii, idir                           string
	skeyid, skeyidD, skeyidA, skeyidE, ka, iv string
	hashI, hashR                              string
	mm5CT, mm5PT, mm6IV, mm6PT, mm6CT         string
	qm1IV, qm1CT, qm1PT, qm2IV, qm2PT, qm2CT  string
	qm3CT, qm3PT, infoIV, infoCT, infoPT      string
	espIn, espOut                             string
	qmMID, infoMID, inSPI, outSPI             uint32
}{
	psk:   "kat-psk-0123456789",
	qmMID: 2082497659, infoMID: 1291870223, inSPI: 0x987d4b12, outSPI: 0xe553e8d7,
	ckyI: "05858c8d22d43a60",
	ckyR: "66598e514008464f",
	ni:   "b421789d0a3c97ee88a465149a41e524f5c6e2c12adf2c57e5fae3acb9b2b2fe",
	nr:   "e308d45ce31d57be865f1135b23c9cea887c4a5890b57cfe790a3f67b565c127",
	gxi: "72ff5aa00fc06b60223287c11c50af906a74df173e574d518f21b4bdc0f7106163a106156e0a7515d5dba75ff1ff9598" +
		"4fff375c7816f13ccc218c912b3a45316b3659dac3ce70705678e30eafcda9d0a589524fed9ba09afa91ccfba550e716" +
		"a1450be1361556b6893bf80715efeb3073363fc42319bbdb763b4fb8977388baad7dada215c96724a338a244faf9eda1" +
		"9f2272157c59d4c8e21e998da9d154dbcc452a7ca2d1c93fe6ae6d3036dbc6fe34a0430bb9ce8431b6d74213b0677f88" +
		"e729e5d33d04ab9b00f164c87f9be028718209d3f23b3159d5d50f784283cfb549ac1763d7709f4d68ed49ad95d2e9db" +
		"2877ec9cf160871a041bc9a4e8e8d6f3",
	gxr: "41ccb7ab49396af5d8abb19f6323e54fbdd7838b54bb6de9037198023f9078f70e7758811b82d4e5518aa766eeb2da9d" +
		"1e7f48a4c7f5959a723ad86bb5c2ab56627216ea0dbedb6e99cef5787d1e452f2af0c90800ce1737e1c8b30eb6fa1818" +
		"2164367c1c316075dc91a5cd3c0d677871152a04ced12a78ab20bf5a883e6c7ab12d9c9f28a89c5067e030e4403ffb44" +
		"460c2a1a09a033ee2d3bc2a332733db6c581715182c017e71f08b9f22932bd726a0f8957e2bdeb45b2fa0c5403d060ad" +
		"0bef8ca13dd7e365037c3622c22ce3045e7594cd6daf1fcfc2734e23cf074eff6038a8ec23bd2dbc70da6368e99de775" +
		"b3b0729c3f80470b6a306ee0f25045c3",
	gxy: "9569a17e37d9f791cc62b9f397c1597ef2fb5460f285ef50f6acdfc25a8429342a2c87b7073c352ee694e9915865dfdb" +
		"532275217dab0b09f75c7f9aa140e623a2964e22ca5a2d238fc3072df5252f5482a61547c242c8e08b02b79f38c10c9b" +
		"3808ea1c3a9163daa4dd6ada09945ea2bec475fa755eb2de1bc9c61cb126839bfdd9be8abed382146031ad955f5713f6" +
		"98cbdd2a74286fe91e1af110b130abb44bfa90a3bf4e5a672eff6545a1d435b3563b726d70bbae4bf71efee59f43a946" +
		"8f4a86f797a33dddc7e8e1bb5b7fb797723456740445373ccf4f4426faaf8249bcde1a2ba30bb9b61a8286a33d1682fa" +
		"33816b170c1f8389afc246c347d62cd1",
	sai: "00000001000000010000002c01010001000000240101000080010007800e0100800200028004000e80030001800b0001" +
		"800c3de0",
	idii:    "01000000c6336402",
	idir:    "01000000cb007102",
	skeyid:  "a1153769316e5afcb2332f04e822767ba1c42651",
	skeyidD: "a25b5cb6714388c63b423d42fa69caa4e801310d",
	skeyidA: "99512a186f87a34fadfbf7fc7fa5d0be6dbc184a",
	skeyidE: "f81f8c10893acdac6b193b7189196f7f79a734aa",
	ka:      "68faaa93266b570a9d01abcd1918d8a3dc042fc378674cecad9ffefcad13d09e",
	iv:      "05e840d0e42f542cafcbbadeb5314339",
	hashI:   "1c62580dd98bf461f40e0f9be816e156d54dd32e",
	hashR:   "bc910ece1c9bf30faa3d8fb251bfb1565b54cc30",
	mm5CT: "f7c650b1a763a907eee8bb001760ed10abb816784a932b79c7fe0b2ed90b9fca35a1b7a565770f1670eaae3dc2eca8e5" +
		"5f3069d7978760040d868d40103427a48f079e2e7e88b9fb403d8bb72cb505f2",
	mm5PT: "0800000c01000000c63364020b0000181c62580dd98bf461f40e0f9be816e156d54dd32e0000001c0000000101106002" +
		"05858c8d22d43a6066598e514008464f00000000000000000000000000000000",
	mm6IV: "8f079e2e7e88b9fb403d8bb72cb505f2",
	mm6PT: "0800000c01000000cb00710200000018bc910ece1c9bf30faa3d8fb251bfb1565b54cc30",
	mm6CT: "66714eeb8ea2ff3ff220fa4603e938a4472e0c6b3c3223d71401e25f9d8f6a9f3609aa684d095f6984b206f0f9e5b94f",
	qm1IV: "2e7d83cc48e0b5ded469facdfee909ca",
	qm1CT: "94073e4191f86b4f91caca9809b3c3d1bd8e48e3ef7fc27bd0e7a65956889e0f74d1e5b1eacf1d8c7a22452987925dd9" +
		"a8f5eced1dfd742642d5c9461fa07f09890c489cbfeeae72612d81403075c7c78bc39ee702bbe6c3800cda436870d8fa" +
		"c6d3e4a92bbce47640ee913bcb7272350ee60b67be1466170783a22dc89ae2a9dceeaa5a919641f6a2606d409ebd7faf" +
		"9744152195cf1e9e825ade52a06cb527",
	qm1PT: "010000186984f1dc3a482fb8b69cb0a01bbe957ae60044120a00003400000001000000010000002801030401e553e8d7" +
		"0000001c010c00008006010080050002800400038001000180020f7805000024b2a3a971297f167de11bb5b23c3f96c2" +
		"ea82ec4dbda4c6167f137f52394c59e30500001004000000ac100000ffffff0000000010040000000a000000ffff0000" +
		"00000000000000000000000000000000",
	qm2IV: "9744152195cf1e9e825ade52a06cb527",
	qm2PT: "01000018f3b0e9736c50885145f23365488dc0c55daeb5aa0a00003400000001000000010000002801030401987d4b12" +
		"0000001c010c00008006010080050002800400038001000180020f78050000245d301187f2a6a703eedb24ecc881558c" +
		"e9a160a73a5d5382cf82d9df7aca7b6b0500001004000000ac100000ffffff0000000010040000000a000000ffff0000",
	qm2CT: "e7d89ba68ffa63be9821451832dac47d87c453c964d0e13dd4c65246b106c6f45869f4cbf7a4d25fa1c457bf31c4cced" +
		"ae186bba87e88e90bb81dae42501a0f8e2b687ee579b3a945f7e129642e4e877897180342777df184a5a85ba8721194d" +
		"fe16dce9ab27f86d7689bb31188f28b0f12b00d9117e5d308e789498520f3159a24e92b445f846e0229ba369bbc7a03b" +
		"9092c5c6676636ee80fb65ac9e101226",
	qm3CT:  "f8ccf6d1a75ae2ebf77bd6d4ede49db79f64c66e8c02deaf655b97ca2ff88906",
	qm3PT:  "0000001899134357e6e2c9387710bc0397a04e921884e8bc0000000000000000",
	infoIV: "da0f8f588c3b55c2fc1a902b22419aba",
	infoCT: "102d7b8ddd0104c21ae86ed2ad926b6456878a799992f9bae150c613a140966102d742d8f21a44544b34c4fcb2f7fd20",
	infoPT: "0c000018190527e17c99f23122e9b9c71fab5e046fddeea0000000100000000103040001e553e8d70000000000000000",
	espIn: "987d4b120000000117a9ea0220ad2657c973bfa494250c76adf89eaadb844de3af0a6b10dba5961f6acfcabcc8461f6d" +
		"52f3d8e27f88fb57f39e4abebc5aebf349bff3879122e118df69d9a8885e78846999368b1cd460477b89f2a8a7b72c55" +
		"76855d50e6729c9a0aaae10e74e255a2cc13fad815ea87875c667fc20bc3d4d9c8080efe",
	espOut: "e553e8d70000000119c606c92890facdd29a9d7222cbc8ecf027cae45eda26186ec8a8c568319826e11da27ed88f9b5d" +
		"1c69c77a7c57bcb2063f675023ca8b2a3bd96028d8b8be853b617c863dd36bd6f8d57e03892471a917a2729fa0b27e21" +
		"3fc71175bb6fb3af85d9442da768de3b2a2c5635f420de4e8368e4c75017ff2d006d550e",
}

var (
	swanSuite = V1Suite{Cipher: aes256CBC, Hash: suite.PRFHMACSHA1, DH: GroupMODP2048}
	swanESP   = suite.ESP{Cipher: aes256CBC, Integ: suite.IntegHMACSHA1_96}
)

func swanKeys(t *testing.T) *V1Keys {
	t.Helper()
	v := swanV1
	k, err := DeriveV1Keys(swanSuite, []byte(v.psk), unhex(t, v.ni), unhex(t, v.nr), unhex(t, v.gxy), spi(t, v.ckyI), spi(t, v.ckyR))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDeriveV1KeysStrongSwan(t *testing.T) {
	v := swanV1
	k := swanKeys(t)
	for _, c := range []struct {
		name      string
		got, want []byte
	}{
		{"SKEYID", k.SKEYID, unhex(t, v.skeyid)},
		{"SKEYID_d", k.SKEYIDd, unhex(t, v.skeyidD)},
		{"SKEYID_a", k.SKEYIDa, unhex(t, v.skeyidA)},
		{"SKEYID_e", k.SKEYIDe, unhex(t, v.skeyidE)},
		{"Ka (Appendix B)", k.EncKey, unhex(t, v.ka)},
		{"phase 1 IV", V1Phase1IV(swanSuite.Hash, unhex(t, v.gxi), unhex(t, v.gxr), aes.BlockSize), unhex(t, v.iv)},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s = %x\nwant %x", c.name, c.got, c.want)
		}
	}
	if len(k.SKEYIDe) >= len(k.EncKey) {
		t.Fatal("vector does not exercise Appendix B")
	}
	if s := fmt.Sprintf("%v %+v %#v", k, k, k); s != "ike.V1Keys{redacted} ike.V1Keys{redacted} ike.V1Keys{redacted}" {
		t.Errorf("formatting shows %s", s)
	}
	k.Zero()
	if !bytes.Equal(k.EncKey, make([]byte, 32)) {
		t.Error("Zero left key bytes")
	}
}

func TestDeriveV1KeysShortKeyNoExtension(t *testing.T) {
	// SHA2-256 gives a 32-byte SKEYID_e: aes128 takes its prefix, aes256 all of it.
	for _, c := range []suite.Cipher{aes128CBC, aes256CBC} {
		s := V1Suite{Cipher: c, Hash: suite.PRFHMACSHA256}
		k, err := DeriveV1Keys(s, []byte("psk"), []byte("ni"), []byte("nr"), []byte("gxy"), 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k.EncKey, k.SKEYIDe[:c.KeyLen()]) {
			t.Errorf("%v: Ka = %x, want SKEYID_e prefix %x", c, k.EncKey, k.SKEYIDe)
		}
	}
}

func TestDeriveV1KeysRejects(t *testing.T) {
	for _, s := range []V1Suite{
		{Cipher: aes128GCM, Hash: suite.PRFHMACSHA1},
		{Cipher: suite.Cipher{Encr: suite.EncrAESCBC, KeyBits: 100}, Hash: suite.PRFHMACSHA1},
		{Cipher: aes128CBC, Hash: 99},
	} {
		if _, err := DeriveV1Keys(s, []byte("psk"), nil, nil, nil, 0, 0); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}

func TestV1PhaseIVStrongSwan(t *testing.T) {
	v := swanV1
	// The last CBC block of phase 1 is that of main mode message 6.
	mm6 := unhex(t, v.mm6CT)
	last := mm6[len(mm6)-aes.BlockSize:]
	for _, c := range []struct {
		mid  uint32
		want string
	}{{v.qmMID, v.qm1IV}, {v.infoMID, v.infoIV}} {
		if got := V1PhaseIV(suite.PRFHMACSHA1, last, c.mid, aes.BlockSize); !bytes.Equal(got, unhex(t, c.want)) {
			t.Errorf("IV for M-ID %d = %x, want %s", c.mid, got, c.want)
		}
	}
}

// qmNonces returns the nonce bodies of quick mode messages 1 and 2.
func qmNonces(t *testing.T) (ni, nr []byte) {
	t.Helper()
	find := func(pt []byte) []byte {
		for _, p := range v1Chain(t, 8, pt) {
			if p.typ == 10 {
				return p.body
			}
		}
		t.Fatal("no nonce")
		return nil
	}
	return find(unhex(t, swanV1.qm1PT)), find(unhex(t, swanV1.qm2PT))
}

func TestDeriveV1ChildKeysStrongSwanESP(t *testing.T) {
	v := swanV1
	ni, nr := qmNonces(t)
	k := swanKeys(t)
	in, out, err := DeriveV1ChildKeys(suite.PRFHMACSHA1, k.SKEYIDd, nil, ni, nr, v.inSPI, v.outSPI, swanESP)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Encr) != 32 || len(in.Integ) != 20 || bytes.Equal(in.Encr, out.Encr) {
		t.Fatalf("keys: in %d/%d bytes, in == out: %v", len(in.Encr), len(in.Integ), bytes.Equal(in.Encr, out.Encr))
	}
	// The responder's inbound SA carries the ping from the customer side,
	// its outbound SA the reply.
	checkESP(t, "inbound", unhex(t, v.espIn), v.inSPI, in, "10.0.0.10", 8)
	checkESP(t, "outbound", unhex(t, v.espOut), v.outSPI, out, "10.0.0.10", 0)

	// The split: KEYMAT = encryption key | integrity key.
	km := V1KeyMat(suite.PRFHMACSHA1, k.SKEYIDd, nil, 3, v.inSPI, ni, nr, V1KeyMatLen(swanESP))
	if !bytes.Equal(km, concat(in.Encr, in.Integ)) {
		t.Errorf("V1KeyMat %x != in keys", km)
	}
	// PFS puts g(qm)^xy first in every block.
	pfs := V1KeyMat(suite.PRFHMACSHA1, k.SKEYIDd, []byte("gqmxy"), 3, v.inSPI, ni, nr, 52)
	prf, _ := NewPRF(suite.PRFHMACSHA1)
	seed := concat([]byte("gqmxy"), []byte{3, 0x98, 0x7d, 0x4b, 0x12}, ni, nr)
	k1 := prf.Sum(k.SKEYIDd, seed)
	k2 := prf.Sum(k.SKEYIDd, concat(k1, seed))
	if !bytes.Equal(pfs[:40], concat(k1, k2)) {
		t.Errorf("PFS KEYMAT = %x, want %x...", pfs, concat(k1, k2))
	}
}

// checkESP authenticates and decrypts one AES-CBC/HMAC-SHA1-96 ESP packet
// (RFC 4303) and checks it carries an ICMP packet for or from addr: the
// ICMP type is 8 (echo request) inbound and 0 (echo reply) outbound.
func checkESP(t *testing.T, name string, pkt []byte, spi uint32, k ChildKeys, addr string, icmpType byte) {
	t.Helper()
	if got := binary.BigEndian.Uint32(pkt); got != spi {
		t.Fatalf("%s: SPI %08x, want %08x", name, got, spi)
	}
	icv := pkt[len(pkt)-12:]
	m := hmac.New(sha1.New, k.Integ)
	m.Write(pkt[:len(pkt)-12])
	if !hmac.Equal(m.Sum(nil)[:12], icv) {
		t.Fatalf("%s: ICV mismatch: KEYMAT integrity key is wrong", name)
	}
	block, err := aes.NewCipher(k.Encr)
	if err != nil {
		t.Fatal(err)
	}
	ct := pkt[8+16 : len(pkt)-12]
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, pkt[8:24]).CryptBlocks(pt, ct)
	if pt[len(pt)-1] != 4 || pt[0] != 0x45 || pt[9] != 1 {
		t.Fatalf("%s: decrypted to %x: KEYMAT encryption key is wrong", name, pt)
	}
	if got := pt[20]; got != icmpType {
		t.Errorf("%s: ICMP type %d, want %d", name, got, icmpType)
	}
	want := netip.MustParseAddr(addr).AsSlice()
	if at := map[byte]int{8: 16, 0: 12}[icmpType]; !bytes.Equal(pt[at:at+4], want) {
		t.Errorf("%s: inner header %x does not carry %s", name, pt[:20], addr)
	}
}

// v1Payload is one payload of a cleartext ISAKMP chain, parsed without the
// isakmp package so these tests stand alone.
type v1Payload struct {
	typ        byte
	whole      []byte // generic header included
	body       []byte
	start, end int
}

func v1Chain(t *testing.T, first byte, b []byte) []v1Payload {
	t.Helper()
	var out []v1Payload
	off := 0
	for typ := first; typ != 0; {
		if off+4 > len(b) {
			t.Fatalf("chain overruns %d bytes", len(b))
		}
		n := int(binary.BigEndian.Uint16(b[off+2:]))
		out = append(out, v1Payload{typ: typ, whole: b[off : off+n], body: b[off+4 : off+n], start: off, end: off + n})
		typ = b[off]
		off += n
	}
	return out
}
