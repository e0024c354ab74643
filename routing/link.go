package routing

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ConfigureLink gives the interface name (normally a tunnel's TUN) the
// address addr, sets its MTU and brings it up, in the current network
// namespace. See ConfigureLinkAt.
func ConfigureLink(name string, addr netip.Prefix, mtu int) error {
	return ConfigureLinkAt(nil, name, addr, mtu)
}

// ConfigureLinkAt is ConfigureLink through h (nil: the current network
// namespace).
//
// addr is the gateway's side of the tunnel's inside /30, e.g.
// 169.254.10.1/30. It is installed without a peer address, so the kernel adds
// the connected route for the whole /30 (the customer gateway's .2 included)
// through the link. Any other IPv4 address on the link is removed first: a
// changed inside CIDR must not leave the old one behind. Calling it again
// with the same arguments changes nothing.
func ConfigureLinkAt(h *netlink.Handle, name string, addr netip.Prefix, mtu int) error {
	if !addr.IsValid() || !addr.Addr().Is4() {
		return fmt.Errorf("routing: configure %s: address %v is not an IPv4 prefix", name, addr)
	}
	if addr.Bits() < 31 && addr.Addr() == addr.Masked().Addr() {
		return fmt.Errorf("routing: configure %s: %v is a network address, want a host address such as the .1 of the /30", name, addr)
	}
	if mtu < 68 || mtu > 65535 {
		return fmt.Errorf("routing: configure %s: MTU %d out of range 68..65535", name, mtu)
	}
	h = handleOrDefault(h)

	link, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("routing: configure %s: %w", name, err)
	}
	if link.Attrs().MTU != mtu {
		if err := h.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("routing: configure %s: set MTU %d: %w", name, mtu, err)
		}
	}
	if err := setOnlyAddr(h, link, addr); err != nil {
		return fmt.Errorf("routing: configure %s: %w", name, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("routing: configure %s: set up: %w", name, err)
	}
	return nil
}

// setOnlyAddr makes addr the link's only IPv4 address. Others go first:
// deleting a primary address would also take a same-subnet secondary with it.
func setOnlyAddr(h *netlink.Handle, link netlink.Link, addr netip.Prefix) error {
	want := prefixToIPNet(addr)
	have, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	present := false
	for _, a := range have {
		if a.IPNet != nil && a.Peer == nil && a.IPNet.IP.Equal(want.IP) && maskEqual(a.IPNet.Mask, want.Mask) {
			present = true
			continue
		}
		if err := h.AddrDel(link, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove old address %v: %w", a.IPNet, err)
		}
	}
	if present {
		return nil
	}
	if err := h.AddrReplace(link, &netlink.Addr{IPNet: want}); err != nil {
		return fmt.Errorf("set address %v: %w", addr, err)
	}
	return nil
}

// DeleteLink deletes the interface name if it still exists. A TUN normally
// disappears when its file descriptor is closed, so a missing link is not an
// error.
func DeleteLink(name string) error {
	return DeleteLinkAt(nil, name)
}

// DeleteLinkAt is DeleteLink through h (nil: the current network namespace).
func DeleteLinkAt(h *netlink.Handle, name string) error {
	h = handleOrDefault(h)
	link, err := h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("routing: delete link %s: %w", name, err)
	}
	if err := h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("routing: delete link %s: %w", name, err)
	}
	return nil
}

// handleOrDefault returns h, or for nil a handle on the current network
// namespace (the same zero Handle netlink's package functions use).
func handleOrDefault(h *netlink.Handle) *netlink.Handle {
	if h == nil {
		return &netlink.Handle{}
	}
	return h
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{
		IP:   net.IP(p.Addr().AsSlice()),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}
}

// ipNetToPrefix converts a kernel destination back; nil is the IPv4 default
// route (the kernel sends no RTA_DST for it).
func ipNetToPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), true
	}
	a, ok := netip.AddrFromSlice(n.IP)
	ones, bits := n.Mask.Size()
	if !ok || bits == 0 {
		return netip.Prefix{}, false
	}
	if a.Is4In6() && bits == 128 {
		ones -= 96
	}
	p := netip.PrefixFrom(a.Unmap(), ones)
	return p, p.IsValid()
}

func maskEqual(a, b net.IPMask) bool {
	ao, ab := a.Size()
	bo, bb := b.Size()
	return ao == bo && ab == bb
}
