// Package metrics counts what a relay does, for Prometheus, and serves /metrics and /healthz.
package metrics

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name.
const Namespace = "agora_relay"

// maxLabelValues bounds the distinct values of each label. Further values are counted under
// "other", so that a caller passing unexpected strings cannot grow memory without bound.
const maxLabelValues = 64

// Metrics holds the relay's counters on a registry of its own, so that tests and several relays
// in one process do not share them. It is safe for concurrent use.
type Metrics struct {
	reg           *prometheus.Registry
	sessions      *prometheus.GaugeVec
	relayed       prometheus.Counter
	rejected      *prometheus.CounterVec
	rateLimited   prometheus.Counter
	duplicates    prometheus.Counter
	authFailures  *prometheus.CounterVec
	slowConsumers prometheus.Counter
	connRejected  *prometheus.CounterVec

	labels labelSets

	checksMu sync.Mutex
	checks   []namedCheck
}

// New creates a Metrics with its own registry, which also carries the Go runtime and process
// collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "sessions",
			Help: "Client sessions open now, by door (websocket or rest).",
		}, []string{"kind"}),
		relayed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "envelopes_relayed_total",
			Help: "Envelopes delivered to a client or forwarded to the mesh.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "envelopes_rejected_total",
			Help: "Envelopes rejected, by reason code.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "rate_limited_total",
			Help: "Envelopes and requests rejected by a rate limit.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "duplicates_total",
			Help: "Envelopes dropped because their ID was seen before.",
		}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "auth_failures_total",
			Help: "Failed authentications, by door (websocket or rest).",
		}, []string{"door"}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "slow_consumers_total",
			Help: "Sessions closed because they did not read their queue in time.",
		}),
		connRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "connections_rejected_total",
			Help: "WebSocket connections rejected by a connection limit, by reason.",
		}, []string{"reason"}),
		labels: newLabelSets(),
	}
	m.reg.MustRegister(m.sessions, m.relayed, m.rejected, m.rateLimited, m.duplicates,
		m.authFailures, m.slowConsumers, m.connRejected,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry, for registering more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SessionOpened counts a session of kind ("websocket" or "rest") as open.
func (m *Metrics) SessionOpened(kind string) {
	m.sessions.WithLabelValues(m.labels.kind.value(kind)).Inc()
}

// SessionClosed counts a session of kind as closed.
func (m *Metrics) SessionClosed(kind string) {
	m.sessions.WithLabelValues(m.labels.kind.value(kind)).Dec()
}

// Relayed counts one envelope delivered or forwarded.
func (m *Metrics) Relayed() { m.relayed.Inc() }

// Refused counts one envelope rejected with reason, a protocol.Reason code or a relay error
// code. Its name matches the relay's Metrics interface. The reasons "rate_limited" and
// "duplicate" also count in rate_limited_total and duplicates_total.
func (m *Metrics) Refused(reason string) {
	m.rejected.WithLabelValues(m.labels.reason.value(reason)).Inc()
	switch reason {
	case "rate_limited":
		m.rateLimited.Inc()
	case "duplicate":
		m.duplicates.Inc()
	}
}

// ConnectionRejected counts one WebSocket connection rejected by a connection limit.
func (m *Metrics) ConnectionRejected(reason string) {
	m.connRejected.WithLabelValues(m.labels.reason.value(reason)).Inc()
}

// RateLimited counts one request rejected by a rate limit that is not an envelope rejection,
// such as the REST door's per-IP limit.
func (m *Metrics) RateLimited() { m.rateLimited.Inc() }

// AuthFailure counts one failed authentication at door ("websocket" or "rest").
func (m *Metrics) AuthFailure(door string) {
	m.authFailures.WithLabelValues(m.labels.door.value(door)).Inc()
}

// SlowConsumer counts one session cut off because it read too slowly.
func (m *Metrics) SlowConsumer() { m.slowConsumers.Inc() }

// Handler returns the /metrics handler for this registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// labelSets bound the values of each label.
type labelSets struct {
	kind, reason, door *boundedLabel
}

func newLabelSets() labelSets {
	return labelSets{kind: newBoundedLabel(), reason: newBoundedLabel(), door: newBoundedLabel()}
}

// boundedLabel admits up to maxLabelValues distinct values and maps the rest to "other".
type boundedLabel struct {
	mu   sync.Mutex
	seen map[string]struct{}
}

func newBoundedLabel() *boundedLabel {
	return &boundedLabel{seen: make(map[string]struct{})}
}

func (b *boundedLabel) value(v string) string {
	if v == "" {
		return "unknown"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[v]; ok {
		return v
	}
	if len(b.seen) >= maxLabelValues {
		return "other"
	}
	b.seen[v] = struct{}{}
	return v
}
