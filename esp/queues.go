package esp

// Queues and crypto workers (the wireguard-go pipeline, see send.go and
// receive.go for the stages):
//
//   - Two bounded device-wide queues, encryption and decryption, carry
//     containers (outElems, inElems) of whole batches. They are shared by
//     every Endpoint of the process: one set of per-CPU workers, started by
//     the first NewEndpoint and stopped by the last Close, whatever the
//     number of outside addresses (the gateway opens one per tunnel).
//   - Each tunnel has a bounded sequential send queue and each ESP socket a
//     bounded sequential receive queue. A container goes on its sequential
//     queue first, then on the crypto queue, locked; the worker unlocks it
//     when done and the sequential stage's Lock waits for that. Crypto runs
//     in parallel, yet each tunnel's and each socket's packets keep their
//     order.
//   - Bounded queues bound memory: a full queue blocks its producer (the
//     TUN or socket reader), and the kernel drops in front of it.
//
// Closing: a queue is closed by its only writer (a sequential queue by its
// reader) or, for the crypto queues, when the last Endpoint is closed,
// after all its readers ended.

import (
	"runtime"
	"sync"
)

const (
	// queueCryptoSize is the depth, in batches, of each crypto queue.
	queueCryptoSize = 256
	// A tunnel's send queue and a socket's receive queue hold two batches
	// per worker, so that every worker can be busy with one pipeline while
	// the next batch is read, but at least queueSequentialMin and at most
	// about queueSequentialPackets packets (one container holds a batch of
	// 9 kB buffers: the depth bounds the pipeline's memory).
	queueSequentialMin     = 4
	queueSequentialPackets = 1024
)

func sequentialDepth(batch, workers int) int {
	return max(min(2*workers, queueSequentialPackets/max(batch, 1)), queueSequentialMin)
}

// numWorkers is how many encryption and how many decryption workers run;
// read when the workers start (tests change it while no Endpoint is open).
var numWorkers = runtime.NumCPU()

// cryptoQueues are the device-wide queues one Endpoint writes to.
type cryptoQueues struct {
	encryption chan *outElems
	decryption chan *inElems
	workers    int
}

var workers struct {
	mu   sync.Mutex
	refs int
	q    *cryptoQueues
	wg   sync.WaitGroup
}

// acquireWorkers returns the crypto queues, starting the workers if no
// Endpoint is open. Each call must be matched by releaseWorkers.
func acquireWorkers() *cryptoQueues {
	workers.mu.Lock()
	defer workers.mu.Unlock()
	workers.refs++
	if workers.q == nil {
		n := max(numWorkers, 1)
		q := &cryptoQueues{
			encryption: make(chan *outElems, queueCryptoSize),
			decryption: make(chan *inElems, queueCryptoSize),
			workers:    n,
		}
		workers.wg.Add(2 * n)
		for range n {
			go routineEncryption(q.encryption)
			go routineDecryption(q.decryption)
		}
		workers.q = q
	}
	return workers.q
}

// releaseWorkers stops the workers when the last Endpoint is closed; its
// readers, the only writers of the queues, must have ended.
func releaseWorkers() {
	workers.mu.Lock()
	defer workers.mu.Unlock()
	workers.refs--
	if workers.refs > 0 {
		return
	}
	close(workers.q.encryption)
	close(workers.q.decryption)
	workers.wg.Wait()
	workers.q = nil
}

// routineEncryption seals the batches of any tunnel in place.
func routineEncryption(q <-chan *outElems) {
	defer workers.wg.Done()
	for el := range q {
		sa := el.o.sa
		c := sa.getCrypto()
		for k, p := range el.pkts {
			buf := el.bufs[p.i]
			end := sa.seal(c, buf, p.start, p.ptEnd, p.seq, nil)
			el.msgs[k].Buf = buf[p.start:end]
		}
		sa.putCrypto(c)
		el.Unlock()
	}
}

// routineDecryption authenticates and decrypts the ESP packets of any
// socket's batches in place; the replay window is left to the sequential
// receiver.
func routineDecryption(q <-chan *inElems) {
	defer workers.wg.Done()
	for el := range q {
		var sa *SA
		var c *saCrypto
		for k := range el.pkts {
			p := &el.pkts[k]
			if p.sa != sa {
				if c != nil {
					sa.putCrypto(c)
				}
				sa, c = p.sa, p.sa.getCrypto()
			}
			ct, err := sa.decrypt(c, el.bufs[p.i][p.off:p.off+p.n])
			if err != nil {
				p.err = err
				continue
			}
			p.authed = true
			p.inner, p.err = parseTrailer(ct)
		}
		if c != nil {
			sa.putCrypto(c)
		}
		el.Unlock()
	}
}
