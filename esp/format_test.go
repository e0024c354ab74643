package esp

import (
	"bytes"
	"go/format"
	"os"
	"path/filepath"
	"testing"
)

// TestGofmt keeps the package's Go files gofmt-clean.
func TestGofmt(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	more, _ := filepath.Glob("esptest/*.go")
	for _, f := range append(files, more...) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := format.Source(src)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !bytes.Equal(got, src) {
			t.Errorf("%s is not gofmt-clean", f)
		}
	}
}
