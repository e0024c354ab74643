package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vpgw/vpgw/devconfig"
	"github.com/vpgw/vpgw/gateway"
)

func configCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Download the customer gateway's configuration for a VPN connection",
		Long: `AWS's "Download configuration": the configuration of the customer's device for
one VPN connection, with both tunnels, their PSKs, proposals that match the
tunnel options, and static or BGP routing.`,
		Example: `  vpgw config devices
  vpgw config download --connection vpn-1 --device strongswan-swanctl -O swanctl.conf`,
	}
	cmd.AddCommand(configDownloadCmd(), configDevicesCmd())
	return cmd
}

func deviceNames() []string {
	var names []string
	for _, d := range devconfig.Devices() {
		names = append(names, d.Name)
	}
	return names
}

func configDownloadCmd() *cobra.Command {
	var sf socketFlags
	var req gateway.ConfigDownloadRequest
	var lans []string
	var outFile string
	cmd := &cobra.Command{
		Use:   "download --connection VPN --device DEVICE [--ike-version ikev1|ikev2] [-O FILE]",
		Short: "Print (or write) the customer gateway configuration of a VPN connection",
		Long: `Render the configuration of the customer's device for a VPN connection. The
output holds both tunnels' pre-shared keys: with -O it is written with mode
0600. 'vpgw config devices' lists the device types. --ike-version picks the
IKE version the device uses (default: IKEv2 where the tunnel allows it).
--customer-lan names the customer's networks for policy-based devices
(default: the connection's static routes).`,
		Example: `  vpgw config download --connection vpn-1 --device strongswan-swanctl
  vpgw config download --connection vpn-1 --device cisco-asa --ike-version ikev1 -O vpn-1-asa.txt
  vpgw config download --connection vpn-1 --device generic --customer-lan 172.16.0.0/24`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch req.IKEVersion {
			case "", gateway.IKEVersion1, gateway.IKEVersion2:
			default:
				return fmt.Errorf("--ike-version: must be ikev1 or ikev2, got %q", req.IKEVersion)
			}
			var err error
			if req.CustomerLANs, err = parsePrefixes("customer-lan", lans); err != nil {
				return err
			}
			c, err := sf.client()
			if err != nil {
				return err
			}
			r, err := c.DownloadConfig(req)
			if err != nil {
				return err
			}
			return writeSecret(cmd, outFile, []byte(r.Config))
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&req.Connection, "connection", "", "VPN connection name or ID")
	f.StringVar(&req.Device, "device", "", "device type (vpgw config devices lists them)")
	f.StringVar(&req.IKEVersion, "ike-version", "", "IKE version of the device: ikev1 | ikev2")
	f.StringSliceVar(&lans, "customer-lan", nil, "the customer's network behind the device (repeat or comma-separate)")
	f.StringVarP(&outFile, "output-file", "O", "", "write to FILE (mode 0600) instead of standard output")
	cmd.MarkFlagRequired("connection")
	cmd.MarkFlagRequired("device")
	cmd.RegisterFlagCompletionFunc("connection", completeFlagNames(&sf, vpnNames))
	cmd.RegisterFlagCompletionFunc("device", cobra.FixedCompletions(deviceNames(), cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("ike-version", cobra.FixedCompletions([]string{"ikev1", "ikev2"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func configDevicesCmd() *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:     "devices",
		Short:   "List the device types 'config download' can render",
		Example: `  vpgw config devices`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			type device struct {
				Name        string `json:"name"`
				Description string `json:"description"`
			}
			var l []device
			for _, d := range devconfig.Devices() {
				l = append(l, device{d.Name, d.Description})
			}
			return out.write(cmd.OutOrStdout(), l, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "DEVICE\tDESCRIPTION")
				for _, d := range l {
					fmt.Fprintf(tw, "%s\t%s\n", d.Name, d.Description)
				}
			})
		},
	}
	out.register(cmd)
	return cmd
}
