package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// The control API is HTTP over a root-only unix socket. HTTP keeps the
// client trivial (and curl --unix-socket works for debugging):
//
//	GET  /v1/status   tunnel states (DESIGN.md's status contract)
//	GET  /v1/routes   the routes vpgw wants, and whether they are installed
//	POST /v1/reload   re-read the configuration file, as SIGHUP does
//	POST /v1/rekey    {"connection","tunnel","ike"}: rekey a tunnel now
//
// and, when the API also implements objectAPI, the object routes of
// api_objects.go (customer gateways, VPN gateways, VPN connections, static
// routes, tunnel options, configuration download, export).

// controlAPI is what the control socket serves; *Daemon implements it.
type controlAPI interface {
	Status() *Status
	Routes() *RoutesReport
	Reload() (string, error)
	Rekey(connection string, tunnel int, ikeSA bool) error
}

// RekeyRequest names the tunnel to rekey and whether to rekey its IKE SA
// rather than its CHILD_SA.
type RekeyRequest struct {
	Connection string `json:"connection"`
	Tunnel     int    `json:"tunnel"`
	IKE        bool   `json:"ike"`
}

// controlServer serves the control socket until closed.
type controlServer struct {
	ln  net.Listener
	srv *http.Server
}

func listenControl(path string, api controlAPI, log *slog.Logger) (*controlServer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	// The socket is created 0600 from the start: no window in which
	// another user could connect.
	old := umask(0o177)
	ln, err := net.Listen("unix", path)
	umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.Status())
	})
	mux.HandleFunc("GET /v1/routes", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.Routes())
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		summary, err := api.Reload()
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, apiResult{Summary: summary, Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, apiResult{Summary: summary})
	})
	mux.HandleFunc("POST /v1/rekey", func(w http.ResponseWriter, r *http.Request) {
		var req RekeyRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, apiResult{Error: "bad request: " + err.Error()})
			return
		}
		if err := api.Rekey(req.Connection, req.Tunnel, req.IKE); err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, apiResult{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, apiResult{Summary: "rekey started"})
	})
	if oa, ok := api.(objectAPI); ok {
		registerObjectRoutes(mux, oa) // api_objects.go
	}
	s := &controlServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("control socket stopped", "err", err)
		}
	}()
	return s, nil
}

// apiResult answers calls that change something.
type apiResult struct {
	Summary string `json:"summary"`
	Error   string `json:"error,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (s *controlServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// removeStaleSocket deletes a socket left by a daemon that died, but refuses
// to start a second daemon next to a live one.
func removeStaleSocket(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("control socket %s: another vpgw is running", path)
	}
	return os.Remove(path)
}

// Client talks to a running daemon over its control socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client {
	return &Client{socket: socket, http: &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}}
}

// Status fetches the daemon's status.
func (c *Client) Status() (*Status, error) {
	var s Status
	return &s, c.call(http.MethodGet, "/v1/status", &s)
}

// Routes fetches the routes the daemon wants and has installed.
func (c *Client) Routes() (*RoutesReport, error) {
	var r RoutesReport
	return &r, c.call(http.MethodGet, "/v1/routes", &r)
}

// Reload asks the daemon to re-read its configuration file.
func (c *Client) Reload() (string, error) {
	var r apiResult
	err := c.call(http.MethodPost, "/v1/reload", &r)
	return r.Summary, err
}

// Rekey asks the daemon to rekey one tunnel's CHILD_SA (or IKE SA) now.
func (c *Client) Rekey(req RekeyRequest) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var r apiResult
	return c.callBody(http.MethodPost, "/v1/rekey", b, &r)
}

func (c *Client) call(method, path string, out any) error {
	return c.callBody(method, path, nil, out)
}

func (c *Client) callBody(method, path string, body []byte, out any) error {
	req, err := http.NewRequest(method, "http://vpgw"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach vpgw on %s: %w (is `vpgw run` running?)", c.socket, err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("vpgw: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var r apiResult
		if json.Unmarshal(reply, &r) == nil && r.Error != "" {
			return errors.New(r.Error)
		}
		return fmt.Errorf("vpgw: %s: %s", resp.Status, reply)
	}
	if err := json.Unmarshal(reply, out); err != nil {
		return fmt.Errorf("vpgw: bad reply to %s: %w", path, err)
	}
	return nil
}
