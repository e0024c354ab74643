package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vpgw/vpgw/gateway"
)

// socketFlags are the flags every client command shares.
type socketFlags struct {
	socket, config string
}

func (f *socketFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.socket, "socket", "", "control socket (default "+defaultSocket+", or the config's)")
	cmd.Flags().StringVarP(&f.config, "config", "c", "", "read the control socket path from this configuration file")
}

func (f *socketFlags) client() (*gateway.Client, error) {
	socket := f.socket
	if socket == "" {
		socket = defaultSocket
		if f.config != "" {
			cfg, err := gateway.LoadConfig(f.config)
			if err != nil {
				return nil, err
			}
			socket = cfg.Gateway.ControlSocket
		}
	}
	return gateway.NewClient(socket), nil
}

func routesCmd() *cobra.Command {
	var sf socketFlags
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "routes",
		Short: "Show the propagated routes: where each goes and whether it is installed",
		Example: `  vpgw routes
  vpgw routes -o json`,
		Args: cobra.NoArgs,
		RunE: showRunE(&sf, &out, func(c *gateway.Client, _ []string) (*gateway.RoutesReport, error) { return c.Routes() },
			(*gateway.RoutesReport).WriteTable),
	}
	sf.register(cmd)
	out.register(cmd)
	return cmd
}

func reloadCmd() *cobra.Command {
	var sf socketFlags
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Re-read the daemon's configuration file (as SIGHUP does)",
		Long: `Re-read the configuration file the daemon was started with. Changed static
routes and route propagation apply without touching any tunnel; a tunnel whose
own options changed is restarted alone; the others keep carrying traffic.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := sf.client()
			if err != nil {
				return err
			}
			summary, err := c.Reload()
			if err != nil {
				return fmt.Errorf("reload failed, the running configuration is unchanged: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "reloaded:", summary)
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}
