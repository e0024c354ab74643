package ike

import "math/big"

// A MODP public value g^x has a fixed base, so it is computed from a table
// of powers of g made once per group (a fixed-base comb): one modular
// multiplication per combWindow bits of x and no squaring. For modp2048's
// 256-bit exponents that is 43 multiplications instead of Exp's ~256
// squarings, about five times faster; the shared secret y^x, whose base
// changes with every peer, still takes Exp. Like Exp, it is not
// constant-time.

// combWindow is the digit size: 2^combWindow-1 table entries per digit.
const combWindow = 6

// expBitsMax is the longest exponent the group's table covers.
func (m *modpGroup) expBitsMax() int {
	if m.q != nil {
		return m.q.BitLen()
	}
	return m.expBits
}

// combTable returns rows[i][j-1] = g^(j·2^(combWindow·i)) mod p for every
// combWindow-bit digit position i of an exponent, built on first use.
func (m *modpGroup) combTable() [][]big.Int {
	m.combOnce.Do(func() {
		rows := (m.expBitsMax() + combWindow - 1) / combWindow
		m.comb = make([][]big.Int, rows)
		base := new(big.Int).Set(m.g) // g^(2^(combWindow·i))
		q := new(big.Int)
		for i := range m.comb {
			row := make([]big.Int, 1<<combWindow-1)
			row[0].Set(base)
			for j := 1; j < len(row); j++ {
				row[j].Mul(&row[j-1], base)
				q.QuoRem(&row[j], m.p, &row[j])
			}
			base.Mul(&row[len(row)-1], base)
			q.QuoRem(base, m.p, base)
			m.comb[i] = row
		}
	})
	return m.comb
}

// powG is g^x mod p.
func (m *modpGroup) powG(x *big.Int) *big.Int {
	if x.Sign() < 0 || x.BitLen() > m.expBitsMax() {
		return new(big.Int).Exp(m.g, x, m.p) // e.g. a test vector's long exponent
	}
	rows := m.combTable()
	z := big.NewInt(1)
	t, q := new(big.Int), new(big.Int)
	for i := range rows {
		d := 0
		for b := range combWindow {
			d |= int(x.Bit(i*combWindow+b)) << b
		}
		if d == 0 {
			continue
		}
		t.Mul(z, &rows[i][d-1])
		q.QuoRem(t, m.p, z)
	}
	return z
}
