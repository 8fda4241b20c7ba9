package protocol

import (
	"time"
)

// Default freshness window.
const (
	DefaultMaxAge    = 10 * time.Minute
	DefaultMaxFuture = 2 * time.Minute
)

// Freshness is the window of timestamps accepted for an envelope entering the network. The
// earlier implementation has none, so a captured envelope can be replayed as soon as its
// duplicate filter forgets the ID. Apply it only where an envelope first enters; messages
// delivered later from a store are not checked again.
type Freshness struct {
	MaxAge    time.Duration // how far in the past a timestamp may be; 0 means DefaultMaxAge
	MaxFuture time.Duration // how far in the future; 0 means DefaultMaxFuture
	Disabled  bool
}

func (f Freshness) withDefaults() Freshness {
	if f.MaxAge <= 0 {
		f.MaxAge = DefaultMaxAge
	}
	if f.MaxFuture <= 0 {
		f.MaxFuture = DefaultMaxFuture
	}
	return f
}

// Window returns the span of timestamps accepted: MaxAge plus MaxFuture.
func (f Freshness) Window() time.Duration {
	f = f.withDefaults()
	return f.MaxAge + f.MaxFuture
}

// Check returns nil when e's timestamp lies inside the window around now, else an *Error with
// ReasonStale or ReasonFuture.
func (f Freshness) Check(e *Envelope, now time.Time) error {
	if f.Disabled {
		return nil
	}
	f = f.withDefaults()
	nowMs := float64(now.UnixMilli())
	if age := nowMs - e.Timestamp; age > float64(f.MaxAge.Milliseconds()) {
		return newError(ReasonStale, "timestamp is %s old, more than the %s allowed",
			time.Duration(age)*time.Millisecond, f.MaxAge)
	}
	if ahead := e.Timestamp - nowMs; ahead > float64(f.MaxFuture.Milliseconds()) {
		return newError(ReasonFuture, "timestamp is %s ahead, more than the %s allowed",
			time.Duration(ahead)*time.Millisecond, f.MaxFuture)
	}
	return nil
}
