package v2

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/vpgw/vpgw/ike/message"
)

func TestRangeToPrefixes(t *testing.T) {
	for _, tc := range []struct {
		start, end string
		want       []string
	}{
		{"0.0.0.0", "255.255.255.255", []string{"0.0.0.0/0"}},
		{"10.0.0.0", "10.0.255.255", []string{"10.0.0.0/16"}},
		{"10.0.0.1", "10.0.0.1", []string{"10.0.0.1/32"}},
		{"10.0.0.1", "10.0.0.6", []string{"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"}},
		{"255.255.255.254", "255.255.255.255", []string{"255.255.255.254/31"}},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", []string{"::/0"}},
		{"10.0.0.2", "10.0.0.1", nil},
	} {
		got := rangeToPrefixes(netip.MustParseAddr(tc.start), netip.MustParseAddr(tc.end))
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if !reflect.DeepEqual(s, tc.want) {
			t.Errorf("%s-%s: %v, want %v", tc.start, tc.end, s, tc.want)
		}
	}
}

func TestNarrowTS(t *testing.T) {
	allowed := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("192.168.0.0/24")}
	got := narrowTS(anyTS, allowed)
	want := append(prefixTS("10.0.0.0/16"), prefixTS("192.168.0.0/24")...)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("any: %v", got)
	}
	// A narrower offer stays as offered; protocol and ports are kept.
	offer := prefixTS("10.0.1.0/24")
	offer[0].IPProtocol, offer[0].StartPort, offer[0].EndPort = 6, 443, 443
	if got := narrowTS(offer, allowed); !reflect.DeepEqual(got, offer) {
		t.Errorf("narrow: %v", got)
	}
	if got := narrowTS(prefixTS("172.16.0.0/12"), allowed); len(got) != 0 {
		t.Errorf("disjoint: %v", got)
	}
	v6 := []message.TrafficSelector{{EndPort: 65535, Start: netip.MustParseAddr("::"), End: netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")}}
	if got := narrowTS(v6, anyIPv4); len(got) != 0 {
		t.Errorf("v6 into v4: %v", got)
	}
}

func TestCheckNATD(t *testing.T) {
	const spii = 0x0102030405060708
	local, remote := vgw500, cgw500
	n := func(t message.NotifyType, ap netip.AddrPort) *message.Notify {
		return &message.Notify{NotifyType: t, Data: natdHash(spii, 0, ap)}
	}
	src, dst := message.NAT_DETECTION_SOURCE_IP, message.NAT_DETECTION_DESTINATION_IP
	for _, tc := range []struct {
		name string
		ns   []*message.Notify
		want natdResult
	}{
		{"none", nil, natdResult{}},
		{"direct", []*message.Notify{n(src, remote), n(dst, local)}, natdResult{present: true}},
		{"peer behind NAT", []*message.Notify{n(src, lanAddr), n(dst, local)}, natdResult{present: true, peerNAT: true, detection: true}},
		{"we are behind NAT", []*message.Notify{n(src, remote), n(dst, vgw4500)}, natdResult{present: true, localNAT: true, detection: true}},
		{"multihomed peer", []*message.Notify{n(src, lanAddr), n(src, remote), n(dst, local)}, natdResult{present: true}},
	} {
		if got := checkNATD(tc.ns, spii, local, remote); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
