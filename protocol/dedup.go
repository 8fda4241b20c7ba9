package protocol

import (
	"sync"
	"time"
)

// idFilter remembers 32-byte keys for a fixed window, in O(1) time per operation and at most
// maxKeys keys. Keys expire in insertion order because the window is fixed, so a FIFO queue
// beside the map finds the expired ones without scanning. When the table is full, the oldest key
// is forgotten before its window ends and counted in earlyEvictions.
type idFilter struct {
	mu             sync.Mutex
	window         time.Duration
	maxKeys        int
	expiry         map[[32]byte]int64 // unix nanoseconds
	queue          []queuedKey
	head           int
	earlyEvictions uint64
}

type queuedKey struct {
	key    [32]byte
	expiry int64
}

func newIDFilter(window time.Duration, maxKeys int) *idFilter {
	return &idFilter{window: window, maxKeys: maxKeys, expiry: make(map[[32]byte]int64)}
}

// contains reports whether key was added less than a window ago.
func (f *idFilter) contains(key [32]byte, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	exp, ok := f.expiry[key]
	return ok && exp > now.UnixNano()
}

// add records key and reports whether it was new.
func (f *idFilter) add(key [32]byte, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := now.UnixNano()
	f.expire(n)
	if exp, ok := f.expiry[key]; ok && exp > n {
		return false
	}
	if len(f.expiry) >= f.maxKeys {
		f.popOldest()
		f.earlyEvictions++
	}
	exp := n + int64(f.window)
	f.expiry[key] = exp
	f.queue = append(f.queue, queuedKey{key: key, expiry: exp})
	return true
}

// remove deletes key. Its queue entry stays until it expires, and popOldest skips it then.
func (f *idFilter) remove(key [32]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.expiry, key)
}

func (f *idFilter) expire(now int64) {
	for f.head < len(f.queue) && f.queue[f.head].expiry <= now {
		f.popOldest()
	}
}

func (f *idFilter) popOldest() {
	if f.head >= len(f.queue) {
		return
	}
	q := f.queue[f.head]
	// The map entry may belong to a newer insertion of the same key after expiry.
	if f.expiry[q.key] == q.expiry {
		delete(f.expiry, q.key)
	}
	f.head++
	// Reuse the queue's memory once the consumed part dominates it.
	if f.head > 1024 && f.head*2 > len(f.queue) {
		n := copy(f.queue, f.queue[f.head:])
		f.queue = f.queue[:n]
		f.head = 0
	}
}

func (f *idFilter) len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.expiry)
}
