package lab

import (
	"fmt"
	"strings"
)

// cutTable is the nftables table in the wan namespace that cuts tunnels.
const cutTable = "vpgw_cut"

// Cut drops every packet the WAN router forwards to or from addr (one of
// vpgw's outside addresses): the tunnel dies silently, as when a link or an
// ISP path fails, and only dead peer detection can notice.
func (l *Lab) Cut(addr string) error {
	if !idRE.MatchString(addr) {
		return fmt.Errorf("lab: Cut: bad address %q", addr)
	}
	script := fmt.Sprintf(`table inet %[1]s {
	chain forward {
		type filter hook forward priority -10; policy accept;
		ip daddr %[2]s counter drop comment "cut %[2]s"
		ip saddr %[2]s counter drop comment "cut %[2]s"
	}
}
`, cutTable, addr)
	if out, _ := l.Exec(RoleWAN, "nft", "list", "table", "inet", cutTable); len(out) > 0 && !strings.Contains(string(out), "Error") {
		// Add to the existing table.
		for _, dir := range []string{"daddr", "saddr"} {
			if _, err := l.Exec(RoleWAN, "nft", "add", "rule", "inet", cutTable, "forward",
				"ip", dir, addr, "counter", "drop", "comment", fmt.Sprintf("\"cut %s\"", addr)); err != nil {
				return err
			}
		}
		l.logf("cut %s", addr)
		return nil
	}
	if err := l.execStdin(RoleWAN, script, "nft", "-f", "-"); err != nil {
		return err
	}
	l.logf("cut %s", addr)
	return nil
}

// Restore undoes every Cut.
func (l *Lab) Restore() error {
	out, err := l.Exec(RoleWAN, "nft", "list", "tables")
	if err != nil {
		return err
	}
	if strings.Contains(string(out), cutTable) {
		if _, err := l.Exec(RoleWAN, "nft", "delete", "table", "inet", cutTable); err != nil {
			return err
		}
	}
	l.logf("restored all cut links")
	return nil
}
