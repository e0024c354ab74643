package isakmp

import "testing"

// BenchmarkParse parses strongSwan's Main Mode messages 1 (SA with
// proposals and vendor IDs) and 3 (KE, nonce, NAT-D).
func BenchmarkParse(b *testing.B) {
	c := loadCapture(b)
	for _, tc := range []struct {
		name string
		data []byte
	}{{"MM1", c[0].Data}, {"MM3", c[2].Data}} {
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

// BenchmarkSerialize builds Main Mode message 1 again from its payloads.
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
