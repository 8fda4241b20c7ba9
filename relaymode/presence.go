package relaymode

import (
	"runtime"
	"sync"
)

// presenceEvent is one peer_online or peer_offline event.
type presenceEvent struct {
	key    string
	online bool
}

// presenceLog is the relay's one sequence of presence events, which every WebSocket session
// reads at its own pace through a cursor. A registration storm of N keys thus costs O(N)
// memory instead of N pending updates in each of N sessions. The log keeps the newest
// events only; a session whose cursor falls behind them is closed as a slow consumer.
type presenceLog struct {
	mu          sync.Mutex
	base        uint64 // sequence number of events[0]
	events      []presenceEvent
	max         int
	subscribers map[*wsSession]struct{}
	wake        chan struct{} // signals the notifier that events were added
}

func newPresenceLog(maxPeers int) *presenceLog {
	return &presenceLog{
		max:         max(4*maxPeers, 4096),
		subscribers: make(map[*wsSession]struct{}),
		wake:        make(chan struct{}, 1),
	}
}

// publish appends an event. The relay calls it with r.mu held, so that the order of events
// is the order of the registrations and departures that caused them.
func (l *presenceLog) publish(key string, online bool) {
	l.mu.Lock()
	if len(l.events) >= l.max {
		// Drop the older half at once, so that appending stays amortized O(1).
		drop := len(l.events) / 2
		l.events = append([]presenceEvent(nil), l.events[drop:]...)
		l.base += uint64(drop)
	}
	l.events = append(l.events, presenceEvent{key: key, online: online})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// head returns the sequence number of the next event.
func (l *presenceLog) head() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.base + uint64(len(l.events))
}

// read returns up to n events from cursor on and the cursor after them. ok is false when
// events from cursor on have been dropped.
func (l *presenceLog) read(cursor uint64, n int) (events []presenceEvent, next uint64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if cursor < l.base {
		return nil, cursor, false
	}
	start := int(cursor - l.base)
	end := min(start+n, len(l.events))
	if start >= end {
		return nil, cursor, true
	}
	return append([]presenceEvent(nil), l.events[start:end]...), cursor + uint64(end-start), true
}

func (l *presenceLog) subscribe(s *wsSession) {
	l.mu.Lock()
	l.subscribers[s] = struct{}{}
	l.mu.Unlock()
}

func (l *presenceLog) unsubscribe(s *wsSession) {
	l.mu.Lock()
	delete(l.subscribers, s)
	l.mu.Unlock()
}

// notify wakes the sessions that have events to read, once per batch of published events,
// until done is closed.
func (l *presenceLog) notify(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-l.wake:
		}
		l.mu.Lock()
		head := l.base + uint64(len(l.events))
		sessions := make([]*wsSession, 0, len(l.subscribers))
		for s := range l.subscribers {
			sessions = append(sessions, s)
		}
		l.mu.Unlock()
		for _, s := range sessions {
			s.wakePresence(head)
		}
	}
}

// presenceGate limits how many sessions write presence events at once. In a registration
// storm of N keys every session has up to N events to write. If every session's flush
// goroutine wrote at once, the scheduler would run thousands of them between two turns of a
// session that has messages to deliver. Sessions take turns instead: a token holder writes
// one batch and hands its token to the session that has waited longest.
type presenceGate struct {
	mu      sync.Mutex
	free    int
	waiting []*wsSession
}

func newPresenceGate() *presenceGate {
	return &presenceGate{free: 2 * runtime.GOMAXPROCS(0)}
}

// enter takes a token for s, or queues s and returns false when none is free or others wait
// already. It is called with s.outMu held.
func (g *presenceGate) enter(s *wsSession) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.free > 0 && len(g.waiting) == 0 {
		g.free--
		return true
	}
	s.presWaiting = true
	g.waiting = append(g.waiting, s)
	return false
}

// leave hands a token to the session that has waited longest, or frees it.
func (g *presenceGate) leave() {
	g.mu.Lock()
	var next *wsSession
	if len(g.waiting) > 0 {
		next = g.waiting[0]
		g.waiting[0] = nil
		g.waiting = g.waiting[1:]
		if len(g.waiting) == 0 {
			g.waiting = nil
		}
	} else {
		g.free++
	}
	g.mu.Unlock()
	if next != nil {
		next.resumePresence()
	}
}
