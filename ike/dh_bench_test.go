package ike

import (
	"crypto/rand"
	"testing"

	"github.com/vpgw/vpgw/suite"
)

// BenchmarkDH is one side's DH work in an exchange, per group: a fresh key
// pair and the shared secret with the peer's public value.
func BenchmarkDH(b *testing.B) {
	for _, g := range []suite.DHGroup{GroupMODP2048, GroupMODP3072, GroupECP256, GroupECP384, GroupCurve25519} {
		b.Run(GroupName(g), func(b *testing.B) {
			peer, err := NewDH(g, rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			pub := peer.Public()
			b.ReportAllocs()
			for b.Loop() {
				d, err := NewDH(g, rand.Reader)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := d.SharedSecret(pub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
