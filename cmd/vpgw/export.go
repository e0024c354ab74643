package main

import (
	"github.com/spf13/cobra"
)

func exportCmd() *cobra.Command {
	var sf socketFlags
	var outFile string
	cmd := &cobra.Command{
		Use:   "export [-O FILE]",
		Short: "Print the running configuration as a configuration file (YAML)",
		Long: `Print the running configuration in the configuration file's schema: the
daemon's settings, the attached VPN gateway (name, ASN, VPC CIDRs, route
table, route propagation), the customer gateways and the VPN connections of
the attached gateway with every tunnel option. 'vpgw validate' accepts it and
'vpgw run --config' on it reproduces the same objects.

The output holds the tunnels' pre-shared keys: with -O it is written with
mode 0600. VPN gateways that are not attached, and their connections, have no
place in the file's schema and are not exported.`,
		Example: `  vpgw export > /etc/vpgw/vpgw.yaml
  vpgw export -O /etc/vpgw/vpgw.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := sf.client()
			if err != nil {
				return err
			}
			out, err := c.Export()
			if err != nil {
				return err
			}
			return writeSecret(cmd, outFile, out)
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVarP(&outFile, "output-file", "O", "", "write to FILE (mode 0600) instead of standard output")
	return cmd
}
