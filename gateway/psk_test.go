package gateway

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigPSKPersistRoundTrip(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state") // created by EnsurePSKs
	cfg := cfgTestParse(t, cfgTestBase)
	given := cfg.VPNConnections[0].Tunnels[0].PSK
	if err := EnsurePSKs(cfg, state); err != nil {
		t.Fatal(err)
	}
	if got := cfg.VPNConnections[0].Tunnels[0].PSK; got != given {
		t.Errorf("configured PSK replaced")
	}
	if _, err := os.Stat(PSKPath(state, "vpn-1", 0)); !os.IsNotExist(err) {
		t.Errorf("configured PSK written to disk (stat err %v)", err)
	}
	gen := cfg.VPNConnections[0].Tunnels[1].PSK
	if len(gen) != 32 || !pskValid(gen) {
		t.Fatalf("generated PSK is not valid (len %d)", len(gen))
	}
	if errs := cfg.Validate(); errs != nil {
		t.Errorf("config with generated PSK invalid: %v", FieldErrors(errs))
	}

	path := PSKPath(state, "vpn-1", 1)
	if want := filepath.Join(state, "psk", "vpn-1-tunnel2"); path != want {
		t.Errorf("PSKPath = %s, want %s", path, want)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("psk file mode %v, want 0600", st.Mode().Perm())
	}
	dst, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if dst.Mode().Perm() != 0o700 {
		t.Errorf("psk dir mode %v, want 0700", dst.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("psk dir holds %d entries, want 1 (temp file left?)", len(ents))
	}

	// Next start: same PSK, read back, not regenerated.
	again := cfgTestParse(t, cfgTestBase)
	if err := EnsurePSKs(again, state); err != nil {
		t.Fatal(err)
	}
	if again.VPNConnections[0].Tunnels[1].PSK != gen {
		t.Error("persisted PSK not reused on the next start")
	}
}

func TestConfigPSKDistinctPerTunnel(t *testing.T) {
	cfg := cfgTestParse(t, cfgTestBase)
	cfg.VPNConnections[0].Tunnels[0].PSK = ""
	if err := EnsurePSKs(cfg, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	a, b := cfg.VPNConnections[0].Tunnels[0].PSK, cfg.VPNConnections[0].Tunnels[1].PSK
	if a == "" || a == b {
		t.Error("tunnels did not get distinct PSKs")
	}
}

func TestConfigPSKBadPersistedFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{"world readable", "Good.psk_value1\n", 0o644, "want 0600"},
		{"invalid content", "0bad-psk\n", 0o600, "does not hold a valid PSK"},
		{"empty", "", 0o600, "does not hold a valid PSK"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			path := PSKPath(state, "vpn-1", 1)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil { // umask-proof
				t.Fatal(err)
			}
			cfg := cfgTestParse(t, cfgTestBase)
			err := EnsurePSKs(cfg, state)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if tc.content != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.content)) {
				t.Errorf("error echoes the file content: %v", err)
			}
			if cfg.VPNConnections[0].Tunnels[1].PSK != "" {
				t.Error("PSK set despite the error")
			}
		})
	}
}

func TestConfigPSKUnsafeConnectionName(t *testing.T) {
	cfg := cfgTestParse(t, cfgTestBase)
	cfg.VPNConnections[0].Name = "../../etc"
	if err := EnsurePSKs(cfg, t.TempDir()); err == nil {
		t.Fatal("path-escaping connection name accepted")
	}
}

func TestConfigPSKGenerate(t *testing.T) {
	// All-zero randomness maps to 'A'; a reader of '4' bytes ('4'&63 = 52 →
	// '0') must never produce a leading zero.
	z, err := pskGenerate(bytes.NewReader(make([]byte, 64)))
	if err != nil || z != strings.Repeat("A", 32) {
		t.Errorf("pskGenerate(zeros) = %q, %v", z, err)
	}
	zeros := append(bytes.Repeat([]byte{52}, 40), bytes.Repeat([]byte{1}, 64)...)
	s, err := pskGenerate(bytes.NewReader(zeros))
	if err != nil || s[0] == '0' || len(s) != 32 || !pskValid(s) {
		t.Errorf("pskGenerate = %q, %v", s, err)
	}
	if _, err := pskGenerate(bytes.NewReader(nil)); err == nil {
		t.Error("short randomness not reported")
	}
	seen := map[byte]bool{}
	for range 50 {
		s, err := pskGenerate(rand.Reader)
		if err != nil || !pskValid(s) {
			t.Fatalf("invalid generated PSK (err %v)", err)
		}
		for i := range len(s) {
			seen[s[i]] = true
		}
	}
	if len(seen) < 60 {
		t.Errorf("only %d of 64 symbols seen in 1600 characters", len(seen))
	}
}
