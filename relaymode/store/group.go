package store

import (
	"sync"

	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds the Puts committed in one transaction.
const maxGroup = 1_000

// groupCommitter commits concurrent Puts together: the Puts that arrive while one commit is
// syncing go into the next transaction, and each caller waits for the sync of its own.
//
// It replaces bbolt's DB.Batch, whose fixed MaxBatchDelay timer made the rate depend on the
// delay chosen. On the 2-core test VM with 64 writers, a 250µs delay gave about 2,000 Puts per
// second and a 1ms delay about 20,000, because each batch waits for the timer as well as for
// the previous commit. Here a group starts as soon as the previous commit ends, so no timer is
// needed and a lone writer does not wait.
type groupCommitter struct {
	db      *bolt.DB
	mu      sync.Mutex
	queue   []*putRequest
	running bool // a commit goroutine is draining queue
}

type putRequest struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// do runs fn in a transaction shared with other concurrent calls and returns after it is
// committed. fn may run more than once, so it must reset any result it records.
func (g *groupCommitter) do(fn func(*bolt.Tx) error) error {
	req := &putRequest{fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, req)
	if !g.running {
		g.running = true
		go g.drain()
	}
	g.mu.Unlock()
	return <-req.done
}

// drain commits queued requests group by group until the queue is empty, then exits.
func (g *groupCommitter) drain() {
	for {
		g.mu.Lock()
		n := min(len(g.queue), maxGroup)
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		group := g.queue[:n:n]
		g.queue = g.queue[n:]
		g.mu.Unlock()
		g.commit(group)
	}
}

// commit runs group in one transaction. When a request fails, the transaction is rolled back
// and that request runs alone, so that it cannot fail the others.
func (g *groupCommitter) commit(group []*putRequest) {
	for len(group) > 0 {
		failed := -1
		err := g.db.Update(func(tx *bolt.Tx) error {
			for i, req := range group {
				if err := req.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, req := range group {
				req.done <- err
			}
			return
		}
		req := group[failed]
		req.done <- g.db.Update(req.fn)
		group = append(group[:failed:failed], group[failed+1:]...)
	}
}
