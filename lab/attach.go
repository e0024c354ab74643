package lab

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Attach returns a handle on a lab that another process built with Up (for
// example `vpgw-lab up`). It does not own the namespaces: its Down stops only
// the processes started through it. Configs and logs go to a new directory
// that is kept after Down. Options.NAT is read from the running lab.
func Attach(o Options) (*Lab, error) {
	if !prefixRE.MatchString(o.Prefix) {
		return nil, fmt.Errorf("lab: prefix %q: want 1-20 of [a-z0-9-]", o.Prefix)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	existing, err := listNetns()
	if err != nil {
		return nil, err
	}
	for _, r := range Roles {
		if !existing[nsName(o.Prefix, r)] {
			return nil, fmt.Errorf("lab: namespace %s does not exist (run `vpgw-lab up --prefix %s`)", nsName(o.Prefix, r), o.Prefix)
		}
	}
	dir, err := os.MkdirTemp(tempBase(), "vpgw-lab-"+o.Prefix+"-")
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	o.KeepDir = true
	// The NAT table is the only trace Up leaves of Options.NAT.
	if _, err := runCmd(io.Discard, nil, "ip", "netns", "exec", nsName(o.Prefix, RoleWAN),
		"nft", "list", "table", "ip", "vpgwlab"); err == nil {
		o.NAT = true
	}
	return &Lab{opts: o, dir: dir}, nil
}

// StaleDirs lists the lab directories a prefix left in the temp directory.
func StaleDirs(prefix string) []string {
	m, _ := filepath.Glob(filepath.Join(tempBase(), "vpgw-lab-"+prefix+"-*"))
	return m
}
