package main

import (
	"github.com/spf13/cobra"

	"github.com/vpgw/vpgw/gateway"
)

func statusCmd() *cobra.Command {
	var sf socketFlags
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the state of every tunnel",
		Args:  cobra.NoArgs,
		RunE: showRunE(&sf, &out, func(c *gateway.Client, _ []string) (*gateway.Status, error) { return c.Status() },
			(*gateway.Status).WriteTable),
	}
	sf.register(cmd)
	out.register(cmd)
	return cmd
}

const defaultSocket = "/run/vpgw/vpgw.sock"
