package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vpgw/vpgw/gateway"
)

func statusCmd() *cobra.Command {
	var socket, configPath, output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the state of every tunnel",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if socket == "" {
				socket = defaultSocket
				if configPath != "" {
					cfg, err := gateway.LoadConfig(configPath)
					if err != nil {
						return err
					}
					socket = cfg.Gateway.ControlSocket
				}
			}
			st, err := gateway.NewClient(socket).Status()
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
	cmd.Flags().StringVar(&socket, "socket", "", "control socket (default "+defaultSocket+", or the config's)")
	cmd.Flags().StringVarP(&configPath, "config", "c", "", "read the control socket path from this configuration file")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table | json")
	return cmd
}

const defaultSocket = "/run/vpgw/vpgw.sock"
