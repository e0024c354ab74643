package ike

import (
	"crypto/rand"
	"math/big"
	"testing"
)

// TestPowGMatchesExp checks the fixed-base comb against big.Int.Exp in every
// MODP group, for random exponents of the group's length and for the edges:
// the smallest, all digits at their largest, sparse bits, and one bit too
// long (which takes Exp).
func TestPowGMatchesExp(t *testing.T) {
	for g, m := range modpGroups {
		bits := m.expBitsMax()
		one := big.NewInt(1)
		max := new(big.Int).Sub(new(big.Int).Lsh(one, uint(bits)), one)
		xs := []*big.Int{big.NewInt(2), big.NewInt(1 << combWindow), max,
			new(big.Int).Lsh(one, uint(bits-1)), new(big.Int).Lsh(one, uint(bits))}
		for range 4 {
			x, err := rand.Int(rand.Reader, max)
			if err != nil {
				t.Fatal(err)
			}
			xs = append(xs, x)
		}
		for _, x := range xs {
			if got, want := m.powG(x), new(big.Int).Exp(m.g, x, m.p); got.Cmp(want) != 0 {
				t.Fatalf("group %d: g^%x differs from Exp", g, x)
			}
		}
	}
}
