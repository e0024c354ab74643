package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// Tunnel logs mirror AWS's Site-to-Site VPN tunnel logs: one JSON record
// per tunnel event with the tunnel's identity, both IKE phases' states,
// NAT-T and DPD, and a sentence of detail. gateway.tunnel_log selects
// where they go: "stderr", an absolute file path, or "" (off).

// Phase states as AWS's tunnel logs name them.
const (
	phaseEstablished = "Established"
	phaseRekeying    = "Rekeying"
	phaseNegotiating = "Negotiating"
	phaseDown        = "Down"
)

type tunnelLog struct {
	log *slog.Logger
	f   *os.File // nil for stderr
}

func openTunnelLog(dest string) (*tunnelLog, error) {
	var w io.Writer
	var f *os.File
	switch dest {
	case "":
		return nil, nil
	case "stderr":
		w = os.Stderr
	default:
		if err := os.MkdirAll(filepath.Dir(dest), 0o750); err != nil {
			return nil, fmt.Errorf("gateway.tunnel_log: %w", err)
		}
		var err error
		if f, err = os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640); err != nil {
			return nil, fmt.Errorf("gateway.tunnel_log: %w", err)
		}
		w = f
	}
	return &tunnelLog{log: slog.New(slog.NewJSONHandler(w, nil)), f: f}, nil
}

func (l *tunnelLog) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	return l.f.Close()
}

// event writes one record for t. phase2 overrides the computed phase 2
// state (e.g. Rekeying while a rekey installs a new CHILD_SA).
func (l *tunnelLog) event(t *tunnel, phase2, detail string) {
	if l == nil {
		return
	}
	p1, p2 := phaseDown, phaseDown
	if t.ikeUp {
		p1 = phaseEstablished
	}
	if len(t.children) > 0 {
		p2 = phaseEstablished
	} else if t.ikeUp {
		p2 = phaseNegotiating
	}
	if phase2 != "" {
		p2 = phase2
	}
	l.log.Info(detail,
		"vpn_connection", t.setup.Conn,
		"tunnel", t.setup.Index,
		"tunnel_outside_ip", t.setup.Tunnel.OutsideIP.String(),
		"tunnel_status", t.state,
		"ike_version", string(t.ikeVersion),
		"ike_phase1_state", p1,
		"ike_phase2_state", p2,
		"nat_t_detected", t.natt,
		"dpd_enabled", dpdDelay > 0,
		"dpd_timeout_action", t.setup.Tunnel.DPDTimeoutAction,
	)
}
