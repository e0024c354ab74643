package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vpgw/vpgw/gateway"
)

func tunnelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tunnel",
		Short: "Act on one tunnel of a VPN connection",
	}
	cmd.AddCommand(tunnelRekeyCmd(), tunnelModifyCmd())
	return cmd
}

func tunnelRekeyCmd() *cobra.Command {
	var sf socketFlags
	var req gateway.RekeyRequest
	cmd := &cobra.Command{
		Use:   "rekey",
		Short: "Rekey a tunnel's CHILD_SA (or with --ike its IKE SA) now",
		Long: `Start a rekey now, as vpgw does by itself before a lifetime ends. Traffic
keeps flowing: the old SAs accept packets until the new ones carry them.
For IKEv1 tunnels --ike re-authenticates (a new Main Mode).`,
		Example: `  vpgw tunnel rekey --connection vpn-1 --tunnel 1
  vpgw tunnel rekey --connection vpn-1 --tunnel 2 --ike`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if req.Tunnel != 1 && req.Tunnel != 2 {
				return fmt.Errorf("--tunnel: must be 1 or 2")
			}
			c, err := sf.client()
			if err != nil {
				return err
			}
			if err := c.Rekey(req); err != nil {
				return err
			}
			what := "CHILD_SA"
			if req.IKE {
				what = "IKE SA"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%d: %s rekey started\n", req.Connection, req.Tunnel, what)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&req.Connection, "connection", "", "VPN connection name")
	cmd.Flags().IntVar(&req.Tunnel, "tunnel", 0, "tunnel number: 1 or 2")
	cmd.Flags().BoolVar(&req.IKE, "ike", false, "rekey the IKE SA (IKEv1: re-authenticate) instead of the CHILD_SA")
	cmd.MarkFlagRequired("connection")
	cmd.MarkFlagRequired("tunnel")
	return cmd
}
