package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/lab"
)

func logOnFailure(t *testing.T, ch *lab.Charon) {
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(ch.LogPath())
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("charon %s log (tail):\n%s", ch.Name, b)
		}
	})
}

func waitLog(t *testing.T, path, needle string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(path); strings.Contains(string(b), needle) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("%s: no %q within %v", path, needle, timeout)
}
