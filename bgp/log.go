package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// logAdapter is GoBGP's logger interface on top of a *slog.Logger.
//
// It also listens: GoBGP reports why a session failed only in its log
// ("Peer Down" with a Reason, "failed to connect" with the dial error), not in
// its API. Those two messages, keyed by neighbor address, go to peerLog
// before being logged. peerLog runs on GoBGP's goroutines and must not block
// or call back into GoBGP.
type logAdapter struct {
	log     *slog.Logger
	peerLog func(msg, neighbor string, fields gobgplog.Fields)
}

var _ gobgplog.Logger = (*logAdapter)(nil)

func (a *logAdapter) Panic(msg string, f gobgplog.Fields) {
	a.emit(slog.LevelError, msg, f)
	panic("gobgp: " + msg)
}

// Fatal logs at error level and returns: GoBGP calls it for errors it then
// also returns (policy reload) or for a gRPC listener that cannot start, and
// must not end the vpgw process.
func (a *logAdapter) Fatal(msg string, f gobgplog.Fields) { a.emit(slog.LevelError, msg, f) }
func (a *logAdapter) Error(msg string, f gobgplog.Fields) { a.emit(slog.LevelError, msg, f) }
func (a *logAdapter) Warn(msg string, f gobgplog.Fields)  { a.emit(slog.LevelWarn, msg, f) }
func (a *logAdapter) Info(msg string, f gobgplog.Fields)  { a.emit(slog.LevelInfo, msg, f) }
func (a *logAdapter) Debug(msg string, f gobgplog.Fields) { a.emit(slog.LevelDebug, msg, f) }

// SetLevel is ignored: the slog handler decides what is printed.
func (a *logAdapter) SetLevel(gobgplog.LogLevel) {}

// GetLevel always claims debug, because GoBGP only reports dial errors
// ("failed to connect") when its logger is at debug level. Debug messages
// are still dropped cheaply unless the slog handler wants them.
func (a *logAdapter) GetLevel() gobgplog.LogLevel { return gobgplog.DebugLevel }

func (a *logAdapter) emit(level slog.Level, msg string, f gobgplog.Fields) {
	if a.peerLog != nil && f["Topic"] == "Peer" {
		if key, ok := f["Key"].(string); ok {
			a.peerLog(msg, key, f)
		}
	}
	ctx := context.Background()
	if !a.log.Enabled(ctx, level) {
		return
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		if k != gobgplog.FieldFacility {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, logValue(f[k])))
	}
	a.log.LogAttrs(ctx, level, msg, attrs...)
}

// logValue keeps simple values as they are and turns anything else (BGP
// messages, paths, config structs) into its text, so slog handlers do not
// reflect over GoBGP internals.
func logValue(v any) any {
	switch v := v.(type) {
	case nil, string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return v
	default:
		return fmt.Sprint(v) // recovers from a panicking String method
	}
}
