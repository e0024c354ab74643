package message

import "testing"

// BenchmarkParse parses strongSwan's IKE_SA_INIT request (464 bytes: SA
// with proposals, KE, nonce, NAT-D and other notifies) and an IKE_AUTH
// request (header and SK payload: the encrypted body is parsed later).
func BenchmarkParse(b *testing.B) {
	c := loadCapture(b)
	for _, tc := range []struct {
		name string
		data []byte
	}{{"IKE_SA_INIT", c[0].Data}, {"IKE_AUTH", c[2].Data}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(tc.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSerialize builds the same IKE_SA_INIT request again from its
// parsed payloads.
func BenchmarkSerialize(b *testing.B) {
	m, err := Parse(loadCapture(b)[0].Data)
	if err != nil {
		b.Fatal(err)
	}
	out := Message{Header: m.Header, Payloads: m.Payloads}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := out.Serialize(); err != nil {
			b.Fatal(err)
		}
	}
}
