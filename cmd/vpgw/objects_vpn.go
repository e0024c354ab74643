package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpgw/vpgw/gateway"
)

// ---- vpn-connection ----

func vpnConnectionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "vpn-connection",
		Aliases: []string{"vpn"},
		Short:   "Create, list, describe and delete Site-to-Site VPN connections",
		Long: `A VPN connection joins the VPN gateway to one customer gateway with two
tunnels, each on its own outside IP address of this host. Routing is static
(the customer's prefixes are given as static routes) or dynamic (BGP over each
tunnel's inside /30). Tunnels start with AWS's default tunnel options; change
them with 'vpgw tunnel modify'.`,
		Example: `  vpgw vpn-connection create --name vpn-1 --customer-gateway cgw-1 --vpn-gateway vgw-1 \
      --routing static --static-route 172.16.0.0/24 \
      --tunnel1-outside-ip 203.0.113.2 --tunnel2-outside-ip 203.0.113.3
  vpgw vpn-connection list
  vpgw vpn-connection describe vpn-1 --show-psk
  vpgw vpn-connection delete vpn-1`,
	}
	cmd.AddCommand(vpnCreateCmd(), vpnListCmd(), vpnDescribeCmd(), vpnDeleteCmd())
	return cmd
}

func vpnCreateCmd() *cobra.Command {
	var sf socketFlags
	var req gateway.CreateVPNConnectionRequest
	var routes []string
	var out [2]struct{ outside, inside, psk string }
	cmd := &cobra.Command{
		Use:   "create --name NAME --customer-gateway CGW --vpn-gateway VGW --tunnel1-outside-ip A --tunnel2-outside-ip B",
		Short: "Create a VPN connection with two tunnels",
		Long: `Create a VPN connection between the VPN gateway and a customer gateway. Each
tunnel needs an outside IP address of this host (where the customer gateway
connects). An inside CIDR (a /30 in 169.254.0.0/16, not reserved) and a PSK
(8–64 of A-Z a-z 0-9 . _, not starting with 0) are generated when not given.
The tunnels start with AWS's default options; when the VPN gateway is
attached they start at once.

A PSK given on the command line is visible in the process list and shell
history: prefer a generated one and read it with 'vpgw config download'.`,
		Example: `  vpgw vpn-connection create --name vpn-1 --customer-gateway cgw-1 --vpn-gateway vgw-1 \
      --routing static --static-route 172.16.0.0/24 \
      --tunnel1-outside-ip 203.0.113.2 --tunnel2-outside-ip 203.0.113.3
  vpgw vpn-connection create --name vpn-bgp --customer-gateway cgw-bgp --vpn-gateway vgw-1 \
      --routing dynamic --tunnel1-outside-ip 203.0.113.4 --tunnel1-inside-cidr 169.254.10.0/30 \
      --tunnel2-outside-ip 203.0.113.5 --tunnel2-inside-cidr 169.254.11.0/30`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch req.Routing {
			case gateway.RoutingStatic, gateway.RoutingDynamic:
			default:
				return fmt.Errorf("--routing: must be static or dynamic, got %q", req.Routing)
			}
			var err error
			if req.StaticRoutes, err = parsePrefixes("static-route", routes); err != nil {
				return err
			}
			specs := []*gateway.TunnelSpec{&req.Tunnel1, &req.Tunnel2}
			for i, o := range out {
				n := i + 1
				if specs[i].OutsideIP, err = parseAddr(fmt.Sprintf("tunnel%d-outside-ip", n), o.outside); err != nil {
					return err
				}
				if o.inside != "" {
					if specs[i].InsideCIDR, err = netip.ParsePrefix(o.inside); err != nil {
						return fmt.Errorf("--tunnel%d-inside-cidr: %q is not a CIDR prefix (e.g. 169.254.10.0/30)", n, o.inside)
					}
				}
				specs[i].PSK = o.psk
			}
			c, err := sf.client()
			if err != nil {
				return err
			}
			r, err := c.CreateVPNConnection(req)
			if err != nil {
				return err
			}
			v := r.Object
			done(cmd, fmt.Sprintf("created VPN connection %s (%s): tunnel 1 %s %s, tunnel 2 %s %s", label(v.ID, v.Name), v.State,
				v.Tunnels[0].OutsideIP, v.Tunnels[0].InsideCIDR, v.Tunnels[1].OutsideIP, v.Tunnels[1].InsideCIDR), r.Summary)
			fmt.Fprintf(cmd.OutOrStdout(), "  next: vpgw config download --connection %s --device DEVICE (vpgw config devices lists them)\n", v.Name)
			return nil
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "name (1–64 of A-Z a-z 0-9 . _ -)")
	f.StringVar(&req.CustomerGateway, "customer-gateway", "", "customer gateway name or ID")
	f.StringVar(&req.VPNGateway, "vpn-gateway", "", "VPN gateway name or ID")
	f.StringVar(&req.Routing, "routing", gateway.RoutingStatic, "static | dynamic (BGP)")
	f.StringSliceVar(&routes, "static-route", nil, "a customer prefix routed through the tunnels (repeat or comma-separate)")
	for i := range out {
		n := i + 1
		f.StringVar(&out[i].outside, fmt.Sprintf("tunnel%d-outside-ip", n), "", fmt.Sprintf("tunnel %d: its outside address (an address of this host)", n))
		f.StringVar(&out[i].inside, fmt.Sprintf("tunnel%d-inside-cidr", n), "", fmt.Sprintf("tunnel %d: inside /30 in 169.254.0.0/16 (default: generated)", n))
		f.StringVar(&out[i].psk, fmt.Sprintf("tunnel%d-psk", n), "", fmt.Sprintf("tunnel %d: pre-shared key (default: generated)", n))
		cmd.MarkFlagRequired(fmt.Sprintf("tunnel%d-outside-ip", n))
	}
	for _, name := range []string{"name", "customer-gateway", "vpn-gateway"} {
		cmd.MarkFlagRequired(name)
	}
	cmd.RegisterFlagCompletionFunc("routing", cobra.FixedCompletions([]string{"static", "dynamic"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("customer-gateway", completeFlagNames(&sf, cgwNames))
	cmd.RegisterFlagCompletionFunc("vpn-gateway", completeFlagNames(&sf, vgwNames))
	return cmd
}

func vpnListCmd() *cobra.Command {
	var sf socketFlags
	var out outputFlag
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the VPN connections (never their PSKs)",
		Example: `  vpgw vpn-connection list
  vpgw vpn-connection list -o json`,
		Args: cobra.NoArgs,
		RunE: showRunE(&sf, &out, func(c *gateway.Client, _ []string) ([]gateway.VPNConnectionInfo, error) {
			l, err := c.VPNConnections()
			for i := range l {
				for j := range l[i].Tunnels {
					l[i].Tunnels[j].PSK = "" // never listed
				}
			}
			return l, err
		}, tabbed(func(tw *tabwriter.Writer, l []gateway.VPNConnectionInfo) {
			fmt.Fprintln(tw, "ID\tNAME\tSTATE\tCUSTOMER GATEWAY\tVPN GATEWAY\tROUTING\tSTATIC ROUTES\tTUNNEL 1\tTUNNEL 2")
			for _, v := range l {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s %s\t%s %s\n", v.ID, v.Name, v.State, v.CustomerGateway, v.VPNGateway,
					v.Routing, prefixList(v.StaticRoutes), v.Tunnels[0].OutsideIP, v.Tunnels[0].InsideCIDR,
					v.Tunnels[1].OutsideIP, v.Tunnels[1].InsideCIDR)
			}
		})),
	}
	sf.register(cmd)
	out.register(cmd)
	return cmd
}

func vpnDescribeCmd() *cobra.Command {
	var sf socketFlags
	var out outputFlag
	var showPSK bool
	cmd := &cobra.Command{
		Use:   "describe NAME_OR_ID [--show-psk]",
		Short: "Show a VPN connection with every tunnel option",
		Long: `Show a VPN connection: its gateways, routing, static routes and both tunnels
with every tunnel option. The PSKs are shown only with --show-psk.`,
		Example: `  vpgw vpn-connection describe vpn-1
  vpgw vpn-connection describe vpn-1 --show-psk -o yaml`,
		Args: cobra.ExactArgs(1),
		RunE: showRunE(&sf, &out, func(c *gateway.Client, args []string) (gateway.VPNConnectionInfo, error) {
			return c.VPNConnection(args[0], showPSK)
		}, tabbed(func(tw *tabwriter.Writer, v gateway.VPNConnectionInfo) { describeVPN(tw, v, showPSK) })),
	}
	sf.register(cmd)
	out.register(cmd)
	cmd.Flags().BoolVar(&showPSK, "show-psk", false, "include the tunnels' pre-shared keys")
	cmd.ValidArgsFunction = completeNames(&sf, vpnNames)
	return cmd
}

func describeVPN(tw *tabwriter.Writer, v gateway.VPNConnectionInfo, showPSK bool) {
	kv := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	kv("ID", v.ID)
	kv("Name", v.Name)
	kv("State", v.State)
	kv("Customer gateway", fmt.Sprintf("%s (%s, %s)", v.CustomerGateway, v.CustomerGatewayID, v.CustomerGatewayIP))
	kv("VPN gateway", fmt.Sprintf("%s (%s)", v.VPNGateway, v.VPNGatewayID))
	kv("Routing", v.Routing)
	kv("Static routes", prefixList(v.StaticRoutes))
	kv("Created", v.CreatedAt.UTC().Format(time.RFC3339))
	for i, t := range v.Tunnels {
		fmt.Fprintf(tw, "Tunnel %d:\t\n", i+1)
		kv("  Outside IP", t.OutsideIP)
		kv("  Inside CIDR", fmt.Sprintf("%s (VGW %s, CGW %s)", t.InsideCIDR, t.VGWInsideIP, t.CGWInsideIP))
		if showPSK {
			kv("  Pre-shared key", t.PSK)
		}
		kv("  IKE versions", strings.Join(t.IKEVersions, ", "))
		for _, p := range []struct {
			n  int
			ph gateway.PhaseInfo
		}{{1, t.Phase1}, {2, t.Phase2}} {
			kv(fmt.Sprintf("  Phase %d encryption", p.n), strings.Join(p.ph.Encryption, ", "))
			kv(fmt.Sprintf("  Phase %d integrity", p.n), strings.Join(p.ph.Integrity, ", "))
			kv(fmt.Sprintf("  Phase %d DH groups", p.n), strings.Trim(fmt.Sprint(p.ph.DHGroups), "[]"))
			kv(fmt.Sprintf("  Phase %d lifetime", p.n), p.ph.Lifetime)
		}
		kv("  Rekey margin", t.RekeyMargin)
		kv("  Rekey fuzz", fmt.Sprintf("%d%%", t.RekeyFuzz))
		kv("  Replay window", t.ReplayWindow)
		kv("  DPD timeout", t.DPDTimeout)
		kv("  DPD timeout action", t.DPDTimeoutAction)
		kv("  Startup action", t.StartupAction)
		if t.ForceUDPEncap {
			kv("  UDP encapsulation", "forced")
		}
	}
}

func vpnDeleteCmd() *cobra.Command {
	var sf socketFlags
	cmd := &cobra.Command{
		Use:   "delete NAME_OR_ID",
		Short: "Delete a VPN connection (its tunnels stop at once)",
		Long: `Delete the VPN connection: both tunnels are torn down and their routes
removed; the other connections are not touched. Its inside CIDRs and outside
addresses become free.`,
		Example: `  vpgw vpn-connection delete vpn-1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := sf.client()
			if err != nil {
				return err
			}
			r, err := c.DeleteVPNConnection(args[0])
			if err != nil {
				return err
			}
			done(cmd, "deleted VPN connection "+label(r.Object.ID, r.Object.Name), r.Summary)
			return nil
		},
	}
	sf.register(cmd)
	cmd.ValidArgsFunction = completeNames(&sf, vpnNames)
	return cmd
}

// ---- static-route ----

func staticRouteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "static-route",
		Short: "Add or delete a static route (a customer prefix) of a VPN connection",
		Long: `Static routes are the customer's prefixes that the VPN gateway routes through
the connection's tunnels. A change applies at once to the kernel routes
without touching any tunnel.`,
		Example: `  vpgw static-route add --connection vpn-1 --prefix 172.16.1.0/24
  vpgw static-route delete --connection vpn-1 --prefix 172.16.1.0/24`,
	}
	cmd.AddCommand(staticRouteSetCmd(true), staticRouteSetCmd(false))
	return cmd
}

func staticRouteSetCmd(add bool) *cobra.Command {
	var sf socketFlags
	var conn, prefix string
	verb, short := "delete", "Remove a static route from a VPN connection"
	if add {
		verb, short = "add", "Add a static route to a VPN connection"
	}
	cmd := &cobra.Command{
		Use:     verb + " --connection VPN --prefix CIDR",
		Short:   short,
		Example: "  vpgw static-route " + verb + " --connection vpn-1 --prefix 172.16.1.0/24",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := netip.ParsePrefix(prefix)
			if err != nil {
				return fmt.Errorf("--prefix: %q is not a CIDR prefix (e.g. 172.16.0.0/24)", prefix)
			}
			c, err := sf.client()
			if err != nil {
				return err
			}
			var r gateway.ObjectReply[gateway.VPNConnectionInfo]
			if add {
				r, err = c.AddStaticRoute(conn, p)
			} else {
				r, err = c.DeleteStaticRoute(conn, p)
			}
			if err != nil {
				return err
			}
			what := "added static route %s to VPN connection %s"
			if !add {
				what = "deleted static route %s of VPN connection %s"
			}
			done(cmd, fmt.Sprintf(what, p, label(r.Object.ID, r.Object.Name)), r.Summary)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&conn, "connection", "", "VPN connection name or ID")
	cmd.Flags().StringVar(&prefix, "prefix", "", "the customer prefix, e.g. 172.16.0.0/24")
	cmd.MarkFlagRequired("connection")
	cmd.MarkFlagRequired("prefix")
	cmd.RegisterFlagCompletionFunc("connection", completeFlagNames(&sf, vpnNames))
	return cmd
}

// ---- tunnel modify ----

func tunnelModifyCmd() *cobra.Command {
	var sf socketFlags
	var conn string
	var n int
	var psk, inside, dpdAction, startup string
	var generate, forceEncap bool
	var ikeVersions []string
	var enc, integ [2][]string
	var dh [2][]int
	var life [2]time.Duration
	var margin, dpd time.Duration
	var fuzz, replay int
	cmd := &cobra.Command{
		Use:   "modify --connection VPN --tunnel 1|2 [options]",
		Short: "Change one tunnel's options (AWS's modify-vpn-tunnel-options)",
		Long: `Change the options of one tunnel; options not given keep their value. Only
that tunnel is restarted; the connection's other tunnel keeps carrying traffic
(modify them one at a time, as AWS advises). The result is checked with the
configuration file's rules before anything changes.

--generate-psk replaces the PSK with a new generated one (AWS's "replace
credentials"); read it with 'vpgw config download' or
'vpgw vpn-connection describe --show-psk'. A PSK given with --psk is visible
in the process list and shell history.`,
		Example: `  vpgw tunnel modify --connection vpn-1 --tunnel 1 --generate-psk
  vpgw tunnel modify --connection vpn-1 --tunnel 2 --phase1-encryption aes256-gcm-16 \
      --phase1-integrity sha2-256 --phase1-dh-groups 19,20 --phase1-lifetime 4h
  vpgw tunnel modify --connection vpn-1 --tunnel 1 --dpd-timeout 40s --dpd-timeout-action restart
  vpgw tunnel modify --connection vpn-1 --tunnel 1 --startup-action start --ike-versions ikev2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n != 1 && n != 2 {
				return fmt.Errorf("--tunnel: must be 1 or 2")
			}
			f := cmd.Flags()
			var req gateway.ModifyTunnelRequest
			changed := false
			set := func(name string) bool {
				if f.Changed(name) {
					changed = true
					return true
				}
				return false
			}
			if set("psk") {
				if generate {
					return errors.New("--psk and --generate-psk: give one of them")
				}
				req.PSK = &psk
			}
			if set("generate-psk") {
				req.GeneratePSK = generate
			}
			if set("inside-cidr") {
				p, err := netip.ParsePrefix(inside)
				if err != nil {
					return fmt.Errorf("--inside-cidr: %q is not a CIDR prefix (e.g. 169.254.10.0/30)", inside)
				}
				req.InsideCIDR = &p
			}
			if set("ike-versions") {
				req.IKEVersions = ikeVersions
			}
			phases := []*gateway.PhaseModify{&req.Phase1, &req.Phase2}
			for i, ph := range phases {
				pre := fmt.Sprintf("phase%d-", i+1)
				if set(pre + "encryption") {
					ph.Encryption = enc[i]
				}
				if set(pre + "integrity") {
					ph.Integrity = integ[i]
				}
				if set(pre + "dh-groups") {
					ph.DHGroups = dh[i]
				}
				if set(pre + "lifetime") {
					s := life[i].String()
					ph.Lifetime = &s
				}
			}
			if set("rekey-margin") {
				s := margin.String()
				req.RekeyMargin = &s
			}
			if set("rekey-fuzz") {
				req.RekeyFuzz = &fuzz
			}
			if set("replay-window") {
				req.ReplayWindow = &replay
			}
			if set("dpd-timeout") {
				s := dpd.String()
				req.DPDTimeout = &s
			}
			if set("dpd-timeout-action") {
				req.DPDTimeoutAction = &dpdAction
			}
			if set("startup-action") {
				req.StartupAction = &startup
			}
			if set("force-udp-encapsulation") {
				req.ForceUDPEncap = &forceEncap
			}
			if !changed {
				return errors.New("nothing to modify: give at least one tunnel option (see vpgw tunnel modify --help)")
			}
			c, err := sf.client()
			if err != nil {
				return err
			}
			r, err := c.ModifyTunnel(conn, n, req)
			if err != nil {
				return err
			}
			done(cmd, fmt.Sprintf("modified tunnel %d of VPN connection %s", n, label(r.Object.ID, r.Object.Name)), r.Summary)
			return nil
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&conn, "connection", "", "VPN connection name or ID")
	f.IntVar(&n, "tunnel", 0, "tunnel number: 1 or 2")
	f.StringVar(&psk, "psk", "", "new pre-shared key: 8–64 of A-Z a-z 0-9 . _, not starting with 0")
	f.BoolVar(&generate, "generate-psk", false, "replace the pre-shared key with a new generated one")
	f.StringVar(&inside, "inside-cidr", "", "new inside /30 in 169.254.0.0/16")
	f.StringSliceVar(&ikeVersions, "ike-versions", nil, "allowed IKE versions: ikev1, ikev2")
	for i := range 2 {
		pre := fmt.Sprintf("phase%d-", i+1)
		f.StringSliceVar(&enc[i], pre+"encryption", nil, fmt.Sprintf("phase %d encryption: aes128, aes256, aes128-gcm-16, aes256-gcm-16", i+1))
		f.StringSliceVar(&integ[i], pre+"integrity", nil, fmt.Sprintf("phase %d integrity: sha1, sha2-256, sha2-384, sha2-512", i+1))
		f.IntSliceVar(&dh[i], pre+"dh-groups", nil, fmt.Sprintf("phase %d DH group numbers, e.g. 14,19,20", i+1))
		f.DurationVar(&life[i], pre+"lifetime", 0, fmt.Sprintf("phase %d lifetime, e.g. %s", i+1, []string{"8h", "1h"}[i]))
	}
	f.DurationVar(&margin, "rekey-margin", 0, "rekey this long before the phase 2 lifetime ends (60s .. phase 2 lifetime/2)")
	f.IntVar(&fuzz, "rekey-fuzz", 0, "random extra rekey margin, percent (0–100)")
	f.IntVar(&replay, "replay-window", 0, "replay window in packets (64–2048)")
	f.DurationVar(&dpd, "dpd-timeout", 0, "dead peer detection timeout (at least 30s)")
	f.StringVar(&dpdAction, "dpd-timeout-action", "", "after a DPD timeout: clear | restart | none")
	f.StringVar(&startup, "startup-action", "", "add (the customer gateway initiates) | start (vpgw initiates)")
	f.BoolVar(&forceEncap, "force-udp-encapsulation", false, "put ESP in UDP 4500 even without a NAT (IKEv2; like strongSwan's encap=yes)")
	cmd.MarkFlagRequired("connection")
	cmd.MarkFlagRequired("tunnel")
	cmd.MarkFlagsMutuallyExclusive("psk", "generate-psk")
	cmd.RegisterFlagCompletionFunc("connection", completeFlagNames(&sf, vpnNames))
	cmd.RegisterFlagCompletionFunc("tunnel", cobra.FixedCompletions([]string{"1", "2"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("dpd-timeout-action", cobra.FixedCompletions([]string{"clear", "restart", "none"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("startup-action", cobra.FixedCompletions([]string{"add", "start"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("ike-versions", cobra.FixedCompletions([]string{"ikev1", "ikev2"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
