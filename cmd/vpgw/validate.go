package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vpgw/vpgw/gateway"
)

func validateCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a configuration file; prints one line per problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := loadValid(configPath); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: configuration is valid\n", configPath)
			return nil
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "/etc/vpgw/vpgw.yaml", "configuration file")
	return cmd
}

// loadValid loads a configuration and reports every problem at once.
func loadValid(path string) (*gateway.Config, error) {
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		lines := make([]string, len(errs))
		for i, e := range errs {
			lines[i] = e.Error()
		}
		return nil, errors.New(path + ": invalid configuration:\n" + strings.Join(lines, "\n"))
	}
	return cfg, nil
}
