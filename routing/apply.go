package routing

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteProtocol is the rtm_protocol ("proto" in `ip route`) vpgw stamps on
// every route it installs, and the only thing by which it recognizes its own
// routes: the Applier never changes or deletes a route carrying another
// protocol. 245 (0xF5, name "vpgw") is assigned neither in the kernel's
// rtnetlink.h nor in iproute2's rt_protos, and is not used by FRR (186-198),
// BIRD (12), keepalived (18), DHCP clients (16) or strongSwan (static). An
// /etc/iproute2/rt_protos.d/vpgw.conf line "245 vpgw" makes `ip route` print
// the name.
const RouteProtocol = 245

// dumpRetries bounds retries of a route dump the kernel reports as
// interrupted (the table changed while it was being read).
const dumpRetries = 5

// Applier makes one kernel routing table hold exactly the desired vpgw
// routes. It touches only routes marked with RouteProtocol. Its methods may
// be called from several goroutines; they run one at a time.
type Applier struct {
	mu    sync.Mutex
	h     *netlink.Handle
	table int
	log   *slog.Logger
}

// NewApplier returns an Applier for table (0 means main, 254) in the current
// network namespace.
func NewApplier(table int, log *slog.Logger) *Applier {
	return NewApplierAt(nil, table, log)
}

// NewApplierAt is NewApplier working through h, e.g. a handle on another
// network namespace from netlink.NewHandleAt (nil: the current namespace).
// The caller keeps ownership of h.
func NewApplierAt(h *netlink.Handle, table int, log *slog.Logger) *Applier {
	if table == 0 {
		// Table 0 in a dump filter would match every table, so Flush would
		// reach beyond the configured one: pin it to main.
		table = unix.RT_TABLE_MAIN
	}
	return &Applier{h: handleOrDefault(h), table: table, log: log.With("table", table)}
}

// Table is the kernel routing table the Applier manages.
func (a *Applier) Table() int { return a.table }

// Apply makes the table's vpgw routes equal desired: each desired route is
// installed (RouteReplace, scope link, no gateway, through its Dev) unless
// the same route is already there, and every vpgw route whose destination is
// not desired is deleted. Routes of other protocols are left alone; a desired
// destination that already has a foreign route of the same metric is skipped
// and reported, since replacing it would take over someone else's route.
//
// Apply is best effort: a route that cannot be installed (bad input, missing
// or down device, kernel error) is reported in the joined error and the rest
// is still applied. A vpgw route whose destination is desired but could not be
// installed is kept rather than deleted: its old tunnel is a safer path than
// the default route. Routes through a device vanish when the device goes
// down, so call Apply again after (re)configuring a link.
func (a *Applier) Apply(desired []Route) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.checkTable(); err != nil {
		return err
	}

	want, errs := a.normalize(desired)
	all, err := a.listTable()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	ours := make(map[netip.Prefix]netlink.Route)
	foreign := make(map[netip.Prefix]netlink.Route)
	var stale []netlink.Route
	for _, kr := range all {
		dst, ok := ipNetToPrefix(kr.Dst)
		if !ok {
			continue
		}
		sameKey := kr.Priority == 0 && kr.Tos == 0 // what RouteReplace would overwrite
		switch {
		case kr.Protocol != RouteProtocol:
			if sameKey {
				foreign[dst] = kr
			}
		case sameKey && want.has(dst):
			ours[dst] = kr
		default:
			stale = append(stale, kr)
		}
	}

	names := make(map[string]int)
	for _, r := range want.routes {
		if f, ok := foreign[r.Dst]; ok {
			errs = append(errs, fmt.Errorf("routing: %v: table already holds a route for %v with protocol %v that vpgw did not install; left alone", r, r.Dst, f.Protocol))
			continue
		}
		ifindex, err := a.linkIndex(r.Dev, names)
		if err != nil {
			errs = append(errs, fmt.Errorf("routing: %v: %w", r, err))
			continue
		}
		cur, had := ours[r.Dst]
		if had && isOurRoute(cur, ifindex) {
			continue
		}
		if err := a.h.RouteReplace(a.kernelRoute(r.Dst, ifindex)); err != nil {
			errs = append(errs, fmt.Errorf("routing: install %v: %w", r, err))
			continue
		}
		if had {
			a.log.Info("route moved", "dst", r.Dst, "dev", r.Dev, "previous_dev", a.linkName(cur.LinkIndex))
		} else {
			a.log.Info("route installed", "dst", r.Dst, "dev", r.Dev)
		}
	}

	for _, kr := range stale {
		if err := a.del(kr); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Flush deletes every vpgw route in the table: at start, to clear routes left
// by an earlier run, and at shutdown.
func (a *Applier) Flush() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.checkTable(); err != nil {
		return err
	}
	ours, err := a.listOurs()
	if err != nil {
		return err
	}
	var errs []error
	for _, kr := range ours {
		if err := a.del(kr); err != nil {
			errs = append(errs, err)
		}
	}
	if len(ours) > 0 {
		a.log.Info("routes flushed", "count", len(ours)-len(errs))
	}
	return errors.Join(errs...)
}

// List returns the vpgw routes currently in the table, sorted as Desired
// sorts. A route whose device cannot be resolved any more has Dev "".
func (a *Applier) List() ([]Route, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.checkTable(); err != nil {
		return nil, err
	}
	ours, err := a.listOurs()
	if err != nil {
		return nil, err
	}
	out := make([]Route, 0, len(ours))
	for _, kr := range ours {
		dst, ok := ipNetToPrefix(kr.Dst)
		if !ok {
			continue
		}
		out = append(out, Route{Dst: dst, Dev: a.linkName(kr.LinkIndex), Table: kr.Table})
	}
	sortRoutes(out)
	return out, nil
}

func (a *Applier) checkTable() error {
	if a.table < 1 || int64(a.table) > math.MaxUint32 {
		return fmt.Errorf("routing: table %d out of range 1..%d", a.table, uint32(math.MaxUint32))
	}
	return nil
}

// wantSet is the validated desired routes, sorted, one per destination.
type wantSet struct {
	routes []Route
	dsts   map[netip.Prefix]bool
}

func (w wantSet) has(p netip.Prefix) bool { return w.dsts[p] }

// normalize validates desired and returns the routes to install, reporting
// (and dropping) entries the Applier cannot install.
func (a *Applier) normalize(desired []Route) (wantSet, []error) {
	var errs []error
	rs := make([]Route, 0, len(desired))
	for _, r := range desired {
		if r.Table == 0 {
			r.Table = a.table
		}
		switch {
		case r.Table != a.table:
			errs = append(errs, fmt.Errorf("routing: %v: applier manages table %d", r, a.table))
			continue
		case !r.Dst.IsValid() || !r.Dst.Addr().Is4():
			errs = append(errs, fmt.Errorf("routing: %v: only IPv4 destinations are supported", r))
			continue
		case r.Dev == "":
			errs = append(errs, fmt.Errorf("routing: %v: no device", r))
			continue
		}
		r.Dst = r.Dst.Masked()
		rs = append(rs, r)
	}
	sortRoutes(rs)

	w := wantSet{dsts: make(map[netip.Prefix]bool, len(rs))}
	for _, r := range rs {
		if w.dsts[r.Dst] {
			if prev := w.routes[len(w.routes)-1]; prev.Dev != r.Dev {
				errs = append(errs, fmt.Errorf("routing: %v conflicts with %v, which is kept", r, prev))
			}
			continue
		}
		w.dsts[r.Dst] = true
		w.routes = append(w.routes, r)
	}
	return w, errs
}

func (a *Applier) kernelRoute(dst netip.Prefix, ifindex int) *netlink.Route {
	return &netlink.Route{
		LinkIndex: ifindex,
		Dst:       prefixToIPNet(dst),
		Scope:     netlink.SCOPE_LINK,
		Protocol:  RouteProtocol,
		Table:     a.table,
		Type:      unix.RTN_UNICAST,
	}
}

// isOurRoute reports whether kr already is the route kernelRoute would
// install through ifindex, so Apply can skip it.
func isOurRoute(kr netlink.Route, ifindex int) bool {
	return kr.LinkIndex == ifindex && kr.Scope == netlink.SCOPE_LINK &&
		kr.Type == unix.RTN_UNICAST && kr.Gw == nil && len(kr.MultiPath) == 0
}

func (a *Applier) del(kr netlink.Route) error {
	dst, _ := ipNetToPrefix(kr.Dst)
	if err := a.h.RouteDel(&kr); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("routing: delete %v table %d: %w", dst, a.table, err)
	}
	a.log.Info("route removed", "dst", dst, "dev", a.linkName(kr.LinkIndex))
	return nil
}

// listTable dumps every IPv4 route of the table, whatever its protocol.
func (a *Applier) listTable() ([]netlink.Route, error) {
	filter := &netlink.Route{Table: a.table}
	for attempt := 1; ; attempt++ {
		rs, err := a.h.RouteListFiltered(netlink.FAMILY_V4, filter, netlink.RT_FILTER_TABLE)
		if errors.Is(err, netlink.ErrDumpInterrupted) && attempt < dumpRetries {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("routing: list table %d: %w", a.table, err)
		}
		return rs, nil
	}
}

func (a *Applier) listOurs() ([]netlink.Route, error) {
	all, err := a.listTable()
	if err != nil {
		return nil, err
	}
	ours := all[:0]
	for _, kr := range all {
		if kr.Protocol == RouteProtocol {
			ours = append(ours, kr)
		}
	}
	return ours, nil
}

// linkIndex resolves a device name, caching within one Apply.
func (a *Applier) linkIndex(name string, cache map[string]int) (int, error) {
	if i, ok := cache[name]; ok {
		return i, nil
	}
	l, err := a.h.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("device %s: %w", name, err)
	}
	cache[name] = l.Attrs().Index
	return l.Attrs().Index, nil
}

func (a *Applier) linkName(ifindex int) string {
	l, err := a.h.LinkByIndex(ifindex)
	if err != nil {
		return ""
	}
	return l.Attrs().Name
}
