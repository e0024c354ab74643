package gateway

import (
	"sync"
	"time"

	"github.com/vpgw/vpgw/esp"
)

// inboundWatch answers "when did this tunnel last receive ESP?" for dead
// peer detection without touching the packet path: it notices the
// datapath's inbound counter moving each time it is asked.
type inboundWatch struct {
	dp *esp.Tunnel

	mu   sync.Mutex
	seen uint64
	at   time.Time
}

func (w *inboundWatch) LastInbound() time.Time {
	n := w.dp.PacketsIn()
	w.mu.Lock()
	defer w.mu.Unlock()
	if n != w.seen {
		w.seen, w.at = n, time.Now()
	}
	return w.at
}
