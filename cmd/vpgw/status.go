package main

import "github.com/spf13/cobra"

func statusCmd() *cobra.Command {
	var sf socketFlags
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the state of every tunnel",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			c, err := sf.client()
			if err != nil {
				return err
			}
			st, err := c.Status()
			if err != nil {
				return err
			}
			return out.print(cmd.OutOrStdout(), st, st.WriteTable)
		},
	}
	sf.register(cmd)
	out.register(cmd)
	return cmd
}

const defaultSocket = "/run/vpgw/vpgw.sock"
