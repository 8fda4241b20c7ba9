package protocol

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter is a token bucket per key (sender, peer or IP address) with a bounded number of
// keys: when a new key arrives and the table is full, the key idle for longest is dropped. A
// dropped key starts again with a full bucket, so the bound trades exactness for memory.
// It is safe for concurrent use.
type RateLimiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	maxKeys int
	keys    map[string]*list.Element
	idle    *list.List // front: most recently used
	evicted uint64
}

type limiterEntry struct {
	key     string
	limiter *rate.Limiter
}

// NewRateLimiter allows perMinute events per key on average, with bursts of up to burst events
// (at least 1), tracking at most maxKeys keys. perMinute <= 0 disables the limit.
func NewRateLimiter(perMinute float64, burst, maxKeys int) *RateLimiter {
	if burst < 1 {
		burst = 1
	}
	if maxKeys < 1 {
		maxKeys = 1
	}
	l := &RateLimiter{burst: burst, maxKeys: maxKeys, keys: make(map[string]*list.Element), idle: list.New()}
	if perMinute > 0 {
		l.limit = rate.Limit(perMinute / 60)
	} else {
		l.limit = rate.Inf
	}
	return l
}

// Allow takes one token from key's bucket and reports whether there was one.
func (l *RateLimiter) Allow(key string, now time.Time) bool {
	ok, _ := l.Reserve(key, now)
	return ok
}

// Reserve is Allow that also returns the tokens left and, when refused, how long until the next
// token arrives. Callers use it for RateLimit response headers.
func (l *RateLimiter) Reserve(key string, now time.Time) (bool, Remaining) {
	if l.limit == rate.Inf {
		return true, Remaining{Tokens: l.burst}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.lookup(key)
	ok := lim.AllowN(now, 1)
	tokens := lim.TokensAt(now)
	rem := Remaining{Tokens: int(tokens)}
	if tokens < 1 {
		rem.Reset = time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second))
	}
	rem.Full = time.Duration((float64(l.burst) - tokens) / float64(l.limit) * float64(time.Second))
	return ok, rem
}

// Remaining is the state of one key's bucket after a Reserve.
type Remaining struct {
	Tokens int           // whole tokens left
	Reset  time.Duration // time until the next token, when none is left
	Full   time.Duration // time until the bucket is full again
}

func (l *RateLimiter) lookup(key string) *rate.Limiter {
	if el, ok := l.keys[key]; ok {
		l.idle.MoveToFront(el)
		return el.Value.(*limiterEntry).limiter
	}
	if len(l.keys) >= l.maxKeys {
		oldest := l.idle.Back()
		l.idle.Remove(oldest)
		delete(l.keys, oldest.Value.(*limiterEntry).key)
		l.evicted++
	}
	entry := &limiterEntry{key: key, limiter: rate.NewLimiter(l.limit, l.burst)}
	l.keys[key] = l.idle.PushFront(entry)
	return entry.limiter
}

// Len returns the number of keys tracked.
func (l *RateLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// Evicted returns how many keys were dropped to respect the key bound.
func (l *RateLimiter) Evicted() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.evicted
}
