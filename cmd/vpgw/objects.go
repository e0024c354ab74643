package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/vpgw/vpgw/gateway"
)

// The object commands follow AWS's console steps and CLI names: each talks
// to the running daemon over the control socket, and each change is
// durable (fsynced to the state store) and applied to the running gateway
// before the command reports success.

// outputFlag is -o table|json|yaml of list and describe verbs.
type outputFlag struct{ format string }

func (o *outputFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "table", "output format: table | json | yaml")
	cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
}

// check rejects an unknown format before the daemon is asked anything.
func (o *outputFlag) check() error {
	switch o.format {
	case "table", "json", "yaml", "":
		return nil
	}
	return fmt.Errorf("-o: %q is not table, json or yaml", o.format)
}

// write prints v as JSON or YAML, or as the table that table writes.
func (o *outputFlag) write(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	switch o.format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		// Through JSON, so YAML shows the same keys and values as JSON.
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		out, err := yaml.JSONToYAML(b)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	return tabbed(func(tw *tabwriter.Writer, _ any) { table(tw) })(v, w)
}

// print is write for values that format their own table.
func (o *outputFlag) print(w io.Writer, v any, table func(io.Writer) error) error {
	if o.format == "table" || o.format == "" {
		return table(w)
	}
	return o.write(w, v, nil)
}

// showRunE is the RunE of a read-only command (status, routes, list,
// describe): check -o before asking the daemon, fetch the value over the
// control socket, print it as JSON, YAML or the table that table writes.
func showRunE[T any](sf *socketFlags, out *outputFlag, fetch func(c *gateway.Client, args []string) (T, error),
	table func(v T, w io.Writer) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := out.check(); err != nil {
			return err
		}
		c, err := sf.client()
		if err != nil {
			return err
		}
		v, err := fetch(c, args)
		if err != nil {
			return err
		}
		return out.print(cmd.OutOrStdout(), v, func(w io.Writer) error { return table(v, w) })
	}
}

// tabbed turns a table written to a tabwriter into a showRunE table.
func tabbed[T any](table func(tw *tabwriter.Writer, v T)) func(T, io.Writer) error {
	return func(v T, w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		table(tw, v)
		return tw.Flush()
	}
}

// done prints what a change did: its first line names the object.
func done(cmd *cobra.Command, what, summary string) {
	fmt.Fprintln(cmd.OutOrStdout(), what)
	if summary != "" {
		fmt.Fprintln(cmd.OutOrStdout(), "  running gateway:", summary)
	}
}

// label is "cgw-0123… (cgw-1)", or the ID alone when the name is the ID.
func label(id, name string) string {
	if name == "" || name == id {
		return id
	}
	return id + " (" + name + ")"
}

func parsePrefixes(flag string, ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("--%s: %q is not a CIDR prefix (e.g. 10.0.0.0/16)", flag, s)
		}
		out = append(out, p)
	}
	return out, nil
}

func parseAddr(flag, s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--%s: %q is not an IP address", flag, s)
	}
	return a, nil
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "-"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func orDash[T comparable](v T) string {
	var zero T
	if v == zero {
		return "-"
	}
	return fmt.Sprint(v)
}

// writeSecret writes data to path (mode 0600: it holds PSKs), or to
// stdout when path is empty or "-".
func writeSecret(cmd *cobra.Command, path string, data []byte) error {
	if path == "" || path == "-" {
		_, err := cmd.OutOrStdout().Write(data)
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("-O: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("-O: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("-O: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("-O: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("-O: %w", err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (mode 0600: it holds the pre-shared keys)\n", path)
	return nil
}

// ---- shell completion of object names (asks the running daemon) ----

type nameLister func(c *gateway.Client) ([]string, error)

func completeNames(sf *socketFlags, list nameLister) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return listNames(sf, list)
	}
}

func completeFlagNames(sf *socketFlags, list nameLister) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return listNames(sf, list)
	}
}

func listNames(sf *socketFlags, list nameLister) ([]cobra.Completion, cobra.ShellCompDirective) {
	c, err := sf.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	names, err := list(c)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

func cgwNames(c *gateway.Client) ([]string, error) {
	l, err := c.CustomerGateways()
	out := make([]string, len(l))
	for i, g := range l {
		out[i] = g.Name
	}
	return out, err
}

func vgwNames(c *gateway.Client) ([]string, error) {
	l, err := c.VPNGateways()
	out := make([]string, len(l))
	for i, g := range l {
		out[i] = g.Name
	}
	return out, err
}

func vpnNames(c *gateway.Client) ([]string, error) {
	l, err := c.VPNConnections()
	out := make([]string, len(l))
	for i, g := range l {
		out[i] = g.Name
	}
	return out, err
}
