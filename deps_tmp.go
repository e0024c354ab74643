package vpgw

import (
	_ "github.com/goccy/go-yaml"
	_ "github.com/spf13/cobra"
	_ "github.com/vishvananda/netlink"
	_ "golang.zx2c4.com/wireguard/tun"
	_ "golang.org/x/crypto/hkdf"
	_ "golang.org/x/net/ipv4"
	_ "golang.org/x/sys/unix"
	_ "github.com/prometheus/client_golang/prometheus"
)
