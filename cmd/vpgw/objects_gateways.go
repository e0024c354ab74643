package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpgw/vpgw/gateway"
	"github.com/vpgw/vpgw/store"
)

// ---- customer-gateway ----

func customerGatewayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "customer-gateway",
		Aliases: []string{"cgw"},
		Short:   "Create, list and delete customer gateways (the customer's VPN devices)",
		Long: `A customer gateway is the record of the customer's VPN device: its static
public IP address (or that of the NAT device in front of it) and, for dynamic
routing, its BGP ASN. Like AWS's, a customer gateway cannot be modified, and it
cannot be deleted while a VPN connection uses it.`,
		Example: `  vpgw customer-gateway create --name cgw-1 --ip 198.51.100.2 --bgp-asn 65000
  vpgw customer-gateway list
  vpgw customer-gateway delete cgw-1`,
	}
	cmd.AddCommand(cgwCreateCmd(), cgwListCmd(), cgwDescribeCmd(), cgwDeleteCmd())
	return cmd
}

func cgwCreateCmd() *cobra.Command {
	var sf socketFlags
	var name, ip string
	var asn uint32
	cmd := &cobra.Command{
		Use:   "create --name NAME --ip ADDRESS [--bgp-asn ASN]",
		Short: "Create a customer gateway",
		Long: `Create a customer gateway: the customer device's public IPv4 address and,
for dynamic (BGP) routing, its ASN (1–2147483647). The name must be unique;
vpgw assigns an ID such as cgw-0a1b2c3d4e5f67890.`,
		Example: `  vpgw customer-gateway create --name cgw-1 --ip 198.51.100.2
  vpgw customer-gateway create --name cgw-bgp --ip 198.51.100.3 --bgp-asn 65000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, err := parseAddr("ip", ip)
			if err != nil {
				return err
			}
			c, err := sf.client()
			if err != nil {
				return err
			}
			r, err := c.CreateCustomerGateway(gateway.CreateCustomerGatewayRequest{Name: name, IP: addr, BGPASN: asn})
			if err != nil {
				return err
			}
			done(cmd, "created customer gateway "+label(r.Object.ID, r.Object.Name), r.Summary)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&name, "name", "", "name (1–64 of A-Z a-z 0-9 . _ -)")
	cmd.Flags().StringVar(&ip, "ip", "", "the device's static public IPv4 address")
	cmd.Flags().Uint32Var(&asn, "bgp-asn", 0, "the device's BGP ASN (needed for dynamic routing)")
	cmd.MarkFlagRequired("name")
	cmd.MarkFlagRequired("ip")
	return cmd
}

func cgwListCmd() *cobra.Command {
	var sf socketFlags
	var out outputFlag
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the customer gateways",
		Example: `  vpgw customer-gateway list
  vpgw customer-gateway list -o json`,
		Args: cobra.NoArgs,
		RunE: showRunE(&sf, &out, func(c *gateway.Client, _ []string) ([]store.CustomerGateway, error) { return c.CustomerGateways() },
			tabbed(cgwTable)),
	}
	sf.register(cmd)
	out.register(cmd)
	return cmd
}

func cgwTable(tw *tabwriter.Writer, l []store.CustomerGateway) {
	fmt.Fprintln(tw, "ID\tNAME\tIP\tBGP ASN\tCREATED")
	for _, g := range l {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.ID, g.Name, g.IP, orDash(g.BGPASN), g.CreatedAt.UTC().Format(time.RFC3339))
	}
}

func cgwDescribeCmd() *cobra.Command {
	var sf socketFlags
	var out outputFlag
	cmd := &cobra.Command{
		Use:     "describe NAME_OR_ID",
		Short:   "Show one customer gateway",
		Example: `  vpgw customer-gateway describe cgw-1 -o yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: showRunE(&sf, &out, func(c *gateway.Client, args []string) (store.CustomerGateway, error) {
			return c.CustomerGateway(args[0])
		},
			tabbed(func(tw *tabwriter.Writer, g store.CustomerGateway) { cgwTable(tw, []store.CustomerGateway{g}) })),
	}
	sf.register(cmd)
	out.register(cmd)
	cmd.ValidArgsFunction = completeNames(&sf, cgwNames)
	return cmd
}

func cgwDeleteCmd() *cobra.Command {
	var sf socketFlags
	cmd := &cobra.Command{
		Use:   "delete NAME_OR_ID",
		Short: "Delete a customer gateway that no VPN connection uses",
		Long: `Delete a customer gateway. It is refused while a VPN connection uses the
customer gateway: delete the connection first (vpgw vpn-connection delete).`,
		Example: `  vpgw customer-gateway delete cgw-1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := sf.client()
			if err != nil {
				return err
			}
			r, err := c.DeleteCustomerGateway(args[0])
			if err != nil {
				return err
			}
			done(cmd, "deleted customer gateway "+label(r.Object.ID, r.Object.Name), r.Summary)
			return nil
		},
	}
	sf.register(cmd)
	cmd.ValidArgsFunction = completeNames(&sf, cgwNames)
	return cmd
}

// ---- vpn-gateway ----

func vpnGatewayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "vpn-gateway",
		Aliases: []string{"vgw"},
		Short:   "Create, attach, detach, list and delete virtual private gateways",
		Long: `The virtual private gateway is the Amazon side of the VPN: its ASN is the one
the customer peers with over BGP. Attaching it to the VPC names the VPC CIDRs
(what the tunnels may reach, advertised to customers) and the kernel route
table that receives the customers' routes. One vpgw serves one VPC: only one
VPN gateway can be attached at a time.`,
		Example: `  vpgw vpn-gateway create --name vgw-1 --asn 64512
  vpgw vpn-gateway attach vgw-1 --vpc-cidr 10.0.0.0/16
  vpgw vpn-gateway list
  vpgw vpn-gateway detach vgw-1
  vpgw vpn-gateway delete vgw-1`,
	}
	cmd.AddCommand(vgwCreateCmd(), vgwListCmd(), vgwDescribeCmd(), vgwAttachCmd(), vgwDetachCmd(), vgwDeleteCmd())
	return cmd
}

func vgwCreateCmd() *cobra.Command {
	var sf socketFlags
	var name string
	var asn uint32
	cmd := &cobra.Command{
		Use:   "create --name NAME [--asn ASN]",
		Short: "Create a virtual private gateway",
		Long: `Create a virtual private gateway with its Amazon-side ASN (64512–65534 or
4200000000–4294967294; default 64512). It carries no traffic until attached.`,
		Example: `  vpgw vpn-gateway create --name vgw-1
  vpgw vpn-gateway create --name vgw-1 --asn 65010`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := sf.client()
			if err != nil {
				return err
			}
			r, err := c.CreateVPNGateway(gateway.CreateVPNGatewayRequest{Name: name, ASN: asn})
			if err != nil {
				return err
			}
			done(cmd, fmt.Sprintf("created VPN gateway %s with ASN %d", label(r.Object.ID, r.Object.Name), r.Object.ASN), r.Summary)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&name, "name", "", "name (1–64 of A-Z a-z 0-9 . _ -)")
	cmd.Flags().Uint32Var(&asn, "asn", 0, "Amazon-side ASN (default 64512)")
	cmd.MarkFlagRequired("name")
	return cmd
}

func vgwListCmd() *cobra.Command {
	var sf socketFlags
	var out outputFlag
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the virtual private gateways",
		Example: `  vpgw vpn-gateway list
  vpgw vpn-gateway list -o yaml`,
		Args: cobra.NoArgs,
		RunE: showRunE(&sf, &out, func(c *gateway.Client, _ []string) ([]store.VPNGateway, error) { return c.VPNGateways() },
			tabbed(vgwTable)),
	}
	sf.register(cmd)
	out.register(cmd)
	return cmd
}

func vgwTable(tw *tabwriter.Writer, l []store.VPNGateway) {
	fmt.Fprintln(tw, "ID\tNAME\tASN\tSTATE\tVPC CIDRS\tROUTE TABLE\tPROPAGATION")
	for _, g := range l {
		state := "detached"
		if g.Attached {
			state = "attached"
		}
		prop := "disabled"
		if g.RoutePropagation {
			prop = "enabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", g.ID, g.Name, g.ASN, state, prefixList(g.VPCCIDRs), orDash(g.RouteTable), prop)
	}
}

func vgwDescribeCmd() *cobra.Command {
	var sf socketFlags
	var out outputFlag
	cmd := &cobra.Command{
		Use:     "describe NAME_OR_ID",
		Short:   "Show one virtual private gateway",
		Example: `  vpgw vpn-gateway describe vgw-1 -o json`,
		Args:    cobra.ExactArgs(1),
		RunE: showRunE(&sf, &out, func(c *gateway.Client, args []string) (store.VPNGateway, error) { return c.VPNGateway(args[0]) },
			tabbed(func(tw *tabwriter.Writer, g store.VPNGateway) { vgwTable(tw, []store.VPNGateway{g}) })),
	}
	sf.register(cmd)
	out.register(cmd)
	cmd.ValidArgsFunction = completeNames(&sf, vgwNames)
	return cmd
}

func vgwAttachCmd() *cobra.Command {
	var sf socketFlags
	var cidrs []string
	var table int
	cmd := &cobra.Command{
		Use:   "attach NAME_OR_ID --vpc-cidr CIDR [--vpc-cidr CIDR ...] [--route-table N]",
		Short: "Attach a virtual private gateway to the VPC",
		Long: `Attach the VPN gateway to the VPC: the VPC's CIDRs are what the tunnels may
reach (and what is advertised to customers over BGP); --route-table is the
kernel table that receives the customers' routes (default 254, main). Its VPN
connections start at once. Refused while another VPN gateway is attached:
this vpgw serves one VPC.`,
		Example: `  vpgw vpn-gateway attach vgw-1 --vpc-cidr 10.0.0.0/16
  vpgw vpn-gateway attach vgw-1 --vpc-cidr 10.0.0.0/16,10.1.0.0/16 --route-table 100`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := parsePrefixes("vpc-cidr", cidrs)
			if err != nil {
				return err
			}
			c, err := sf.client()
			if err != nil {
				return err
			}
			r, err := c.AttachVPNGateway(args[0], gateway.AttachVPNGatewayRequest{VPCCIDRs: ps, RouteTable: table})
			if err != nil {
				return err
			}
			done(cmd, fmt.Sprintf("attached VPN gateway %s: VPC CIDRs %s, route table %d",
				label(r.Object.ID, r.Object.Name), prefixList(r.Object.VPCCIDRs), r.Object.RouteTable), r.Summary)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringSliceVar(&cidrs, "vpc-cidr", nil, "a CIDR of the VPC (repeat or comma-separate for several)")
	cmd.Flags().IntVar(&table, "route-table", 0, "kernel route table for the customers' routes (default 254, main)")
	cmd.MarkFlagRequired("vpc-cidr")
	cmd.ValidArgsFunction = completeNames(&sf, vgwNames)
	return cmd
}

func vgwDetachCmd() *cobra.Command {
	var sf socketFlags
	cmd := &cobra.Command{
		Use:   "detach NAME_OR_ID",
		Short: "Detach a virtual private gateway from the VPC",
		Long: `Detach the VPN gateway from the VPC. Refused while VPN connections use the
gateway: delete them first.`,
		Example: `  vpgw vpn-gateway detach vgw-1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := sf.client()
			if err != nil {
				return err
			}
			r, err := c.DetachVPNGateway(args[0])
			if err != nil {
				return err
			}
			done(cmd, "detached VPN gateway "+label(r.Object.ID, r.Object.Name), r.Summary)
			return nil
		},
	}
	sf.register(cmd)
	cmd.ValidArgsFunction = completeNames(&sf, vgwNames)
	return cmd
}

func vgwDeleteCmd() *cobra.Command {
	var sf socketFlags
	cmd := &cobra.Command{
		Use:   "delete NAME_OR_ID",
		Short: "Delete a detached virtual private gateway without VPN connections",
		Long: `Delete the VPN gateway. Refused while VPN connections use it (delete them
first) and while it is attached (detach it first).`,
		Example: `  vpgw vpn-gateway delete vgw-1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := sf.client()
			if err != nil {
				return err
			}
			r, err := c.DeleteVPNGateway(args[0])
			if err != nil {
				return err
			}
			done(cmd, "deleted VPN gateway "+label(r.Object.ID, r.Object.Name), r.Summary)
			return nil
		},
	}
	sf.register(cmd)
	cmd.ValidArgsFunction = completeNames(&sf, vgwNames)
	return cmd
}

// ---- route-propagation ----

func routePropagationCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "route-propagation",
		Short: "Enable or disable route propagation of a virtual private gateway",
		Long: `With route propagation enabled, the routes to the customers' networks (static
routes and BGP routes of UP tunnels) are installed in the VPN gateway's kernel
route table; disabled, they are removed. Tunnels are not touched.`,
		Example: `  vpgw route-propagation enable --vpn-gateway vgw-1
  vpgw route-propagation disable --vpn-gateway vgw-1`,
	}
	cmd.AddCommand(routePropagationSetCmd(true), routePropagationSetCmd(false))
	return cmd
}

func routePropagationSetCmd(on bool) *cobra.Command {
	var sf socketFlags
	var vgw string
	verb, short := "disable", "Stop propagating the customers' routes into the route table"
	if on {
		verb, short = "enable", "Propagate the customers' routes into the route table"
	}
	cmd := &cobra.Command{
		Use:     verb + " --vpn-gateway NAME_OR_ID",
		Short:   short,
		Example: "  vpgw route-propagation " + verb + " --vpn-gateway vgw-1",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := sf.client()
			if err != nil {
				return err
			}
			r, err := c.SetRoutePropagation(vgw, on)
			if err != nil {
				return err
			}
			done(cmd, fmt.Sprintf("route propagation %sd on VPN gateway %s", verb, label(r.Object.ID, r.Object.Name)), r.Summary)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&vgw, "vpn-gateway", "", "VPN gateway name or ID")
	cmd.MarkFlagRequired("vpn-gateway")
	cmd.RegisterFlagCompletionFunc("vpn-gateway", completeFlagNames(&sf, vgwNames))
	return cmd
}
