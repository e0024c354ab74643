// Command vpgw is a virtual private gateway: the AWS side of a
// Site-to-Site VPN on an ordinary Linux machine.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "vpgw:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "vpgw",
		Short:         "Virtual private gateway: the AWS side of a Site-to-Site VPN",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(runCmd(), validateCmd(), statusCmd(), routesCmd(), reloadCmd(), tunnelCmd(), versionCmd())
	// AWS's operator workflow against the running daemon (objects*.go, configdl.go, export.go).
	root.AddCommand(customerGatewayCmd(), vpnGatewayCmd(), routePropagationCmd(), vpnConnectionCmd(),
		staticRouteCmd(), configCmd(), exportCmd())
	// Shell completion: cobra's built-in "completion" command (bash, zsh, fish, powershell).
	root.CompletionOptions.DisableDefaultCmd = false
	return root
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "vpgw", version) },
	}
}
