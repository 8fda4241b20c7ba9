package relaymode

import (
	"context"
	"time"

	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/store"
)

// Store keeps envelopes for storage peers while they are offline. Package relaymode/store
// implements it with bbolt.
type Store interface {
	IsStoragePeer(key string) bool
	// Put returns once the envelope is committed to disk.
	Put(ctx context.Context, recipient string, env *protocol.Envelope) error
	// Pending returns up to limit stored envelopes, oldest first.
	Pending(recipient string, limit int) ([]Stored, error)
	// After returns up to limit envelopes with a Seq greater than seq, oldest first.
	After(recipient string, seq uint64, limit int) ([]Stored, error)
	// Since returns up to limit envelopes stored at or after t, oldest first.
	Since(recipient string, t time.Time, limit int) ([]Stored, error)
	// Delete removes envelopes by ID; unknown IDs are ignored.
	Delete(recipient string, ids ...string) error
}

// Stored is one envelope read back from a Store.
type Stored = store.Stored

// Metrics receives counts of what the relay does. Package relaymode/metrics implements it with
// Prometheus.
type Metrics interface {
	SessionOpened(kind string)
	SessionClosed(kind string)
	Relayed()
	Refused(code string)
	AuthFailure(door string)
	SlowConsumer()
	// RateLimited counts REST requests rejected by the per-IP limit.
	RateLimited()
	// ConnectionRejected counts WebSocket connections rejected by a connection limit, by reason
	// (max_connections or max_connections_per_ip).
	ConnectionRejected(reason string)
}

type noMetrics struct{}

func (noMetrics) SessionOpened(string)      {}
func (noMetrics) SessionClosed(string)      {}
func (noMetrics) Relayed()                  {}
func (noMetrics) Refused(string)            {}
func (noMetrics) AuthFailure(string)        {}
func (noMetrics) SlowConsumer()             {}
func (noMetrics) RateLimited()              {}
func (noMetrics) ConnectionRejected(string) {}
