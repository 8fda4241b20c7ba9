package relaybench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/agora-p2p/agora/protocol"
)

// IdleResult holds the relay's memory with idle registered connections.
type IdleResult struct {
	Conns     int   `json:"conns"`
	RSSBefore int64 `json:"rssBeforeBytes"`
	RSSAfter  int64 `json:"rssAfterBytes"`
	PerConn   int64 `json:"bytesPerConn"` // (RSSAfter - RSSBefore) / Conns
}

// idleSettle is how long Idle waits after the last registration before it reads the relay's
// memory, so that presence frames have been sent and their buffers freed.
const idleSettle = 2 * time.Second

// Idle registers n sessions that send nothing and reads the resident memory of the relay
// process before and after. It needs t.PID. Run it on a fresh relay: memory that an earlier
// run left in the relay's heap would be reused and hide part of the cost.
func Idle(ctx context.Context, t Target, n int) (*IdleResult, error) {
	if t.PID == 0 {
		return nil, errors.New("idle memory needs the relay's process ID")
	}
	if n <= 0 {
		return nil, fmt.Errorf("invalid idle connection count %d: it must be positive", n)
	}
	before, err := processRSS(t.PID)
	if err != nil {
		return nil, err
	}
	keys, err := generateKeys(n)
	if err != nil {
		return nil, err
	}
	_, stop, err := registerDraining(ctx, t.URL, keys, 64)
	if err != nil {
		return nil, err
	}
	defer stop()
	select {
	case <-time.After(idleSettle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	after, err := processRSS(t.PID)
	if err != nil {
		return nil, err
	}
	return &IdleResult{Conns: n, RSSBefore: before, RSSAfter: after, PerConn: (after - before) / int64(n)}, nil
}

func generateKeys(n int) ([]*protocol.KeyPair, error) {
	keys := make([]*protocol.KeyPair, n)
	for i := range keys {
		k, err := protocol.GenerateKeyPair()
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
}

// registerMany registers one session per key, with at most parallel handshakes at a time. On
// error it closes the sessions it opened.
func registerMany(ctx context.Context, url string, keys []*protocol.KeyPair, parallel int) ([]*session, error) {
	return registerEach(ctx, url, keys, parallel, nil)
}

// registerDraining registers like registerMany and reads each session's frames in the
// background from the moment it is registered, as real clients do. The returned function
// closes the sessions and waits for the readers.
func registerDraining(ctx context.Context, url string, keys []*protocol.KeyPair, parallel int) ([]*session, func(), error) {
	var wg sync.WaitGroup
	sessions, err := registerEach(ctx, url, keys, parallel, func(s *session) {
		wg.Add(1)
		go func() { defer wg.Done(); s.drain() }()
	})
	if err != nil {
		wg.Wait()
		return nil, nil, err
	}
	return sessions, func() {
		for _, s := range sessions {
			s.close()
		}
		wg.Wait()
	}, nil
}

func registerEach(ctx context.Context, url string, keys []*protocol.KeyPair, parallel int, registered func(*session)) ([]*session, error) {
	sessions := make([]*session, len(keys))
	errs := make([]error, len(keys))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, key := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			sessions[i], errs[i] = register(ctx, url, key)
			if errs[i] == nil && registered != nil {
				registered(sessions[i])
			}
		}()
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		for _, s := range sessions {
			if s != nil {
				s.close()
			}
		}
		return nil, fmt.Errorf("register %d sessions: %w", len(keys), err)
	}
	return sessions, nil
}

// firstError returns nil when every entry is nil, else the count of errors and the first.
func firstError(errs []error) error {
	count := 0
	var first error
	for _, err := range errs {
		if err != nil {
			if first == nil {
				first = err
			}
			count++
		}
	}
	if first == nil {
		return nil
	}
	return fmt.Errorf("%d failed, the first with: %w", count, first)
}
