package gateway

import (
	"fmt"
	"net/http"
	"net/netip"

	"github.com/vpgw/vpgw/devconfig"
	"github.com/vpgw/vpgw/store"
)

// Configuration download (AWS's "Download configuration"): a stored VPN
// connection, its customer gateway and its attached VPN gateway become a
// devconfig.Connection, rendered for one device type.

func (h *objectHandlers) download(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	device := q.Get("device")
	if device == "" {
		writeErr(w, "", invalidf("a device type is required (vpgw config devices lists them)"))
		return
	}
	opt := devconfig.Options{IKEVersion: q.Get("ike_version")}
	switch opt.IKEVersion {
	case "", IKEVersion1, IKEVersion2:
	default:
		writeErr(w, "", invalidf("IKE version must be ikev1 or ikev2, got %q", opt.IKEVersion))
		return
	}
	for _, s := range q["customer_lan"] {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			writeErr(w, "", invalidf("customer LAN %q is not a CIDR prefix", s))
			return
		}
		opt.CustomerLANs = append(opt.CustomerLANs, p)
	}
	read(w, h.api, func(tx *store.Tx) (ConfigDownload, error) {
		dc, err := deviceConnection(tx, r.PathValue("id"))
		if err != nil {
			return ConfigDownload{}, err
		}
		out, err := devconfig.Render(dc, device, opt)
		if err != nil {
			return ConfigDownload{}, &store.Error{Kind: store.ErrInvalid, Msg: err.Error()}
		}
		return ConfigDownload{Connection: dc.Name, Device: device, Config: string(out)}, nil
	})
}

// deviceConnection converts a stored connection, its customer gateway and
// its VPN gateway into what devconfig renders.
func deviceConnection(tx *store.Tx, idOrName string) (devconfig.Connection, error) {
	c, err := tx.GetVPNConnection(idOrName)
	if err != nil {
		return devconfig.Connection{}, err
	}
	cg, err := tx.GetCustomerGateway(c.CustomerGatewayID)
	if err != nil {
		return devconfig.Connection{}, err
	}
	g, err := tx.GetVPNGateway(c.VPNGatewayID)
	if err != nil {
		return devconfig.Connection{}, err
	}
	if !g.Attached {
		return devconfig.Connection{}, &store.Error{Kind: store.ErrConflict, Msg: fmt.Sprintf(
			"VPN connection %s: its VPN gateway %s is not attached to a VPC; attach it first (the configuration names the VPC CIDRs)",
			c.Name, g.Name)}
	}
	dc := devconfig.Connection{
		ID: c.ID, Name: c.Name, VGWASN: g.ASN, CustomerGatewayIP: cg.IP, Routing: c.Routing,
		StaticRoutes: append([]netip.Prefix(nil), c.StaticRoutes...), VPCCIDRs: append([]netip.Prefix(nil), g.VPCCIDRs...),
	}
	if c.Routing == RoutingDynamic {
		dc.CustomerASN = cg.BGPASN
	}
	for i, t := range c.Tunnels {
		dc.Tunnels[i] = devconfig.Tunnel{
			OutsideIP: t.OutsideIP, InsideCIDR: t.InsideCIDR, PSK: t.PSK,
			IKEVersions: append([]string(nil), t.IKEVersions...),
			Phase1:      devPhase(t.Phase1), Phase2: devPhase(t.Phase2),
			DPDTimeout: t.DPDTimeout, DPDAction: t.DPDTimeoutAction, StartupAction: t.StartupAction,
		}
	}
	return dc, nil
}

func devPhase(p store.Phase) devconfig.Phase {
	return devconfig.Phase{Encryption: append([]string(nil), p.Encryption...), Integrity: append([]string(nil), p.Integrity...),
		DHGroups: append([]int(nil), p.DHGroups...), Lifetime: p.Lifetime}
}
