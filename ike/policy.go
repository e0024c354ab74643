package ike

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/vpgw/vpgw/suite"
)

// Policy is what a tunnel accepts for one phase, in the operator's order of
// preference (from the config's encryption, integrity and dh_groups lists).
type Policy struct {
	Ciphers  []suite.Cipher
	Integs   []suite.Integ
	DHGroups []suite.DHGroup
}

// ParsePolicy builds a Policy from the configuration's names (suite.CipherNames,
// suite.IntegNames) and DH group numbers, keeping their order. Encryption and
// integrity must not be empty; an empty dh list accepts no group (phase 2:
// no PFS).
func ParsePolicy(encryption, integrity []string, dh []int) (Policy, error) {
	var p Policy
	if len(encryption) == 0 || len(integrity) == 0 {
		return p, errors.New("encryption and integrity lists must not be empty")
	}
	for _, n := range encryption {
		c, ok := suite.CipherNames[n]
		if !ok {
			return p, fmt.Errorf("unknown encryption %q (known: %s)", n, knownNames(suite.CipherNames))
		}
		if !slices.Contains(p.Ciphers, c) {
			p.Ciphers = append(p.Ciphers, c)
		}
	}
	for _, n := range integrity {
		i, ok := suite.IntegNames[n]
		if !ok {
			return p, fmt.Errorf("unknown integrity %q (known: %s)", n, knownNames(suite.IntegNames))
		}
		if !slices.Contains(p.Integs, i) {
			p.Integs = append(p.Integs, i)
		}
	}
	for _, n := range dh {
		g := suite.DHGroup(n)
		if n < 0 || n > 0xffff || !SupportedGroup(g) {
			return p, fmt.Errorf("unsupported DH group %d", n)
		}
		if !slices.Contains(p.DHGroups, g) {
			p.DHGroups = append(p.DHGroups, g)
		}
	}
	return p, nil
}

func knownNames[V any](m map[string]V) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// String lists the policy for operators, in the configuration's terms:
// "encryption aes256,aes128; integrity sha2-256; dh groups 14,19".
func (p Policy) String() string {
	var b strings.Builder
	b.WriteString("encryption ")
	for i, c := range p.Ciphers {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c.String())
	}
	b.WriteString("; integrity ")
	for i, v := range p.Integs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(v.String())
	}
	b.WriteString("; dh groups ")
	if len(p.DHGroups) == 0 {
		b.WriteString("none")
	}
	for i, g := range p.DHGroups {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(g)))
	}
	return b.String()
}
