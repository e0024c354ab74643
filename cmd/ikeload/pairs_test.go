package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in          string
		n           int
		first, last string
	}{
		{"198.51.100.10", 1, "198.51.100.10", "198.51.100.10"},
		{"198.51.100.10-109", 100, "198.51.100.10", "198.51.100.109"},
		{"203.0.113.10-203.0.113.209", 200, "203.0.113.10", "203.0.113.209"},
		{"10.0.0.250-10.0.1.5", 12, "10.0.0.250", "10.0.1.5"},
	} {
		got, err := parseRange(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if len(got) != tc.n || got[0].String() != tc.first || got[len(got)-1].String() != tc.last {
			t.Errorf("%s: %d addresses %v…%v, want %d %s…%s", tc.in, len(got), got[0], got[len(got)-1], tc.n, tc.first, tc.last)
		}
	}
	for _, bad := range []string{"", "x", "198.51.100.10-9", "198.51.100.10-300", "2001:db8::1", "10.0.0.1-2001:db8::2", "0.0.0.0-255.255.255.255"} {
		if _, err := parseRange(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestRangePairs(t *testing.T) {
	ls, _ := parseRange("198.51.100.10-12")
	ts, _ := parseRange("203.0.113.10-15")
	ps, err := rangePairs(ls, ts, "k.{local}.{target}.{i}.{conn}.{tunnel}", "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"198.51.100.10 203.0.113.10 k.198.51.100.10.203.0.113.10.0.0.1",
		"198.51.100.10 203.0.113.11 k.198.51.100.10.203.0.113.11.1.0.2",
		"198.51.100.11 203.0.113.12 k.198.51.100.11.203.0.113.12.2.1.1",
		"198.51.100.11 203.0.113.13 k.198.51.100.11.203.0.113.13.3.1.2",
		"198.51.100.12 203.0.113.14 k.198.51.100.12.203.0.113.14.4.2.1",
		"198.51.100.12 203.0.113.15 k.198.51.100.12.203.0.113.15.5.2.2",
	}
	if len(ps) != len(want) {
		t.Fatalf("%d pairs, want %d", len(ps), len(want))
	}
	for i, p := range ps {
		if got := p.local.String() + " " + p.target.String() + " " + p.psk; got != want[i] {
			t.Errorf("pair %d: %q, want %q", i, got, want[i])
		}
	}
	if ps, err := rangePairs(ls[:1], ts[:1], "", "shared.key"); err != nil || ps[0].psk != "shared.key" {
		t.Errorf("no template: %v %v", ps, err)
	}
	if _, err := rangePairs(ls, ts[:4], "k", ""); err == nil {
		t.Error("4 targets over 3 locals: no error")
	}
	if _, err := rangePairs(ls, ts, "", ""); err == nil {
		t.Error("no PSK at all: no error")
	}
}

func TestReadPairs(t *testing.T) {
	in := `# local target psk
198.51.100.10 203.0.113.10 key.one

198.51.100.10   203.0.113.11   # default PSK
`
	ps, err := readPairs(strings.NewReader(in), "f", "default.key")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].psk != "key.one" || ps[1].psk != "default.key" ||
		ps[1].local != netip.MustParseAddr("198.51.100.10") || ps[1].target != netip.MustParseAddr("203.0.113.11") {
		t.Fatalf("got %+v", ps)
	}
	for _, bad := range []string{
		"198.51.100.10\n",
		"198.51.100.10 203.0.113.10 a b\n",
		"198.51.100.10 nope k\n",
		"198.51.100.10 203.0.113.10\n", // no PSK anywhere
		"198.51.100.10 203.0.113.10 k\n198.51.100.10 203.0.113.10 k\n",
		"# nothing\n",
	} {
		if _, err := readPairs(strings.NewReader(bad), "f", ""); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestMakeJobs(t *testing.T) {
	ls, _ := parseRange("198.51.100.10-11")
	ts, _ := parseRange("203.0.113.10-13")
	ps, _ := rangePairs(ls, ts, "k{i}", "")
	base := &params{timeouts: []time.Duration{time.Second}}
	jobs := makeJobs(base, ps, 2)
	if len(jobs) != 8 {
		t.Fatalf("%d jobs, want 8", len(jobs))
	}
	for i, j := range jobs {
		p := ps[i%4]
		if j.local != p.local || j.target != p.target || string(j.psk) != p.psk || len(j.timeouts) != 1 {
			t.Errorf("job %d: %v → %v %q", i, j.local, j.target, j.psk)
		}
	}
	if jobs[0] != jobs[4] {
		t.Error("the rounds should share each pair's params")
	}
}
