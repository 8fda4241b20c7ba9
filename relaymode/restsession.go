package relaymode

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/agora-p2p/agora/protocol"
)

// restSession is a client of the REST door. Messages for it wait in a bounded buffer until it
// polls; a copy stays in the replay buffer for the retention window.
type restSession struct {
	key          string
	id           string
	jti          string
	expiresAt    time.Time
	registeredAt time.Time
	ttl          time.Duration
	maxBuffered  int
	retention    time.Duration

	mu      sync.Mutex
	signer  *protocol.KeyPair // set only for the earlier relay's private-key registration
	buffer  []bufferedMessage
	replay  []bufferedMessage
	dropped uint64 // messages pushed out of a full buffer
}

// bufferedMessage is one message as GET /v1/messages returns it: the earlier relay's fields,
// plus the whole envelope so that a client can verify the signature itself.
type bufferedMessage struct {
	ID         string             `json:"id"`
	From       string             `json:"from"`
	Type       string             `json:"type"`
	Payload    json.RawMessage    `json:"payload"`
	Timestamp  float64            `json:"timestamp"`
	InReplyTo  string             `json:"inReplyTo,omitempty"`
	Envelope   *protocol.Envelope `json:"envelope"`
	receivedAt time.Time
}

func (s *restSession) ID() string   { return s.id }
func (s *restSession) Key() string  { return s.key }
func (s *restSession) Kind() string { return "rest" }

func newBufferedMessage(env *protocol.Envelope, received time.Time) bufferedMessage {
	return bufferedMessage{ID: env.ID, From: env.From, Type: env.Type, Payload: env.Payload,
		Timestamp: env.Timestamp, InReplyTo: env.InReplyTo, Envelope: env, receivedAt: received}
}

func (s *restSession) deliver(env *protocol.Envelope) bool {
	m := newBufferedMessage(env, time.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buffer = append(s.buffer, m)
	if len(s.buffer) > s.maxBuffered {
		s.buffer = s.buffer[len(s.buffer)-s.maxBuffered:]
		s.dropped++
	}
	s.replay = append(s.replay, m)
	if len(s.replay) > 10*s.maxBuffered {
		s.replay = s.replay[len(s.replay)-10*s.maxBuffered:]
	}
	return true
}

func (s *restSession) drain() { s.close("relay shutting down") }

func (s *restSession) close(string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signer = nil
	s.buffer = nil
	s.replay = nil
}

// messages returns buffered messages newer than since (all when since is nil), at most limit,
// and whether more remain. Without since the returned messages leave the buffer, as in the
// earlier relay, except that the earlier relay also drops those beyond limit.
func (s *restSession) messages(since *float64, limit int, now time.Time) ([]bufferedMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buffer = dropOlder(s.buffer, now.Add(-s.ttl))
	var out []bufferedMessage
	for _, m := range s.buffer {
		if since == nil || m.Timestamp > *since {
			out = append(out, m)
		}
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	if since == nil {
		s.buffer = append([]bufferedMessage(nil), s.buffer[len(out):]...)
	}
	return out, more
}

// replaySince returns messages received at or after t, at most limit.
func (s *restSession) replaySince(t time.Time, limit int, now time.Time) ([]bufferedMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replay = dropOlder(s.replay, now.Add(-s.retention))
	var out []bufferedMessage
	for _, m := range s.replay {
		if !m.receivedAt.Before(t) {
			out = append(out, m)
		}
	}
	if len(out) > limit {
		return out[:limit], true
	}
	return out, false
}

func dropOlder(msgs []bufferedMessage, cutoff time.Time) []bufferedMessage {
	i := 0
	for i < len(msgs) && msgs[i].receivedAt.Before(cutoff) {
		i++
	}
	return msgs[i:]
}
