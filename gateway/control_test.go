package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleStatus() *Status {
	return &Status{VPNConnections: []ConnectionStatus{{
		Name: "vpn-1", CustomerGateway: "cgw-1", Routing: "static",
		Tunnels: []TunnelStatus{
			{OutsideIP: "203.0.113.2", InsideCIDR: "169.254.10.0/30", Status: StateUp,
				LastStatusChange:   time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC),
				AcceptedRouteCount: 1, IKEVersion: "ikev2", NATT: true, BytesIn: 84, BytesOut: 168},
			{OutsideIP: "203.0.113.3", InsideCIDR: "169.254.11.0/30", Status: StateDown,
				StatusMessage: "IKE authentication failed: PSK mismatch"},
		},
	}}}
}

// fakeAPI stands in for the daemon behind the control socket.
type fakeAPI struct {
	status  *Status
	reloads int
}

func (f *fakeAPI) Status() *Status { return f.status }
func (f *fakeAPI) Routes() *RoutesReport {
	return &RoutesReport{RoutePropagation: false, Table: 254, Routes: []RouteStatus{
		{Destination: "172.16.0.0/24", Device: "vpn-1-t1", Connection: "vpn-1", Tunnel: 1}}}
}
func (f *fakeAPI) Reload() (string, error) {
	f.reloads++
	if f.reloads > 1 {
		return "", errors.New("vpn_connections[0].tunnels[0].psk: bad")
	}
	return "restarted tunnel vpn-1/1", nil
}

func (f *fakeAPI) Rekey(conn string, tunnel int, ikeSA bool) error {
	if conn != "vpn-1" || tunnel != 2 || !ikeSA {
		return fmt.Errorf("no tunnel %d in connection %q", tunnel, conn)
	}
	return nil
}

func TestControlSocketRekey(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "vpgw.sock")
	srv, err := listenControl(sock, &fakeAPI{status: sampleStatus()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := NewClient(sock)
	if err := c.Rekey(RekeyRequest{Connection: "vpn-1", Tunnel: 2, IKE: true}); err != nil {
		t.Errorf("rekey vpn-1/2 --ike: %v", err)
	}
	if err := c.Rekey(RekeyRequest{Connection: "vpn-9", Tunnel: 1}); err == nil || !strings.Contains(err.Error(), `no tunnel 1 in connection "vpn-9"`) {
		t.Errorf("rekey of an unknown tunnel: err = %v", err)
	}
}

func TestControlSocketServesStatusAndIsRootOnly(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "vpgw.sock")
	want := sampleStatus()
	api := &fakeAPI{status: want}
	srv, err := listenControl(sock, api, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("control socket mode = %o, want 600", mode)
	}
	got, err := NewClient(sock).Status()
	if err != nil {
		t.Fatal(err)
	}
	if got.VPNConnections[0].Tunnels[1].StatusMessage != want.VPNConnections[0].Tunnels[1].StatusMessage ||
		got.VPNConnections[0].Tunnels[0].BytesOut != 168 || !got.VPNConnections[0].Tunnels[0].NATT {
		t.Errorf("status over the socket = %+v, want %+v", got, want)
	}

	// A second daemon must not steal a live socket.
	if _, err := listenControl(sock, api, slog.Default()); err == nil ||
		!strings.Contains(err.Error(), "another vpgw is running") {
		t.Errorf("second listener: err = %v, want 'another vpgw is running'", err)
	}
}

func TestControlSocketRoutesAndReload(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "vpgw.sock")
	srv, err := listenControl(sock, &fakeAPI{status: sampleStatus()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := NewClient(sock)
	r, err := c.Routes()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	r.WriteTable(&buf)
	if !strings.Contains(buf.String(), "NOT installed") || !strings.Contains(buf.String(), "172.16.0.0/24") {
		t.Errorf("routes table with propagation off:\n%s", buf.String())
	}
	if sum, err := c.Reload(); err != nil || sum != "restarted tunnel vpn-1/1" {
		t.Errorf("reload = %q, %v", sum, err)
	}
	if _, err := c.Reload(); err == nil || !strings.Contains(err.Error(), "tunnels[0].psk: bad") {
		t.Errorf("failed reload: err = %v, want the daemon's reason", err)
	}
}

func TestStatusJSONFollowsTheContract(t *testing.T) {
	b, err := json.Marshal(sampleStatus())
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string][]map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	conn := generic["vpn_connections"][0]
	for _, k := range []string{"name", "customer_gateway", "routing", "tunnels"} {
		if _, ok := conn[k]; !ok {
			t.Errorf("connection JSON lacks %q: %s", k, b)
		}
	}
	tun := conn["tunnels"].([]any)[0].(map[string]any)
	for _, k := range []string{"outside_ip", "inside_cidr", "status", "last_status_change", "status_message",
		"accepted_route_count", "ike_version", "nat_t", "bytes_in", "bytes_out"} {
		if _, ok := tun[k]; !ok {
			t.Errorf("tunnel JSON lacks %q: %s", k, b)
		}
	}
	if tun["last_status_change"] != "2026-11-29T05:00:00Z" {
		t.Errorf("last_status_change = %v, want RFC 3339 UTC", tun["last_status_change"])
	}
}

func TestStatusTable(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleStatus().WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"vpn-1", "203.0.113.2", "UP", "DOWN", "ikev2", "PSK mismatch"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestTunName(t *testing.T) {
	for _, tc := range []struct {
		conn string
		idx  int
		want string
	}{
		{"vpn-1", 1, "vpn-1-t1"},
		{"vpn-1", 2, "vpn-1-t2"},
		{"abcdefghijkl", 2, "abcdefghijkl-t2"},
	} {
		if got := tunName(tc.conn, tc.idx); got != tc.want {
			t.Errorf("tunName(%q, %d) = %q, want %q", tc.conn, tc.idx, got, tc.want)
		}
	}
	long1, long2 := tunName("datacenter-frankfurt-primary", 1), tunName("datacenter-frankfurt-backup", 1)
	if len(long1) > 15 || len(long2) > 15 || long1 == long2 {
		t.Errorf("long names: %q, %q: want distinct and at most 15 bytes", long1, long2)
	}
	if odd := tunName("vpn/1 x", 1); len(odd) > 15 || strings.ContainsAny(odd, "/ ") {
		t.Errorf("tunName with odd characters = %q", odd)
	}
}
