package pcaptest

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// SyncFuzzCorpus keeps committed fuzz seeds current. seeds maps a fuzz
// target to seed names and their []byte input; each lands in
// dir/<target>/seed-<name> in the "go test fuzz v1" format. With update it
// (re)writes those files; without, it fails t for any that is missing or
// differs. Other files in dir (crashers kept from fuzzing) are left alone.
func SyncFuzzCorpus(t testing.TB, dir string, seeds map[string]map[string][]byte, update bool) {
	t.Helper()
	for target, files := range seeds {
		tdir := filepath.Join(dir, target)
		if update {
			if err := os.MkdirAll(tdir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, data := range files {
			path := filepath.Join(tdir, "seed-"+name)
			content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
			if update {
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if got, err := os.ReadFile(path); err != nil || string(got) != content {
				t.Errorf("%s is missing or stale (err %v); run with -update-corpus", path, err)
			}
		}
	}
}
