package relaymode

import (
	"sync"
	"time"
)

// logSampler limits repeated log lines: per key, one line per interval, reporting how many
// were left out since the last one. A flood of rejections then costs a few lines, while the
// metrics count every rejection.
type logSampler struct {
	interval time.Duration

	mu      sync.Mutex
	last    map[string]time.Time
	skipped map[string]int
}

func newLogSampler(interval time.Duration) *logSampler {
	return &logSampler{interval: interval, last: make(map[string]time.Time), skipped: make(map[string]int)}
}

// allow reports whether a line for key may be logged now, and how many were skipped before it.
// Keys are rejection codes and door names, a small fixed set, so the maps stay small.
func (s *logSampler) allow(key string, now time.Time) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.last[key]; ok && now.Sub(last) < s.interval {
		s.skipped[key]++
		return false, 0
	}
	skipped := s.skipped[key]
	s.last[key] = now
	s.skipped[key] = 0
	return true, skipped
}
