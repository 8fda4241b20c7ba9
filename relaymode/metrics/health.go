package metrics

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agora-p2p/agora/relaymode/store"
)

type namedCheck struct {
	name  string
	check func() error
}

// AddReadinessCheck adds a check that /healthz runs on each request, such as Store.Check.
// The relay is ready when every check returns nil.
func (m *Metrics) AddReadinessCheck(name string, check func() error) {
	m.checksMu.Lock()
	defer m.checksMu.Unlock()
	m.checks = append(m.checks, namedCheck{name, check})
}

// Health is the JSON body of /healthz.
type Health struct {
	Live   bool              `json:"live"`
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"` // "ok" or the error text, by check name
}

// HealthHandler returns the /healthz handler. It responds 200 when every readiness check
// passes, else 503, with a Health body in both cases. A response at all shows liveness.
func (m *Metrics) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := m.health()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		status := http.StatusOK
		if !h.Ready {
			status = http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(h)
	})
}

func (m *Metrics) health() Health {
	m.checksMu.Lock()
	checks := append([]namedCheck(nil), m.checks...)
	m.checksMu.Unlock()
	h := Health{Live: true, Ready: true, Checks: make(map[string]string, len(checks))}
	for _, c := range checks {
		if err := c.check(); err != nil {
			h.Ready = false
			h.Checks[c.name] = err.Error()
			continue
		}
		h.Checks[c.name] = "ok"
	}
	return h
}

// StatsSource is a source of store counters, such as *store.Store.
type StatsSource interface {
	Stats() store.Stats
}

// WatchStore exports the depth and size of s on each scrape, in total and per storage peer.
func (m *Metrics) WatchStore(s StatsSource) {
	m.reg.MustRegister(&storeCollector{src: s})
}

var (
	storeMessagesDesc = prometheus.NewDesc(Namespace+"_store_messages",
		"Envelopes kept for offline storage peers.", nil, nil)
	storeBytesDesc = prometheus.NewDesc(Namespace+"_store_bytes",
		"Wire size in bytes of the envelopes kept for offline storage peers.", nil, nil)
	peerMessagesDesc = prometheus.NewDesc(Namespace+"_store_peer_messages",
		"Envelopes kept for one storage peer, by its public key.", []string{"peer"}, nil)
	peerBytesDesc = prometheus.NewDesc(Namespace+"_store_peer_bytes",
		"Wire size in bytes of the envelopes kept for one storage peer.", []string{"peer"}, nil)
	storeReadDesc = prometheus.NewDesc(Namespace+"_store_stats_seconds",
		"Time taken to read the store's counters for this scrape.", nil, nil)
)

// storeCollector reads Store.Stats at scrape time. The number of storage peers is fixed by
// configuration, so the per-peer series are bounded.
type storeCollector struct {
	src StatsSource
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- storeMessagesDesc
	ch <- storeBytesDesc
	ch <- peerMessagesDesc
	ch <- peerBytesDesc
	ch <- storeReadDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	start := time.Now()
	st := c.src.Stats()
	ch <- prometheus.MustNewConstMetric(storeReadDesc, prometheus.GaugeValue, time.Since(start).Seconds())
	ch <- prometheus.MustNewConstMetric(storeMessagesDesc, prometheus.GaugeValue, float64(st.Messages))
	ch <- prometheus.MustNewConstMetric(storeBytesDesc, prometheus.GaugeValue, float64(st.Bytes))
	for peer, ps := range st.Peers {
		ch <- prometheus.MustNewConstMetric(peerMessagesDesc, prometheus.GaugeValue, float64(ps.Messages), peer)
		ch <- prometheus.MustNewConstMetric(peerBytesDesc, prometheus.GaugeValue, float64(ps.Bytes), peer)
	}
}
