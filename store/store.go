// Package store is vpgw's persistent object store: the customer gateways,
// virtual private gateways and VPN connections of AWS's "Adding a hardware
// virtual private gateway to your VPC", with AWS's identity and deletion
// rules, kept in one bbolt file (STATE_DIR/state.db).
//
// Every mutation runs in one Store.Update: the rules are checked inside the
// same bbolt read-write transaction that writes the change, and Update
// returns only after the transaction has been fsynced, so an acknowledged
// change survives a crash. A flock on the file keeps a second vpgw from
// opening the same store.
//
// The store has its own record types (it cannot import gateway, which
// imports it); they are stored as JSON.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the store's file inside the state directory.
const FileName = "state.db"

// SchemaVersion is the version of the record layout this package writes.
const SchemaVersion = 1

// lockTimeout is how long Open waits for another process's lock.
var lockTimeout = time.Second

var (
	bMeta     = []byte("meta")
	bCGW      = []byte("customer_gateways")
	bVGW      = []byte("vpn_gateways")
	bVPN      = []byte("vpn_connections")
	bCGWNames = []byte("idx_customer_gateway_names")
	bVGWNames = []byte("idx_vpn_gateway_names")
	bVPNNames = []byte("idx_vpn_connection_names")
	bInside   = []byte("idx_inside_cidrs") // inside /30 -> "vpn-…#tunnel"
	bOutside  = []byte("idx_outside_ips")  // outside IP -> "vpn-…#tunnel"
	bVGWConn  = []byte("idx_vgw_cgw_ip")   // "vgw-…|cgw IP" -> vpn-…
	bCGWConn  = []byte("idx_cgw_vpn")      // "cgw-…|vpn-…" -> ""
	allBkts   = [][]byte{bMeta, bCGW, bVGW, bVPN, bCGWNames, bVGWNames, bVPNNames, bInside, bOutside, bVGWConn, bCGWConn}
	indexBkts = [][]byte{bCGWNames, bVGWNames, bVPNNames, bInside, bOutside, bVGWConn, bCGWConn}

	kRevision = []byte("revision")
	kSchema   = []byte("schema")
)

// Limit names one of the quotas the store enforces.
type Limit int

// The quotas, with AWS's default values.
const (
	// LimitVPNConnectionsPerGateway: VPN connections per virtual private
	// gateway (AWS default 10).
	LimitVPNConnectionsPerGateway Limit = iota
	// LimitStaticRoutesPerConnection: static routes per VPN connection
	// (AWS: 100).
	LimitStaticRoutesPerConnection
	// LimitCustomerGateways: customer gateways in the store (AWS default 50
	// per region).
	LimitCustomerGateways
	// LimitVPNGateways: virtual private gateways in the store (AWS default
	// 5 per region).
	LimitVPNGateways
	numLimits
)

// DefaultLimits are the quotas a new Store starts with.
var DefaultLimits = map[Limit]int{
	LimitVPNConnectionsPerGateway:  10,
	LimitStaticRoutesPerConnection: 100,
	LimitCustomerGateways:          50,
	LimitVPNGateways:               5,
}

func (l Limit) String() string {
	switch l {
	case LimitVPNConnectionsPerGateway:
		return "VPN connections per VPN gateway"
	case LimitStaticRoutesPerConnection:
		return "static routes per VPN connection"
	case LimitCustomerGateways:
		return "customer gateways"
	case LimitVPNGateways:
		return "VPN gateways"
	}
	return fmt.Sprintf("Limit(%d)", int(l))
}

// Store is an open state store. It is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	path   string
	limits [numLimits]atomic.Int64
	rev    atomic.Uint64

	mu      sync.Mutex
	changed chan struct{}
}

// Open opens (creating if needed) dir/state.db. dir is created with mode
// 0700 and the file with 0600. If another process holds the store, Open
// fails after about a second with an error that wraps ErrLocked.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("state store: no state directory given")
	}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      lockTimeout,
		NoSync:       false, // every commit is fsynced before Update returns
		NoGrowSync:   false,
		FreelistType: bolt.FreelistArrayType,
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, &Error{Kind: ErrLocked, Msg: fmt.Sprintf("state store locked by another vpgw: %s (waited %s for its lock)", path, lockTimeout)}
		}
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			db.Close()
			return nil, fmt.Errorf("state store %s: %w", path, err)
		}
	}
	s := &Store{db: db, path: path, changed: make(chan struct{})}
	for l, n := range DefaultLimits {
		s.limits[l].Store(int64(n))
	}
	var rev uint64
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBkts {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		m := tx.Bucket(bMeta)
		if v := m.Get(kSchema); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("corrupt schema version")
			}
			if n := binary.BigEndian.Uint64(v); n > SchemaVersion {
				return fmt.Errorf("written with schema version %d; this vpgw knows up to %d: upgrade vpgw", n, SchemaVersion)
			}
		} else if err := m.Put(kSchema, u64(SchemaVersion)); err != nil {
			return err
		}
		rev = readRevision(tx)
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	s.rev.Store(rev)
	return s, nil
}

func prepareDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("state store: %w", err)
		}
		// MkdirAll applies the umask; make the mode exact.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("state store: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("state store: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("state store: %s is not a directory", dir)
	}
	return nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Close closes the store and releases its lock.
func (s *Store) Close() error { return s.db.Close() }

// Update runs fn in one read-write transaction. If fn returns an error
// nothing it did is kept; otherwise its changes are committed and fsynced
// before Update returns, and if it changed anything the revision goes up
// by one. The Tx must not be used after fn returns.
func (s *Store) Update(fn func(tx *Tx) error) error {
	var newRev uint64
	err := s.db.Update(func(btx *bolt.Tx) error {
		t := &Tx{s: s, tx: btx}
		if err := fn(t); err != nil {
			return err
		}
		if t.dirty {
			newRev = readRevision(btx) + 1
			return btx.Bucket(bMeta).Put(kRevision, u64(newRev))
		}
		return nil
	})
	if err == nil && newRev != 0 {
		s.bump(newRev)
	}
	return err
}

// View runs fn in a read-only transaction: a consistent snapshot. Calling
// a mutating Tx method in it returns an error.
func (s *Store) View(fn func(tx *Tx) error) error {
	return s.db.View(func(btx *bolt.Tx) error {
		return fn(&Tx{s: s, tx: btx})
	})
}

// Revision is the number of committed Updates that changed something,
// over the store's whole life (it is kept in the file). The daemon compares
// it with the revision it last applied.
func (s *Store) Revision() uint64 { return s.rev.Load() }

// Changed returns a channel that is closed at the next change of
// Revision. Take it before reading the state, so no change is missed.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Store) bump(rev uint64) {
	for {
		old := s.rev.Load()
		if rev <= old || s.rev.CompareAndSwap(old, rev) {
			break
		}
	}
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// SetLimit changes a quota for this Store (it is not persisted: the daemon
// sets it from its configuration at start). Lowering a quota below the
// current count refuses new objects but keeps existing ones.
func (s *Store) SetLimit(l Limit, n int) error {
	if l < 0 || l >= numLimits {
		return fmt.Errorf("unknown limit %d", int(l))
	}
	if n < 0 {
		return fmt.Errorf("limit %s: %d is negative", l, n)
	}
	s.limits[l].Store(int64(n))
	return nil
}

// Limit returns the current value of a quota.
func (s *Store) Limit(l Limit) int {
	if l < 0 || l >= numLimits {
		return 0
	}
	return int(s.limits[l].Load())
}

func readRevision(tx *bolt.Tx) uint64 {
	if v := tx.Bucket(bMeta).Get(kRevision); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

// Check verifies the store's invariants: every index entry matches the
// objects, and every connection's customer gateway and VPN gateway exist.
// It is for tests and for "vpgw" diagnostics; a nil error means consistent.
func (s *Store) Check() error {
	return s.View(func(tx *Tx) error { return tx.check() })
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("store: " + err.Error()) // only plain data types are stored
	}
	return b
}
