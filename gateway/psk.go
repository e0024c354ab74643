package gateway

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// A generated PSK has 32 characters of AWS's PSK alphabet. The alphabet
// has exactly 64 symbols, so one random byte's low 6 bits pick one
// without bias: 192 bits of entropy.
const (
	pskGeneratedLen = 32
	pskAlphabet     = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"
	pskDirName      = "psk"
)

// PSKPath is the file that holds the generated PSK of tunnel index ti
// (0-based) of a connection: STATE_DIR/psk/<connection>-tunnel<ti+1>.
// Deleting it makes the next start generate a new PSK (AWS's "replace
// credentials"); the customer gateway must then be reconfigured.
func PSKPath(stateDir, connection string, ti int) string {
	return filepath.Join(stateDir, pskDirName, connection+"-tunnel"+strconv.Itoa(ti+1))
}

// EnsurePSKs fills in every tunnel's missing PSK: the one persisted under
// stateDir by an earlier start if there is one, else a new random one that
// is persisted (dir 0700, file 0600) before it is used. PSKs given in the
// configuration are left alone and are not written to disk. Errors never
// contain a PSK.
func EnsurePSKs(cfg *Config, stateDir string) error {
	return pskEnsure(cfg, stateDir, rand.Reader)
}

func pskEnsure(cfg *Config, stateDir string, rnd io.Reader) error {
	dirReady := false
	for ci := range cfg.VPNConnections {
		cn := &cfg.VPNConnections[ci]
		for ti := range cn.Tunnels {
			t := &cn.Tunnels[ti]
			if t.PSK != "" {
				continue
			}
			// Names are validated, but this builds a path: refuse anything
			// that could leave the psk directory even without Validate.
			if cn.Name == "" || !cfgNameOK(cn.Name) {
				return fmt.Errorf("psk for vpn_connections[%d].tunnels[%d]: connection name %q is not usable as a file name", ci, ti, cn.Name)
			}
			path := PSKPath(stateDir, cn.Name, ti)
			psk, err := pskRead(path)
			if errors.Is(err, fs.ErrNotExist) {
				if !dirReady {
					if err := pskPrepareDir(stateDir); err != nil {
						return err
					}
					dirReady = true
				}
				psk, err = pskGenerate(rnd)
				if err == nil {
					err = pskWrite(path, psk)
				}
			}
			if err != nil {
				return fmt.Errorf("psk for %s tunnel %d: %w", cn.Name, ti+1, err)
			}
			t.PSK = psk
		}
	}
	return nil
}

func pskPrepareDir(stateDir string) error {
	dir := filepath.Join(stateDir, pskDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("psk directory: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("psk directory: %w", err)
	}
	return nil
}

// pskRead returns a persisted PSK. A file others can read, or one that
// does not hold a valid PSK, is an error rather than a reason to generate
// a new key silently: the customer gateway is configured with the old one.
func pskRead(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%s has mode %#o; want 0600", path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", err
	}
	psk := string(bytes.TrimSpace(b))
	if !pskValid(psk) {
		return "", fmt.Errorf("%s does not hold a valid PSK (8–64 of A-Z a-z 0-9 . _, not starting with 0)", path)
	}
	return psk, nil
}

// pskWrite persists atomically: a crash leaves either no file or the
// whole key, never a truncated one.
func pskWrite(path, psk string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".psk-*") // created 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.WriteString(psk + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// pskGenerate draws a PSK that satisfies AWS's rule (first char not '0').
func pskGenerate(rnd io.Reader) (string, error) {
	out := make([]byte, 0, pskGeneratedLen)
	var buf [pskGeneratedLen]byte
	for len(out) < pskGeneratedLen {
		if _, err := io.ReadFull(rnd, buf[:]); err != nil {
			return "", fmt.Errorf("generate: %w", err)
		}
		for _, b := range buf {
			c := pskAlphabet[b&63]
			if len(out) == 0 && c == '0' {
				continue // redraw; keeps the other symbols uniform
			}
			out = append(out, c)
			if len(out) == pskGeneratedLen {
				break
			}
		}
	}
	return string(out), nil
}

func pskValid(s string) bool {
	return len(s) >= cfgMinPSKLen && len(s) <= cfgMaxPSKLen && s[0] != '0' && cfgPSKCharsOK(s)
}
