package main

import "testing"

func TestWantOnly(t *testing.T) {
	defer func(v string) { *flOnly = v }(*flOnly)
	all := append(append([]string(nil), sectionKeys...), pathKeys...)
	cases := []struct {
		only string
		yes  []string
	}{
		{"", all},
		{"ss,sv,ike", []string{"tcp", "ss", "sv", "ike"}},
		{"udp", []string{"udp", "ss", "sv", "wg", "vv", "vu"}},
		{"udp,vv", []string{"udp", "vv"}},
		{"tcp,udp,sv", []string{"tcp", "udp", "sv"}},
		{"udp,failover,rekey", []string{"udp", "failover", "rekey", "ss", "sv", "wg", "vv", "vu"}},
		{"failover", []string{"failover", "ss", "sv", "wg", "vv", "vu"}},
	}
	for _, c := range cases {
		*flOnly = c.only
		if err := checkOnly(); err != nil {
			t.Errorf("-only %q: %v", c.only, err)
		}
		for _, k := range all {
			want1 := false
			for _, y := range c.yes {
				want1 = want1 || y == k
			}
			if got := want(k); got != want1 {
				t.Errorf("-only %q: want(%q) = %v, expected %v", c.only, k, got, want1)
			}
		}
	}
	*flOnly = "udp,bogus"
	if checkOnly() == nil {
		t.Error("-only udp,bogus: accepted")
	}
}
