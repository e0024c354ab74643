package ike

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math/big"
	"testing"

	"github.com/vpgw/vpgw/suite"
)

type dhVector struct {
	name                string
	group               suite.DHGroup
	privI, pubI         string
	privR, pubR, shared string
}

// RFC 5903 §8.1-8.3 (groups 19-21; public values as in the KE payloads,
// x || y), RFC 7748 §6.1 (X25519, group 31, RFC 8031) and RFC 5114 A.1-A.3
// (groups 22-24).
var dhVectors = []dhVector{
	{
		name: "RFC5903 8.1", group: GroupECP256,
		privI: "C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433",
		pubI: "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180" +
			"5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3",
		privR: "C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53",
		pubR: "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63" +
			"56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
		shared: "D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE",
	},
	{
		name: "RFC5903 8.2", group: GroupECP384,
		privI: "099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655" +
			"E35B5380 41E649EE 3FAEF896 783AB194",
		pubI: "667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6" +
			"DE3AC808 ACB4BDB4 C88732AE E95F41AA 9482ED1F C0EEB9CA FC498462 5CCFC23F" +
			"65032149 E0E144AD A0241815 35A0F38E EB9FCFF3 C2C947DA E69B4C63 4573A81C",
		privR: "41CB0779 B4BDB85D 47846725 FBEC3C94 30FAB46C C8DC5060 855CC9BD A0AA2942" +
			"E0308312 916B8ED2 960E4BD5 5A7448FC",
		pubR: "E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D" +
			"0D1AC43A 0336DEF9 6FDA41D0 774A3571 DCFBEC7A ACF31964 72169E83 8430367F" +
			"66EEBE3C 6E70C416 DD5F0C68 759DD1FF F83FA401 42209DFF 5EAAD96D B9E6386C",
		shared: "11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4" +
			"D6031355 69B9E9D0 9CF5D4A2 70F59746",
	},
	{
		name: "RFC5903 8.3", group: GroupECP521,
		privI: "0037ADE9 319A89F4 DABDB3EF 411AACCC A5123C61 ACAB57B5 393DCE47 608172A0" +
			"95AA85A3 0FE1C295 2C6771D9 37BA9777 F5957B26 39BAB072 462F68C2 7A57382D 4A52",
		pubI: "0015417E 84DBF28C 0AD3C278 713349DC 7DF153C8 97A1891B D98BAB43 57C9ECBE" +
			"E1E3BF42 E00B8E38 0AEAE57C 2D107564 94188594 2AF5A7F4 601723C4 195D176C ED3E" +
			"017CAE20 B6641D2E EB695786 D8C94614 6239D099 E18E1D5A 514C739D 7CB4A10A" +
			"D8A78801 5AC405D7 799DC75E 7B7D5B6C F2261A6A 7F150743 8BF01BEB 6CA3926F 9582",
		privR: "0145BA99 A847AF43 793FDD0E 872E7CDF A16BE30F DC780F97 BCCC3F07 8380201E" +
			"9C677D60 0B343757 A3BDBF2A 3163E4C2 F869CCA7 458AA4A4 EFFC311F 5CB15168 5EB9",
		pubR: "00D0B397 5AC4B799 F5BEA16D 5E13E9AF 971D5E9B 984C9F39 728B5E57 39735A21" +
			"9B97C356 436ADC6E 95BB0352 F6BE64A6 C2912D4E F2D0433C ED2B6171 640012D9 460F" +
			"015C6822 6383956E 3BD066E7 97B623C2 7CE0EAC2 F551A10C 2C724D98 52077B87" +
			"220B6536 C5C408A1 D2AEBB8E 86D678AE 49CB5709 1F473229 6579AB44 FCD17F0F C56A",
		shared: "01144C7D 79AE6956 BC8EDB8E 7C787C45 21CB086F A64407F9 7894E5E6 B2D79B04" +
			"D1427E73 CA4BAA24 0A347868 59810C06 B3C715A3 A8CC3151 F2BEE417 996D19F3 DDEA",
	},
	{
		name: "RFC7748 6.1", group: GroupCurve25519,
		privI:  "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
		pubI:   "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
		privR:  "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
		pubR:   "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
		shared: "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
	},
	{
		name: "RFC5114 A.1", group: GroupMODP1024S160,
		privI: "B9A3B3AE 8FEFC1A2 93049650 7086F845 5D48943E",
		pubI: "2A853B3D 92197501 B9015B2D EB3ED84F 5E021DCC 3E52F109 D3273D2B 7521281C" +
			"BABE0E76 FF5727FA 8ACCE269 56BA9A1F CA26F202 28D8693F EB10841D 84A73600" +
			"54ECE5A7 F5B7A61A D3DFB3C6 0D2E4310 6D8727DA 37DF9CCE 95B47875 5D06BCEA" +
			"8F9D4596 5F75A5F3 D1DF3701 165FC9E5 0C4279CE B07F9895 40AE96D5 D88ED776",
		privR: "9392C9F9 EB6A7A6A 9022F7D8 3E7223C6 835BBDDA",
		pubR: "717A6CB0 53371FF4 A3B93294 1C1E5663 F861A1D6 AD34AE66 576DFB98 F6C6CBF9" +
			"DDD5A56C 7833F6BC FDFF0955 82AD868E 440E8D09 FD769E3C ECCDC3D3 B1E4CFA0" +
			"57776CAA F9739B6A 9FEE8E74 11F8D6DA C09D6A4E DB46CC2B 5D520309 0EAE6126" +
			"311E53FD 2C14B574 E6A3109A 3DA1BE41 BDCEAA18 6F5CE067 16A2B6A0 7B3C33FE",
		shared: "5C804F45 4D30D9C4 DF85271F 93528C91 DF6B48AB 5F80B3B5 9CAAC1B2 8F8ACBA9" +
			"CD3E39F3 CB614525 D9521D2E 644C53B8 07B810F3 40062F25 7D7D6FBF E8D5E8F0" +
			"72E9B6E9 AFDA9413 EAFB2E8B 0699B1FB 5A0CACED DEAEAD7E 9CFBB36A E2B42083" +
			"5BD83A19 FB0B5E96 BF8FA4D0 9E345525 167ECD91 55416F46 F408ED31 B63C6E6D",
	},
	{
		name: "RFC5114 A.2", group: GroupMODP2048S224,
		privI: "22E62601 DBFFD067 08A680F7 47F361F7 6D8F4F72 1A0548E4 83294B0C",
		pubI: "1B3A6345 1BD886E6 99E67B49 4E288BD7 F8E0D370 BADDA7A0 EFD2FDE7 D8F66145" +
			"CC9F2804 19975EB8 08877C8A 4C0C8E0B D48D4A54 01EB1E87 76BFEEE1 34C03831" +
			"AC273CD9 D635AB0C E006A42A 887E3F52 FB8766B6 50F38078 BC8EE858 0CEFE243" +
			"968CFC4F 8DC3DB08 4554171D 41BF2E86 1B7BB4D6 9DD0E01E A387CBAA 5CA672AF" +
			"CBE8BDB9 D62D4CE1 5F17DD36 F91ED1EE DD65CA4A 06455CB9 4CD40A52 EC360E84" +
			"B3C926E2 2C4380A3 BF309D56 849768B7 F52CFDF6 55FD053A 7EF70697 9E7E5806" +
			"B17DFAE5 3AD2A5BC 568EBB52 9A7A61D6 8D256F8F C97C074A 861D827E 2EBC8C61" +
			"34553115 B70E7103 920AA16D 85E52BCB AB8D786A 68178FA8 FF7C2F5C 71648D6F",
		privR: "4FF3BC96 C7FC6A6D 71D3B363 800A7CDF EF6FC41B 4417EA15 353B7590",
		pubR: "4DCEE992 A9762A13 F2F83844 AD3D77EE 0E31C971 8B3DB6C2 035D3961 182C3E0B" +
			"A247EC41 82D760CD 48D99599 970622A1 881BBA2D C822939C 78C3912C 6661FA54" +
			"38B20766 222B75E2 4C2E3AD0 C7287236 129525EE 15B5DD79 98AA04C4 A9696CAC" +
			"D7172083 A97A8166 4EAD2C47 9E444E4C 0654CC19 E28D7703 CEE8DACD 6126F5D6" +
			"65EC52C6 7255DB92 014B037E B621A2AC 8E365DE0 71FFC140 0ACF077A 12913DD8" +
			"DE894734 37AB7BA3 46743C1B 215DD9C1 2164A7E4 053118D1 99BEC8EF 6FC56117" +
			"0C84C87D 10EE9A67 4A1FA8FF E13BDFBA 1D44DE48 946D68DC 0CDD7776 35A7AB5B" +
			"FB1E4BB7 B856F968 27734C18 4138E915 D9C3002E BCE53120 546A7E20 02142B6C",
		shared: "34D9BDDC 1B42176C 313FEA03 4C21034D 074A6313 BB4ECDB3 703FFF42 4567A46B" +
			"DF75530E DE0A9DA5 229DE7D7 6732286C BC0F91DA 4C3C852F C099C679 531D94C7" +
			"8AB03D9D ECB0A4E4 CA8B2BB4 591C4021 CF8CE3A2 0A541D33 994017D0 200AE2C9" +
			"516E2FF5 14577926 9E862B0F B474A2D5 6DC31ED5 69A7700B 4C4AB16B 22A45513" +
			"531EF523 D7121207 7B5A169B DEFFAD7A D9608284 C7795B6D 5A5183B8 7066DE17" +
			"D8D671C9 EBD8EC89 544D45EC 061593D4 42C62AB9 CE3B1CB9 943A1D23 A5EA3BCF" +
			"21A01471 E67E003E 7F8A69C7 28BE490B 2FC88CFE B92DB6A2 15E5D03C 17C464C9" +
			"AC1A46E2 03E13F95 2995FB03 C69D3CC4 7FCB510B 6998FFD3 AA6DE73C F9F63869",
	},
	{
		name: "RFC5114 A.3", group: GroupMODP2048S256,
		privI: "0881382C DB87660C 6DC13E61 4938D5B9 C8B2F248 581CC5E3 1B354543 97FCE50E",
		pubI: "2E9380C8 323AF975 45BC4941 DEB0EC37 42C62FE0 ECE824A6 ABDBE66C 59BEE024" +
			"2911BFB9 67235CEB A35AE13E 4EC752BE 630B92DC 4BDE2847 A9C62CB8 15274542" +
			"1FB7EB60 A63C0FE9 159FCCE7 26CE7CD8 523D7450 667EF840 E4919121 EB5F01C8" +
			"C9B0D3D6 48A93BFB 75689E82 44AC134A F544711C E79A02DC C3422668 4780DDDC" +
			"B4985941 06C37F5B C7985648 7AF5AB02 2A2E5E42 F09897C1 A85A11EA 0212AF04" +
			"D9B4CEBC 937C3C1A 3E15A8A0 342E3376 15C84E7F E3B8B9B8 7FB1E73A 15AF12A3" +
			"0D746E06 DFC34F29 0D797CE5 1AA13AA7 85BF6658 AFF5E4B0 93003CBE AF665B3C" +
			"2E113A3A 4E905269 341DC071 1426685F 4EF37E86 8A8126FF 3F2279B5 7CA67E29",
		privR: "7D62A7E3 EF36DE61 7B13D1AF B82C780D 83A23BD4 EE670564 5121F371 F546A53D",
		pubR: "575F0351 BD2B1B81 7448BDF8 7A6C362C 1E289D39 03A30B98 32C5741F A250363E" +
			"7ACBC7F7 7F3DACBC 1F131ADD 8E03367E FF8FBBB3 E1C57844 24809B25 AFE4D226" +
			"2A1A6FD2 FAB64105 CA30A674 E07F7809 85208863 2FC04923 3791AD4E DD083A97" +
			"8B883EE6 18BC5E0D D047415F 2D95E683 CF14826B 5FBE10D3 CE41C6C1 20C78AB2" +
			"0008C698 BF7F0BCA B9D7F407 BED0F43A FB2970F5 7F8D1204 3963E66D DD320D59" +
			"9AD9936C 8F44137C 08B180EC 5E985CEB E186F3D5 49677E80 607331EE 17AF3380" +
			"A725B078 2317D7DD 43F59D7A F9568A9B B63A84D3 65F92244 ED120988 219302F4" +
			"2924C7CA 90B89D24 F71B0AB6 97823D7D EB1AFF5B 0E8E4A45 D49F7F53 757E1913",
		shared: "86C70BF8 D0BB81BB 01078A17 219CB7D2 7203DB2A 19C877F1 D1F19FD7 D77EF225" +
			"46A68F00 5AD52DC8 4553B78F C60330BE 51EA7C06 72CAC151 5E4B35C0 47B9A551" +
			"B88F39DC 26DA14A0 9EF74774 D47C762D D177F9ED 5BC2F11E 52C879BD 95098504" +
			"CD9EECD8 A8F9B3EF BD1F008A C5853097 D9D1837F 2B18F77C D7BE01AF 80A7C7B5" +
			"EA3CA54C C02D0C11 6FEE3F95 BB873993 85875D7E 86747E67 6E728938 ACBFF709" +
			"8E05BE4D CFB24052 B83AEFFB 14783F02 9ADBDE7F 53FAE920 84224090 E007CEE9" +
			"4D4BF2BA CE9FFD4B 57D2AF7C 724D0CAA 19BF0501 F6F17B4A A10F425E 3EA76080" +
			"B4B9D6B3 CEFEA115 B2CEB878 9BB8A3B0 EA87FEBE 63B6C8F8 46EC6DB0 C26C5D7C",
	},
}

func TestDHKnownAnswers(t *testing.T) {
	for _, v := range dhVectors {
		t.Run(v.name, func(t *testing.T) {
			i, err := newDHFromPrivate(v.group, unhex(t, v.privI))
			if err != nil {
				t.Fatal(err)
			}
			r, err := newDHFromPrivate(v.group, unhex(t, v.privR))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := i.Public(), unhex(t, v.pubI); !bytes.Equal(got, want) {
				t.Errorf("initiator public %x, want %x", got, want)
			}
			if got, want := r.Public(), unhex(t, v.pubR); !bytes.Equal(got, want) {
				t.Errorf("responder public %x, want %x", got, want)
			}
			if n := PublicLen(v.group); n != len(i.Public()) {
				t.Errorf("PublicLen = %d, public value is %d bytes", n, len(i.Public()))
			}
			want := unhex(t, v.shared)
			for side, d := range map[string]DH{"initiator": i, "responder": r} {
				peer := unhex(t, v.pubR)
				if d == r {
					peer = unhex(t, v.pubI)
				}
				got, err := d.SharedSecret(peer)
				if err != nil {
					t.Fatalf("%s: %v", side, err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: shared %x, want %x", side, got, want)
				}
			}
		})
	}
}

// The safe-prime groups have no published test data: check that two random
// parties agree and that values have the prime's length.
func TestDHAgreement(t *testing.T) {
	groups := []suite.DHGroup{1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 31}
	wantLen := map[suite.DHGroup]int{1: 96, 2: 128, 5: 192, 14: 256, 15: 384, 16: 512, 17: 768, 18: 1024,
		19: 64, 20: 96, 21: 132, 22: 128, 23: 256, 24: 256, 31: 32}
	for _, g := range groups {
		t.Run(GroupName(g), func(t *testing.T) {
			a, err := NewDH(g, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			b, err := NewDH(g, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if a.Group() != g || len(a.Public()) != wantLen[g] {
				t.Fatalf("group %d, public %d bytes, want %d", a.Group(), len(a.Public()), wantLen[g])
			}
			za, err := a.SharedSecret(b.Public())
			if err != nil {
				t.Fatal(err)
			}
			zb, err := b.SharedSecret(a.Public())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(za, zb) {
				t.Fatal("parties disagree")
			}
			if g <= 18 || (g >= 22 && g <= 24) {
				if len(za) != wantLen[g] {
					t.Errorf("shared secret %d bytes, want %d (left-padded)", len(za), wantLen[g])
				}
			}
		})
	}
	if _, err := NewDH(3, rand.Reader); err == nil {
		t.Error("NewDH(3) succeeded")
	}
}

// A fixed random source gives the same key: exchanges are reproducible.
func TestNewDHDeterministic(t *testing.T) {
	for _, g := range []suite.DHGroup{14, 19, 21, 24, 31} {
		seed := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefXY")
		a, err := NewDH(g, &fixedReader{b: seed})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewDH(g, &fixedReader{b: seed})
		if !bytes.Equal(a.Public(), b.Public()) {
			t.Errorf("group %d: same seed, different keys", g)
		}
	}
}

// The group constants: safe primes (p and (p-1)/2 prime) for RFC 2409/3526,
// g^q = 1 mod p for RFC 5114. A mistyped digit fails this. A Fermat test
// (3^(n-1) = 1 mod n) is enough to catch typos and much cheaper than
// ProbablyPrime on 8192-bit numbers.
func TestMODPGroupConstants(t *testing.T) {
	three := big.NewInt(3)
	prime := func(n *big.Int) bool {
		return new(big.Int).Exp(three, new(big.Int).Sub(n, big.NewInt(1)), n).Cmp(big.NewInt(1)) == 0
	}
	for g, m := range modpGroups {
		if testing.Short() && m.p.BitLen() > 4096 {
			continue
		}
		if m.q == nil {
			q := new(big.Int).Rsh(m.p, 1)
			if !prime(m.p) || !prime(q) {
				t.Errorf("group %d: p is not a safe prime", g)
			}
			continue
		}
		if !prime(m.p) || !prime(m.q) {
			t.Errorf("group %d: p or q not prime", g)
		}
		if new(big.Int).Exp(m.g, m.q, m.p).Cmp(big.NewInt(1)) != 0 {
			t.Errorf("group %d: g^q != 1", g)
		}
	}
}

func TestDHRejectsBadPeerValues(t *testing.T) {
	bigBytes := func(g suite.DHGroup, n *big.Int) []byte {
		return n.FillBytes(make([]byte, modpGroups[g].size()))
	}
	pm1 := func(g suite.DHGroup) *big.Int { return new(big.Int).Sub(modpGroups[g].p, big.NewInt(1)) }
	ecpPub := func(g suite.DHGroup) []byte {
		d, _ := NewDH(g, rand.Reader)
		return d.Public()
	}
	flipLast := func(b []byte) []byte { b[len(b)-1] ^= 1; return b }
	x25519LowOrder := make([]byte, 32)
	x25519LowOrder[0] = 1 // u = 1 has small order: the shared secret is zero
	tests := []struct {
		name  string
		group suite.DHGroup
		peer  []byte
	}{
		{"modp 0", 14, bigBytes(14, big.NewInt(0))},
		{"modp 1", 14, bigBytes(14, big.NewInt(1))},
		{"modp p-1", 14, bigBytes(14, pm1(14))},
		{"modp p", 14, bigBytes(14, modpGroups[14].p)},
		{"modp short", 14, make([]byte, 255)},
		{"modp unpadded", 2, big.NewInt(2).Bytes()},
		{"5114 outside subgroup", 24, bigBytes(24, big.NewInt(2))},
		{"ecp not on curve", 19, flipLast(ecpPub(19))},
		{"ecp with 0x04 prefix", 19, append([]byte{4}, ecpPub(19)...)},
		{"ecp521 short", 21, ecpPub(21)[1:]},
		{"x25519 zero point", 31, make([]byte, 32)},
		{"x25519 low order", 31, x25519LowOrder},
		{"x25519 short", 31, make([]byte, 31)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDH(tt.group, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.SharedSecret(tt.peer); !errors.Is(err, ErrBadPublic) {
				t.Errorf("err = %v, want ErrBadPublic", err)
			}
		})
	}
}
