package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vpgw/vpgw/gateway"
)

func runCmd() *cobra.Command {
	var configPath, logFormat, logLevel, pprofAddr string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the gateway daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logFormat, logLevel)
			if err != nil {
				return err
			}
			cfg, err := loadValid(configPath)
			if err != nil {
				return err
			}
			tuneGC()
			if pprofAddr != "" {
				if err := servePprof(pprofAddr, log); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			reload := make(chan struct{}, 1)
			go func() {
				for range hup {
					select {
					case reload <- struct{}{}:
					default:
					}
				}
			}()
			ready := func() {
				if err := sdNotify("READY=1"); err != nil {
					log.Warn("telling systemd we are ready failed", "err", err)
				}
			}
			defer sdNotify("STOPPING=1")
			return gateway.Run(ctx, gateway.RunOptions{ConfigPath: configPath, Config: cfg, Log: log, Reload: reload, Ready: ready})
		},
	}
	cmd.Flags().StringVarP(&configPath, "config", "c", "/etc/vpgw/vpgw.yaml", "configuration file")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "log format: text | json")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug | info | warn | error")
	cmd.Flags().StringVar(&pprofAddr, "pprof", "", "serve Go's profiler (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060")
	return cmd
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

// gcPercent replaces Go's default GOGC of 100 for the daemon. Most of its
// heap is packet buffers that live as long as their tunnel and hold no
// pointers, so they cost a collection nothing, yet with 100 they let
// garbage (from the control plane: IKE messages, netlink dumps, logs) grow
// as large as all of them before a collection: with 200 tunnels that was
// ~450 MB of RSS on top of ~450 MB of buffers.
const gcPercent = 20

// tuneGC sets gcPercent unless the operator chose with GOGC.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}
