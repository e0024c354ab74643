package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

func statusCmd() *cobra.Command {
	var sf socketFlags
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the state of every tunnel",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := sf.client()
			if err != nil {
				return err
			}
			st, err := c.Status()
			if err != nil {
				return err
			}
			switch output {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			case "table", "":
				return st.WriteTable(cmd.OutOrStdout())
			}
			return fmt.Errorf("-o: %q is not table or json", output)
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table | json")
	return cmd
}

const defaultSocket = "/run/vpgw/vpgw.sock"
