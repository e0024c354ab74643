package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vpgw/vpgw/store"
)

// The object API: AWS's operator workflow ("Adding a hardware virtual
// private gateway to your VPC") against the running daemon. Every change
// runs in one state-store transaction on the daemon's owner goroutine
// (Daemon.mutate): it is fsynced before the reply and applied to the
// running gateway at once, touching only what it changes. Reads use a
// read-only transaction.
//
//	POST   /v1/customer-gateways                         {name, ip, bgp_asn}
//	GET    /v1/customer-gateways
//	GET    /v1/customer-gateways/{id}
//	DELETE /v1/customer-gateways/{id}
//	POST   /v1/vpn-gateways                              {name, asn}
//	GET    /v1/vpn-gateways
//	GET    /v1/vpn-gateways/{id}
//	DELETE /v1/vpn-gateways/{id}
//	POST   /v1/vpn-gateways/{id}/attach                  {vpc_cidrs, route_table}
//	POST   /v1/vpn-gateways/{id}/detach
//	PUT    /v1/vpn-gateways/{id}/route-propagation       {enabled}
//	POST   /v1/vpn-connections                           CreateVPNConnectionRequest
//	GET    /v1/vpn-connections
//	GET    /v1/vpn-connections/{id}                      ?show_psk=true
//	DELETE /v1/vpn-connections/{id}
//	POST   /v1/vpn-connections/{id}/static-routes        {prefix}
//	DELETE /v1/vpn-connections/{id}/static-routes        ?prefix=P
//	PATCH  /v1/vpn-connections/{id}/tunnels/{n}          ModifyTunnelRequest
//	GET    /v1/vpn-connections/{id}/configuration        ?device=D&ike_version=V&customer_lan=P...
//	GET    /v1/export                                    the running configuration as YAML
//
// {id} is an object's ID or name. Errors carry the store's or the
// validator's message verbatim: 404 not found, 409 conflict or in use,
// 422 invalid or limit reached, 400 malformed request, 503 daemon busy,
// 500 a change that was stored but could not be applied in full.

// objectAPI is what the object routes need; *Daemon implements it.
type objectAPI interface {
	// Mutate runs fn in one store transaction, validates the derived
	// running configuration and applies it (Daemon.mutate on the owner
	// goroutine); it returns what changed in the running gateway.
	Mutate(fn func(tx *store.Tx) error) (summary string, err error)
	// View runs fn in a read-only store transaction.
	View(fn func(tx *store.Tx) error) error
	// ExportYAML returns the running configuration in the file's schema.
	ExportYAML() ([]byte, error)
}

var _ objectAPI = (*Daemon)(nil)

var (
	errBusy = errors.New("daemon busy: try again")
	// localAddrs lists this host's addresses; a var so tests can pin it.
	localAddrs = hostAddrs
)

// ApplyError is returned for a change that was stored (it is durable and
// survives a restart) but that the running gateway could not apply in
// full, e.g. a tunnel that failed to start.
type ApplyError struct{ Err error }

func (e *ApplyError) Error() string {
	return "stored, but applying it to the running gateway failed: " + e.Err.Error()
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Mutate changes the state store and the running gateway (objectAPI).
func (d *Daemon) Mutate(fn func(tx *store.Tx) error) (summary string, err error) {
	ok := d.do(func() {
		before := d.store.Revision()
		summary, err = d.mutate(fn)
		if err != nil && d.store.Revision() != before {
			err = &ApplyError{Err: err}
		}
	})
	if !ok {
		return "", errBusy
	}
	return summary, err
}

// View reads the state store (objectAPI).
func (d *Daemon) View(fn func(tx *store.Tx) error) error { return d.store.View(fn) }

// ExportYAML prints the running configuration (objectAPI).
func (d *Daemon) ExportYAML() (out []byte, err error) {
	if !d.do(func() { out, err = ExportYAML(d.cfg) }) {
		return nil, errBusy
	}
	return out, err
}

func hostAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out, nil
}

// ---- requests and replies ----

// CreateCustomerGatewayRequest creates a customer gateway.
type CreateCustomerGatewayRequest struct {
	Name   string     `json:"name"`
	IP     netip.Addr `json:"ip"`
	BGPASN uint32     `json:"bgp_asn,omitempty"`
}

// CreateVPNGatewayRequest creates a virtual private gateway (ASN 0: 64512).
type CreateVPNGatewayRequest struct {
	Name string `json:"name"`
	ASN  uint32 `json:"asn,omitempty"`
}

// AttachVPNGatewayRequest attaches a VPN gateway to the VPC (route table 0: 254).
type AttachVPNGatewayRequest struct {
	VPCCIDRs   []netip.Prefix `json:"vpc_cidrs"`
	RouteTable int            `json:"route_table,omitempty"`
}

// RoutePropagationRequest turns route propagation on or off.
type RoutePropagationRequest struct {
	Enabled bool `json:"enabled"`
}

// CreateVPNConnectionRequest creates a VPN connection. Its tunnels start
// from AWS's default tunnel options (DefaultTunnel); an empty inside CIDR
// or PSK is generated.
type CreateVPNConnectionRequest struct {
	Name            string         `json:"name"`
	CustomerGateway string         `json:"customer_gateway"`
	VPNGateway      string         `json:"vpn_gateway"`
	Routing         string         `json:"routing"`
	StaticRoutes    []netip.Prefix `json:"static_routes,omitempty"`
	Tunnel1         TunnelSpec     `json:"tunnel1"`
	Tunnel2         TunnelSpec     `json:"tunnel2"`
}

// TunnelSpec is one tunnel of a new VPN connection.
type TunnelSpec struct {
	OutsideIP  netip.Addr   `json:"outside_ip"`           // required: an address of this host
	InsideCIDR netip.Prefix `json:"inside_cidr,omitzero"` // empty: a free /30 is picked
	PSK        string       `json:"psk,omitempty"`        // empty: generated
}

// StaticRouteRequest adds a static route.
type StaticRouteRequest struct {
	Prefix netip.Prefix `json:"prefix"`
}

// ModifyTunnelRequest changes one tunnel's options (AWS's
// ModifyVpnTunnelOptions); nil fields keep their value. Durations are
// strings such as 8h, 9m30s.
type ModifyTunnelRequest struct {
	PSK              *string       `json:"psk,omitempty"`
	GeneratePSK      bool          `json:"generate_psk,omitempty"`
	InsideCIDR       *netip.Prefix `json:"inside_cidr,omitempty"`
	IKEVersions      []string      `json:"ike_versions,omitempty"`
	Phase1           PhaseModify   `json:"phase1,omitzero"`
	Phase2           PhaseModify   `json:"phase2,omitzero"`
	RekeyMargin      *string       `json:"rekey_margin,omitempty"`
	RekeyFuzz        *int          `json:"rekey_fuzz,omitempty"`
	ReplayWindow     *int          `json:"replay_window,omitempty"`
	DPDTimeout       *string       `json:"dpd_timeout,omitempty"`
	DPDTimeoutAction *string       `json:"dpd_timeout_action,omitempty"`
	StartupAction    *string       `json:"startup_action,omitempty"`
	ForceUDPEncap    *bool         `json:"force_udp_encapsulation,omitempty"`
}

// PhaseModify changes a phase's proposals and lifetime; nil keeps.
type PhaseModify struct {
	Encryption []string `json:"encryption,omitempty"`
	Integrity  []string `json:"integrity,omitempty"`
	DHGroups   []int    `json:"dh_groups,omitempty"`
	Lifetime   *string  `json:"lifetime,omitempty"`
}

// ConfigDownloadRequest asks for a customer-gateway configuration.
type ConfigDownloadRequest struct {
	Connection   string
	Device       string
	IKEVersion   string         // ikev1 | ikev2 | "" (per tunnel: ikev2 if allowed)
	CustomerLANs []netip.Prefix // policy-based devices' local selectors; default the static routes
}

// ConfigDownload is a rendered customer-gateway configuration. It holds
// the tunnels' PSKs.
type ConfigDownload struct {
	Connection string `json:"connection"`
	Device     string `json:"device"`
	Config     string `json:"config"`
}

// ExportReply holds the running configuration as YAML (with PSKs).
type ExportReply struct {
	YAML string `json:"yaml"`
}

// VPNConnectionInfo describes a VPN connection (AWS's
// describe-vpn-connections). PSKs are empty unless asked for.
type VPNConnectionInfo struct {
	ID                string         `json:"id"`
	Name              string         `json:"name"`
	State             string         `json:"state"` // available | pending (VPN gateway not attached)
	CustomerGateway   string         `json:"customer_gateway"`
	CustomerGatewayID string         `json:"customer_gateway_id"`
	CustomerGatewayIP netip.Addr     `json:"customer_gateway_ip"`
	VPNGateway        string         `json:"vpn_gateway"`
	VPNGatewayID      string         `json:"vpn_gateway_id"`
	Routing           string         `json:"routing"`
	StaticRoutes      []netip.Prefix `json:"static_routes"`
	Tunnels           [2]TunnelInfo  `json:"tunnels"`
	CreatedAt         time.Time      `json:"created_at"`
}

// TunnelInfo is one tunnel's endpoints and options.
type TunnelInfo struct {
	OutsideIP        netip.Addr   `json:"outside_ip"`
	InsideCIDR       netip.Prefix `json:"inside_cidr"`
	VGWInsideIP      netip.Addr   `json:"vgw_inside_ip"`
	CGWInsideIP      netip.Addr   `json:"cgw_inside_ip"`
	PSK              string       `json:"psk,omitempty"`
	IKEVersions      []string     `json:"ike_versions"`
	Phase1           PhaseInfo    `json:"phase1"`
	Phase2           PhaseInfo    `json:"phase2"`
	RekeyMargin      string       `json:"rekey_margin"`
	RekeyFuzz        int          `json:"rekey_fuzz"`
	ReplayWindow     int          `json:"replay_window"`
	DPDTimeout       string       `json:"dpd_timeout"`
	DPDTimeoutAction string       `json:"dpd_timeout_action"`
	StartupAction    string       `json:"startup_action"`
	ForceUDPEncap    bool         `json:"force_udp_encapsulation"`
}

// PhaseInfo is one phase's proposals and lifetime.
type PhaseInfo struct {
	Encryption []string `json:"encryption"`
	Integrity  []string `json:"integrity"`
	DHGroups   []int    `json:"dh_groups"`
	Lifetime   string   `json:"lifetime"`
}

// Connection states.
const (
	ConnStateAvailable = "available"
	ConnStatePending   = "pending"
)

// ObjectReply answers a change: what the running gateway did, and the
// object as stored (PSKs never included).
type ObjectReply[T any] struct {
	Summary string `json:"summary"`
	Object  T      `json:"object"`
}

// ---- routes ----

func registerObjectRoutes(mux *http.ServeMux, api objectAPI) {
	h := &objectHandlers{api: api}
	mux.HandleFunc("POST /v1/customer-gateways", h.createCGW)
	mux.HandleFunc("GET /v1/customer-gateways", h.listCGWs)
	mux.HandleFunc("GET /v1/customer-gateways/{id}", h.getCGW)
	mux.HandleFunc("DELETE /v1/customer-gateways/{id}", h.deleteCGW)
	mux.HandleFunc("POST /v1/vpn-gateways", h.createVGW)
	mux.HandleFunc("GET /v1/vpn-gateways", h.listVGWs)
	mux.HandleFunc("GET /v1/vpn-gateways/{id}", h.getVGW)
	mux.HandleFunc("DELETE /v1/vpn-gateways/{id}", h.deleteVGW)
	mux.HandleFunc("POST /v1/vpn-gateways/{id}/attach", h.attachVGW)
	mux.HandleFunc("POST /v1/vpn-gateways/{id}/detach", h.detachVGW)
	mux.HandleFunc("PUT /v1/vpn-gateways/{id}/route-propagation", h.routePropagation)
	mux.HandleFunc("POST /v1/vpn-connections", h.createVPN)
	mux.HandleFunc("GET /v1/vpn-connections", h.listVPNs)
	mux.HandleFunc("GET /v1/vpn-connections/{id}", h.getVPN)
	mux.HandleFunc("DELETE /v1/vpn-connections/{id}", h.deleteVPN)
	mux.HandleFunc("POST /v1/vpn-connections/{id}/static-routes", h.addRoute)
	mux.HandleFunc("DELETE /v1/vpn-connections/{id}/static-routes", h.deleteRoute)
	mux.HandleFunc("PATCH /v1/vpn-connections/{id}/tunnels/{n}", h.modifyTunnel)
	mux.HandleFunc("GET /v1/vpn-connections/{id}/configuration", h.download)
	mux.HandleFunc("GET /v1/export", h.export)
}

type objectHandlers struct{ api objectAPI }

func invalidf(format string, a ...any) error {
	return &store.Error{Kind: store.ErrInvalid, Msg: fmt.Sprintf(format, a...)}
}

// httpStatus maps an error to its HTTP status.
func httpStatus(err error) int {
	var fe FieldErrors
	var fe1 FieldError
	var ae *ApplyError
	switch {
	case errors.As(err, &ae):
		return http.StatusInternalServerError
	case errors.Is(err, errBusy):
		return http.StatusServiceUnavailable
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrInUse):
		return http.StatusConflict
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrLimit), errors.As(err, &fe), errors.As(err, &fe1):
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// objectError is apiResult with the kind of a store error ("not found",
// "conflict", "in use", "limit reached", "invalid value"), so the Client
// can return an error that errors.Is matches as on the daemon's side.
type objectError struct {
	Summary string `json:"summary"`
	Error   string `json:"error"`
	Kind    string `json:"kind,omitempty"`
}

var storeKinds = []error{store.ErrNotFound, store.ErrConflict, store.ErrInUse, store.ErrLimit, store.ErrInvalid}

func writeErr(w http.ResponseWriter, summary string, err error) {
	e := objectError{Summary: summary, Error: err.Error()}
	for _, k := range storeKinds {
		if errors.Is(err, k) {
			e.Kind = k.Error()
			break
		}
	}
	writeJSON(w, httpStatus(err), e)
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, apiResult{Error: "bad request: " + err.Error()})
		return false
	}
	return true
}

// change runs fn through the daemon and replies with the object it stored.
func change[T any](w http.ResponseWriter, api objectAPI, fn func(tx *store.Tx) (T, error), note func(T) string) {
	var obj T
	summary, err := api.Mutate(func(tx *store.Tx) error {
		var err error
		obj, err = fn(tx)
		return err
	})
	if err != nil {
		writeErr(w, summary, err)
		return
	}
	if note != nil {
		if n := note(obj); n != "" {
			summary += "; " + n
		}
	}
	writeJSON(w, http.StatusOK, ObjectReply[T]{Summary: summary, Object: obj})
}

// read runs fn in a read-only transaction and replies with its result.
func read[T any](w http.ResponseWriter, api objectAPI, fn func(tx *store.Tx) (T, error)) {
	var out T
	err := api.View(func(tx *store.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	if err != nil {
		writeErr(w, "", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// ---- customer gateways ----

func (h *objectHandlers) createCGW(w http.ResponseWriter, r *http.Request) {
	var req CreateCustomerGatewayRequest
	if !decodeBody(w, r, &req) {
		return
	}
	change(w, h.api, func(tx *store.Tx) (store.CustomerGateway, error) {
		return tx.CreateCustomerGateway(store.CustomerGateway{Name: req.Name, IP: req.IP, BGPASN: req.BGPASN})
	}, nil)
}

func (h *objectHandlers) listCGWs(w http.ResponseWriter, r *http.Request) {
	read(w, h.api, func(tx *store.Tx) ([]store.CustomerGateway, error) {
		l, err := tx.ListCustomerGateways()
		if l == nil {
			l = []store.CustomerGateway{}
		}
		return l, err
	})
}

func (h *objectHandlers) getCGW(w http.ResponseWriter, r *http.Request) {
	read(w, h.api, func(tx *store.Tx) (store.CustomerGateway, error) {
		return tx.GetCustomerGateway(r.PathValue("id"))
	})
}

func (h *objectHandlers) deleteCGW(w http.ResponseWriter, r *http.Request) {
	change(w, h.api, func(tx *store.Tx) (store.CustomerGateway, error) {
		cg, err := tx.GetCustomerGateway(r.PathValue("id"))
		if err != nil {
			return cg, err
		}
		return cg, tx.DeleteCustomerGateway(cg.ID)
	}, nil)
}

// ---- VPN gateways ----

func (h *objectHandlers) createVGW(w http.ResponseWriter, r *http.Request) {
	var req CreateVPNGatewayRequest
	if !decodeBody(w, r, &req) {
		return
	}
	change(w, h.api, func(tx *store.Tx) (store.VPNGateway, error) {
		return tx.CreateVPNGateway(store.VPNGateway{Name: req.Name, ASN: req.ASN})
	}, nil)
}

func (h *objectHandlers) listVGWs(w http.ResponseWriter, r *http.Request) {
	read(w, h.api, func(tx *store.Tx) ([]store.VPNGateway, error) {
		l, err := tx.ListVPNGateways()
		if l == nil {
			l = []store.VPNGateway{}
		}
		return l, err
	})
}

func (h *objectHandlers) getVGW(w http.ResponseWriter, r *http.Request) {
	read(w, h.api, func(tx *store.Tx) (store.VPNGateway, error) {
		return tx.GetVPNGateway(r.PathValue("id"))
	})
}

func (h *objectHandlers) deleteVGW(w http.ResponseWriter, r *http.Request) {
	change(w, h.api, func(tx *store.Tx) (store.VPNGateway, error) {
		g, err := tx.GetVPNGateway(r.PathValue("id"))
		if err != nil {
			return g, err
		}
		return g, tx.DeleteVPNGateway(g.ID)
	}, nil)
}

func (h *objectHandlers) attachVGW(w http.ResponseWriter, r *http.Request) {
	var req AttachVPNGatewayRequest
	if !decodeBody(w, r, &req) {
		return
	}
	change(w, h.api, func(tx *store.Tx) (store.VPNGateway, error) {
		g, err := tx.GetVPNGateway(r.PathValue("id"))
		if err != nil {
			return g, err
		}
		if !g.Attached {
			// One vpgw serves one VPC.
			if err := attachExclusive(tx, g.ID); err != nil {
				var se *store.Error
				if !errors.As(err, &se) {
					err = &store.Error{Kind: store.ErrConflict, Msg: err.Error()}
				}
				return g, err
			}
		}
		return tx.AttachVPNGateway(g.ID, req.VPCCIDRs, req.RouteTable)
	}, nil)
}

func (h *objectHandlers) detachVGW(w http.ResponseWriter, r *http.Request) {
	change(w, h.api, func(tx *store.Tx) (store.VPNGateway, error) {
		return tx.DetachVPNGateway(r.PathValue("id"))
	}, nil)
}

func (h *objectHandlers) routePropagation(w http.ResponseWriter, r *http.Request) {
	var req RoutePropagationRequest
	if !decodeBody(w, r, &req) {
		return
	}
	change(w, h.api, func(tx *store.Tx) (store.VPNGateway, error) {
		return tx.SetRoutePropagation(r.PathValue("id"), req.Enabled)
	}, func(g store.VPNGateway) string {
		if !g.Attached {
			return fmt.Sprintf("VPN gateway %s is not attached: propagation takes effect once it is", g.Name)
		}
		return ""
	})
}

// ---- VPN connections ----

func (h *objectHandlers) createVPN(w http.ResponseWriter, r *http.Request) {
	var req CreateVPNConnectionRequest
	if !decodeBody(w, r, &req) {
		return
	}
	c := store.VPNConnection{Name: req.Name, CustomerGatewayID: req.CustomerGateway, VPNGatewayID: req.VPNGateway,
		Routing: req.Routing, StaticRoutes: req.StaticRoutes}
	var errs FieldErrors
	for i, spec := range []TunnelSpec{req.Tunnel1, req.Tunnel2} {
		t := DefaultTunnel()
		t.OutsideIP, t.InsideCIDR, t.PSK = spec.OutsideIP, spec.InsideCIDR, spec.PSK
		errs = append(errs, checkTunnel(fmt.Sprintf("tunnel%d", i+1), t, true)...)
		c.Tunnels[i] = toStoreTunnel(t)
	}
	if len(errs) > 0 {
		writeErr(w, "", errs)
		return
	}
	change(w, h.api, func(tx *store.Tx) (VPNConnectionInfo, error) {
		got, err := tx.CreateVPNConnection(c)
		if err != nil {
			return VPNConnectionInfo{}, err
		}
		return connectionInfo(tx, got, false)
	}, pendingNote)
}

func pendingNote(c VPNConnectionInfo) string {
	if c.State == ConnStatePending {
		return fmt.Sprintf("VPN gateway %s is not attached to the VPC: the tunnels start when it is attached", c.VPNGateway)
	}
	return ""
}

func (h *objectHandlers) listVPNs(w http.ResponseWriter, r *http.Request) {
	read(w, h.api, func(tx *store.Tx) ([]VPNConnectionInfo, error) {
		conns, err := tx.ListVPNConnections()
		if err != nil {
			return nil, err
		}
		out := []VPNConnectionInfo{}
		for _, c := range conns {
			ci, err := connectionInfo(tx, c, false)
			if err != nil {
				return nil, err
			}
			out = append(out, ci)
		}
		return out, nil
	})
}

func (h *objectHandlers) getVPN(w http.ResponseWriter, r *http.Request) {
	showPSK, _ := strconv.ParseBool(r.URL.Query().Get("show_psk"))
	read(w, h.api, func(tx *store.Tx) (VPNConnectionInfo, error) {
		c, err := tx.GetVPNConnection(r.PathValue("id"))
		if err != nil {
			return VPNConnectionInfo{}, err
		}
		return connectionInfo(tx, c, showPSK)
	})
}

func (h *objectHandlers) deleteVPN(w http.ResponseWriter, r *http.Request) {
	change(w, h.api, func(tx *store.Tx) (VPNConnectionInfo, error) {
		c, err := tx.GetVPNConnection(r.PathValue("id"))
		if err != nil {
			return VPNConnectionInfo{}, err
		}
		info, err := connectionInfo(tx, c, false)
		if err != nil {
			return info, err
		}
		return info, tx.DeleteVPNConnection(c.ID)
	}, nil)
}

func (h *objectHandlers) addRoute(w http.ResponseWriter, r *http.Request) {
	var req StaticRouteRequest
	if !decodeBody(w, r, &req) {
		return
	}
	change(w, h.api, func(tx *store.Tx) (VPNConnectionInfo, error) {
		c, err := tx.AddStaticRoute(r.PathValue("id"), req.Prefix)
		if err != nil {
			return VPNConnectionInfo{}, err
		}
		return connectionInfo(tx, c, false)
	}, pendingNote)
}

func (h *objectHandlers) deleteRoute(w http.ResponseWriter, r *http.Request) {
	p, err := netip.ParsePrefix(r.URL.Query().Get("prefix"))
	if err != nil {
		writeErr(w, "", invalidf("static route %q is not a CIDR prefix", r.URL.Query().Get("prefix")))
		return
	}
	change(w, h.api, func(tx *store.Tx) (VPNConnectionInfo, error) {
		c, err := tx.DeleteStaticRoute(r.PathValue("id"), p)
		if err != nil {
			return VPNConnectionInfo{}, err
		}
		return connectionInfo(tx, c, false)
	}, pendingNote)
}

func (h *objectHandlers) modifyTunnel(w http.ResponseWriter, r *http.Request) {
	var req ModifyTunnelRequest
	if !decodeBody(w, r, &req) {
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		writeErr(w, "", invalidf("tunnel %q: must be 1 or 2", r.PathValue("n")))
		return
	}
	change(w, h.api, func(tx *store.Tx) (VPNConnectionInfo, error) {
		c, err := tx.GetVPNConnection(r.PathValue("id"))
		if err != nil {
			return VPNConnectionInfo{}, err
		}
		if n != 1 && n != 2 {
			_, err := tx.ModifyTunnelOptions(c.ID, n, nil) // the store's message
			return VPNConnectionInfo{}, err
		}
		t, err := req.apply(fromStoreTunnel(c.Tunnels[n-1]))
		if err != nil {
			return VPNConnectionInfo{}, err
		}
		if errs := checkTunnel(fmt.Sprintf("tunnel%d", n), t, false); len(errs) > 0 {
			return VPNConnectionInfo{}, errs
		}
		got, err := tx.ModifyTunnelOptions(c.ID, n, func(o *store.TunnelOptions) { *o = toStoreTunnel(t) })
		if err != nil {
			return VPNConnectionInfo{}, err
		}
		return connectionInfo(tx, got, false)
	}, pendingNote)
}

// apply returns t with the request's changes.
func (req *ModifyTunnelRequest) apply(t Tunnel) (Tunnel, error) {
	dur := func(field string, s *string, dst *time.Duration) error {
		if s == nil {
			return nil
		}
		d, err := time.ParseDuration(*s)
		if err != nil {
			return invalidf("%s: %q is not a duration (use e.g. 8h, 9m, 30s)", field, *s)
		}
		*dst = d
		return nil
	}
	phase := func(name string, m PhaseModify, p *PhaseConfig) error {
		if m.Encryption != nil {
			p.Encryption = m.Encryption
		}
		if m.Integrity != nil {
			p.Integrity = m.Integrity
		}
		if m.DHGroups != nil {
			p.DHGroups = m.DHGroups
		}
		return dur(name+".lifetime", m.Lifetime, &p.Lifetime)
	}
	switch {
	case req.PSK != nil && req.GeneratePSK:
		return t, invalidf("give a PSK or ask for a generated one, not both")
	case req.GeneratePSK:
		t.PSK = "" // the store generates a new one (AWS's "replace credentials")
	case req.PSK != nil:
		if *req.PSK == "" {
			return t, invalidf("psk: empty (use generate_psk for a generated one)")
		}
		t.PSK = *req.PSK
	}
	if req.InsideCIDR != nil {
		t.InsideCIDR = *req.InsideCIDR
	}
	if req.IKEVersions != nil {
		t.IKEVersions = req.IKEVersions
	}
	if req.RekeyFuzz != nil {
		t.RekeyFuzz = *req.RekeyFuzz
	}
	if req.ReplayWindow != nil {
		t.ReplayWindow = *req.ReplayWindow
	}
	if req.DPDTimeoutAction != nil {
		t.DPDTimeoutAction = *req.DPDTimeoutAction
	}
	if req.StartupAction != nil {
		t.StartupAction = *req.StartupAction
	}
	if req.ForceUDPEncap != nil {
		t.ForceUDPEncap = *req.ForceUDPEncap
	}
	err := errors.Join(
		phase("phase1", req.Phase1, &t.Phase1),
		phase("phase2", req.Phase2, &t.Phase2),
		dur("rekey_margin", req.RekeyMargin, &t.RekeyMargin),
		dur("dpd_timeout", req.DPDTimeout, &t.DPDTimeout),
	)
	if err != nil {
		var se *store.Error
		if errors.As(err, &se) && !strings.Contains(err.Error(), "\n") {
			return t, se
		}
		return t, &store.Error{Kind: store.ErrInvalid, Msg: err.Error()}
	}
	return t, nil
}

// checkTunnel validates one tunnel's options with the configuration
// file's rules (path names it: "tunnel1"). An unset inside CIDR is allowed
// (the store picks one); so is an unset PSK (generated). With create, the
// outside IP must be an address of this host.
func checkTunnel(path string, t Tunnel, create bool) FieldErrors {
	v := &cfgValidator{outside: map[netip.Addr]string{}, inside: map[netip.Prefix]string{}}
	if !t.InsideCIDR.IsValid() {
		t.InsideCIDR = netip.MustParsePrefix("169.254.100.0/30") // placeholder: generated later
	}
	v.tunnel(path, &t)
	if create && t.OutsideIP.IsValid() && t.OutsideIP.Is4() && len(v.errs) == 0 {
		if err := checkLocal(t.OutsideIP); err != nil {
			v.fail(path+".outside_ip", err.Error())
		}
	}
	return v.errs
}

func checkLocal(a netip.Addr) error {
	addrs, err := localAddrs()
	if err != nil {
		return fmt.Errorf("cannot list this host's addresses: %v", err)
	}
	for _, h := range addrs {
		if h == a {
			return nil
		}
	}
	return fmt.Errorf("%s is not an address of this host (the tunnel's outside IP must be one of them)", a)
}

// connectionInfo describes a stored connection; PSKs only with showPSK.
func connectionInfo(tx *store.Tx, c store.VPNConnection, showPSK bool) (VPNConnectionInfo, error) {
	cg, err := tx.GetCustomerGateway(c.CustomerGatewayID)
	if err != nil {
		return VPNConnectionInfo{}, err
	}
	g, err := tx.GetVPNGateway(c.VPNGatewayID)
	if err != nil {
		return VPNConnectionInfo{}, err
	}
	info := VPNConnectionInfo{
		ID: c.ID, Name: c.Name, State: ConnStatePending,
		CustomerGateway: cg.Name, CustomerGatewayID: cg.ID, CustomerGatewayIP: cg.IP,
		VPNGateway: g.Name, VPNGatewayID: g.ID, Routing: c.Routing,
		StaticRoutes: append([]netip.Prefix{}, c.StaticRoutes...), CreatedAt: c.CreatedAt,
	}
	if g.Attached {
		info.State = ConnStateAvailable
	}
	for i, so := range c.Tunnels {
		t := fromStoreTunnel(so)
		ti := TunnelInfo{
			OutsideIP: t.OutsideIP, InsideCIDR: t.InsideCIDR, VGWInsideIP: t.VGWInsideAddr(), CGWInsideIP: t.CGWInsideAddr(),
			IKEVersions: nonNil(t.IKEVersions), Phase1: phaseInfo(t.Phase1), Phase2: phaseInfo(t.Phase2),
			RekeyMargin: t.RekeyMargin.String(), RekeyFuzz: t.RekeyFuzz, ReplayWindow: t.ReplayWindow,
			DPDTimeout: t.DPDTimeout.String(), DPDTimeoutAction: t.DPDTimeoutAction, StartupAction: t.StartupAction,
			ForceUDPEncap: t.ForceUDPEncap,
		}
		if showPSK {
			ti.PSK = t.PSK
		}
		info.Tunnels[i] = ti
	}
	return info, nil
}

func phaseInfo(p PhaseConfig) PhaseInfo {
	return PhaseInfo{Encryption: nonNil(p.Encryption), Integrity: nonNil(p.Integrity), DHGroups: nonNil(p.DHGroups),
		Lifetime: p.Lifetime.String()}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ---- export (configuration download: download.go) ----

func (h *objectHandlers) export(w http.ResponseWriter, r *http.Request) {
	out, err := h.api.ExportYAML()
	if err != nil {
		writeErr(w, "", err)
		return
	}
	writeJSON(w, http.StatusOK, ExportReply{YAML: string(out)})
}

// ---- client ----

// objectCall is callBody for the object routes: a failure becomes a
// *store.Error whose Kind follows the HTTP status (errors.Is works on the
// client side too) and whose message is the daemon's, verbatim.
func (c *Client) objectCall(method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	req, err := http.NewRequest(method, "http://vpgw"+path, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
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
		var r objectError
		if json.Unmarshal(reply, &r) != nil || r.Error == "" {
			return fmt.Errorf("vpgw: %s: %s", resp.Status, strings.TrimSpace(string(reply)))
		}
		for _, k := range storeKinds {
			if r.Kind == k.Error() {
				return &store.Error{Kind: k, Msg: r.Error}
			}
		}
		if resp.StatusCode == http.StatusUnprocessableEntity {
			return &store.Error{Kind: store.ErrInvalid, Msg: r.Error}
		}
		return errors.New(r.Error)
	}
	if err := json.Unmarshal(reply, out); err != nil {
		return fmt.Errorf("vpgw: bad reply to %s: %w", path, err)
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

// CreateCustomerGateway creates a customer gateway.
func (c *Client) CreateCustomerGateway(req CreateCustomerGatewayRequest) (ObjectReply[store.CustomerGateway], error) {
	var r ObjectReply[store.CustomerGateway]
	return r, c.objectCall(http.MethodPost, "/v1/customer-gateways", req, &r)
}

// CustomerGateways lists the customer gateways.
func (c *Client) CustomerGateways() ([]store.CustomerGateway, error) {
	var r []store.CustomerGateway
	return r, c.objectCall(http.MethodGet, "/v1/customer-gateways", nil, &r)
}

// CustomerGateway returns one customer gateway by ID or name.
func (c *Client) CustomerGateway(idOrName string) (store.CustomerGateway, error) {
	var r store.CustomerGateway
	return r, c.objectCall(http.MethodGet, "/v1/customer-gateways/"+esc(idOrName), nil, &r)
}

// DeleteCustomerGateway deletes a customer gateway no connection uses.
func (c *Client) DeleteCustomerGateway(idOrName string) (ObjectReply[store.CustomerGateway], error) {
	var r ObjectReply[store.CustomerGateway]
	return r, c.objectCall(http.MethodDelete, "/v1/customer-gateways/"+esc(idOrName), nil, &r)
}

// CreateVPNGateway creates a virtual private gateway.
func (c *Client) CreateVPNGateway(req CreateVPNGatewayRequest) (ObjectReply[store.VPNGateway], error) {
	var r ObjectReply[store.VPNGateway]
	return r, c.objectCall(http.MethodPost, "/v1/vpn-gateways", req, &r)
}

// VPNGateways lists the VPN gateways.
func (c *Client) VPNGateways() ([]store.VPNGateway, error) {
	var r []store.VPNGateway
	return r, c.objectCall(http.MethodGet, "/v1/vpn-gateways", nil, &r)
}

// VPNGateway returns one VPN gateway by ID or name.
func (c *Client) VPNGateway(idOrName string) (store.VPNGateway, error) {
	var r store.VPNGateway
	return r, c.objectCall(http.MethodGet, "/v1/vpn-gateways/"+esc(idOrName), nil, &r)
}

// DeleteVPNGateway deletes a detached VPN gateway without connections.
func (c *Client) DeleteVPNGateway(idOrName string) (ObjectReply[store.VPNGateway], error) {
	var r ObjectReply[store.VPNGateway]
	return r, c.objectCall(http.MethodDelete, "/v1/vpn-gateways/"+esc(idOrName), nil, &r)
}

// AttachVPNGateway attaches a VPN gateway to the VPC.
func (c *Client) AttachVPNGateway(idOrName string, req AttachVPNGatewayRequest) (ObjectReply[store.VPNGateway], error) {
	var r ObjectReply[store.VPNGateway]
	return r, c.objectCall(http.MethodPost, "/v1/vpn-gateways/"+esc(idOrName)+"/attach", req, &r)
}

// DetachVPNGateway detaches a VPN gateway from the VPC.
func (c *Client) DetachVPNGateway(idOrName string) (ObjectReply[store.VPNGateway], error) {
	var r ObjectReply[store.VPNGateway]
	return r, c.objectCall(http.MethodPost, "/v1/vpn-gateways/"+esc(idOrName)+"/detach", struct{}{}, &r)
}

// SetRoutePropagation turns route propagation of a VPN gateway on or off.
func (c *Client) SetRoutePropagation(idOrName string, enabled bool) (ObjectReply[store.VPNGateway], error) {
	var r ObjectReply[store.VPNGateway]
	return r, c.objectCall(http.MethodPut, "/v1/vpn-gateways/"+esc(idOrName)+"/route-propagation",
		RoutePropagationRequest{Enabled: enabled}, &r)
}

// CreateVPNConnection creates a VPN connection.
func (c *Client) CreateVPNConnection(req CreateVPNConnectionRequest) (ObjectReply[VPNConnectionInfo], error) {
	var r ObjectReply[VPNConnectionInfo]
	return r, c.objectCall(http.MethodPost, "/v1/vpn-connections", req, &r)
}

// VPNConnections lists the VPN connections (without PSKs).
func (c *Client) VPNConnections() ([]VPNConnectionInfo, error) {
	var r []VPNConnectionInfo
	return r, c.objectCall(http.MethodGet, "/v1/vpn-connections", nil, &r)
}

// VPNConnection describes one VPN connection; PSKs only with showPSK.
func (c *Client) VPNConnection(idOrName string, showPSK bool) (VPNConnectionInfo, error) {
	var r VPNConnectionInfo
	path := "/v1/vpn-connections/" + esc(idOrName)
	if showPSK {
		path += "?show_psk=true"
	}
	return r, c.objectCall(http.MethodGet, path, nil, &r)
}

// DeleteVPNConnection deletes a VPN connection.
func (c *Client) DeleteVPNConnection(idOrName string) (ObjectReply[VPNConnectionInfo], error) {
	var r ObjectReply[VPNConnectionInfo]
	return r, c.objectCall(http.MethodDelete, "/v1/vpn-connections/"+esc(idOrName), nil, &r)
}

// AddStaticRoute adds a static route to a VPN connection.
func (c *Client) AddStaticRoute(conn string, prefix netip.Prefix) (ObjectReply[VPNConnectionInfo], error) {
	var r ObjectReply[VPNConnectionInfo]
	return r, c.objectCall(http.MethodPost, "/v1/vpn-connections/"+esc(conn)+"/static-routes", StaticRouteRequest{Prefix: prefix}, &r)
}

// DeleteStaticRoute removes a static route from a VPN connection.
func (c *Client) DeleteStaticRoute(conn string, prefix netip.Prefix) (ObjectReply[VPNConnectionInfo], error) {
	var r ObjectReply[VPNConnectionInfo]
	q := url.Values{"prefix": {prefix.String()}}
	return r, c.objectCall(http.MethodDelete, "/v1/vpn-connections/"+esc(conn)+"/static-routes?"+q.Encode(), nil, &r)
}

// ModifyTunnel changes the options of tunnel 1 or 2 of a VPN connection.
func (c *Client) ModifyTunnel(conn string, tunnel int, req ModifyTunnelRequest) (ObjectReply[VPNConnectionInfo], error) {
	var r ObjectReply[VPNConnectionInfo]
	return r, c.objectCall(http.MethodPatch, fmt.Sprintf("/v1/vpn-connections/%s/tunnels/%d", esc(conn), tunnel), req, &r)
}

// DownloadConfig renders the customer-gateway configuration of a VPN
// connection for a device type. The result holds the PSKs.
func (c *Client) DownloadConfig(req ConfigDownloadRequest) (ConfigDownload, error) {
	var r ConfigDownload
	q := url.Values{"device": {req.Device}}
	if req.IKEVersion != "" {
		q.Set("ike_version", req.IKEVersion)
	}
	for _, p := range req.CustomerLANs {
		q.Add("customer_lan", p.String())
	}
	return r, c.objectCall(http.MethodGet, "/v1/vpn-connections/"+esc(req.Connection)+"/configuration?"+q.Encode(), nil, &r)
}

// Export returns the running configuration as YAML in the configuration
// file's schema (with PSKs).
func (c *Client) Export() ([]byte, error) {
	var r ExportReply
	err := c.objectCall(http.MethodGet, "/v1/export", nil, &r)
	return []byte(r.YAML), err
}
