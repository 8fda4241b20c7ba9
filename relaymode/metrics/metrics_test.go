package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// serve starts a real HTTP server on 127.0.0.1 port 0 with /metrics and /healthz.
func serve(t *testing.T, m *Metrics) (*httptest.Server, *http.Client) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	mux.Handle("/healthz", m.HealthHandler())
	srv := httptest.NewServer(mux)
	client := srv.Client()
	t.Cleanup(func() {
		client.CloseIdleConnections()
		srv.Close()
	})
	return srv, client
}

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestCountersChange(t *testing.T) {
	m := New()
	m.SessionOpened("websocket")
	m.SessionOpened("websocket")
	m.SessionOpened("rest")
	m.SessionClosed("websocket")
	m.Relayed()
	m.Relayed()
	m.Refused("signature_invalid")
	m.Refused("rate_limited")
	m.Refused("duplicate")
	m.Refused("duplicate")
	m.RateLimited()
	m.AuthFailure("rest")
	m.SlowConsumer()
	m.ConnectionRejected("max_connections_per_ip")

	checks := []struct {
		name      string
		got, want float64
	}{
		{"websocket sessions", testutil.ToFloat64(m.sessions.WithLabelValues("websocket")), 1},
		{"rest sessions", testutil.ToFloat64(m.sessions.WithLabelValues("rest")), 1},
		{"relayed", testutil.ToFloat64(m.relayed), 2},
		{"rejected signature_invalid", testutil.ToFloat64(m.rejected.WithLabelValues("signature_invalid")), 1},
		{"rejected duplicate", testutil.ToFloat64(m.rejected.WithLabelValues("duplicate")), 2},
		{"rate limited", testutil.ToFloat64(m.rateLimited), 2},
		{"duplicates", testutil.ToFloat64(m.duplicates), 2},
		{"rest auth failures", testutil.ToFloat64(m.authFailures.WithLabelValues("rest")), 1},
		{"slow consumers", testutil.ToFloat64(m.slowConsumers), 1},
		{"connections refused per ip", testutil.ToFloat64(m.connRejected.WithLabelValues("max_connections_per_ip")), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestScrapeShowsCounters(t *testing.T) {
	m := New()
	srv, client := serve(t, m)
	m.SessionOpened("websocket")
	for range 3 {
		m.Relayed()
	}
	m.Refused("too_large")
	m.AuthFailure("websocket")
	m.SlowConsumer()

	status, body := get(t, client, srv.URL+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics status %d", status)
	}
	for _, line := range []string{
		`agora_relay_sessions{kind="websocket"} 1`,
		`agora_relay_envelopes_relayed_total 3`,
		`agora_relay_envelopes_rejected_total{reason="too_large"} 1`,
		`agora_relay_auth_failures_total{door="websocket"} 1`,
		`agora_relay_slow_consumers_total 1`,
		`agora_relay_rate_limited_total 0`,
		`agora_relay_duplicates_total 0`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("scrape lacks line %q", line)
		}
	}
	if !strings.Contains(body, "go_goroutines ") {
		t.Error("scrape lacks the Go runtime metrics")
	}
}

func TestRegistriesIndependent(t *testing.T) {
	a, b := New(), New()
	a.Relayed()
	if got := testutil.ToFloat64(b.relayed); got != 0 {
		t.Errorf("second Metrics counted %v relayed envelopes of the first", got)
	}
}

func TestLabelValuesBounded(t *testing.T) {
	m := New()
	for i := range 1000 {
		m.Refused(fmt.Sprintf("reason-%d", i))
	}
	if n := testutil.CollectAndCount(m.rejected); n != maxLabelValues+1 {
		t.Errorf("rejected counter has %d series, want %d", n, maxLabelValues+1)
	}
	if got := testutil.ToFloat64(m.rejected.WithLabelValues("other")); got != 1000-maxLabelValues {
		t.Errorf(`rejected{reason="other"} = %v, want %d`, got, 1000-maxLabelValues)
	}
}

func TestHealthzReportsFailedCheck(t *testing.T) {
	m := New()
	srv, client := serve(t, m)
	var failing atomic.Bool
	m.AddReadinessCheck("database", func() error {
		if !failing.Load() {
			return nil
		}
		return errors.New("database file is unreadable")
	})

	status, body := get(t, client, srv.URL+"/healthz")
	if status != http.StatusOK {
		t.Errorf("healthy /healthz status %d, want 200", status)
	}
	var h Health
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("healthy /healthz body %q: %v", body, err)
	}
	if !h.Live || !h.Ready || h.Checks["database"] != "ok" {
		t.Errorf("healthy /healthz body = %+v", h)
	}

	failing.Store(true)
	status, body = get(t, client, srv.URL+"/healthz")
	if status != http.StatusServiceUnavailable {
		t.Errorf("failing /healthz status %d, want 503", status)
	}
	h = Health{}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("failing /healthz body %q: %v", body, err)
	}
	if !h.Live {
		t.Error("failing /healthz reports live false")
	}
	if h.Ready {
		t.Error("failing /healthz reports ready true")
	}
	if h.Checks["database"] != "database file is unreadable" {
		t.Errorf("failing check text = %q", h.Checks["database"])
	}
}

func TestHealthzRejectsPost(t *testing.T) {
	m := New()
	srv, client := serve(t, m)
	resp, err := client.Post(srv.URL+"/healthz", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz status %d, want 405", resp.StatusCode)
	}
}

func TestStoreMetricsAndReadiness(t *testing.T) {
	recipient, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	peer := recipient.PublicKey().String()
	s, err := store.Open(store.Options{Dir: t.TempDir(), StoragePeers: []string{peer}})
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	m.WatchStore(s)
	m.AddReadinessCheck("store", s.Check)
	srv, client := serve(t, m)

	sender, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		env, err := protocol.CreateEnvelope(sender, "publish", []string{peer}, map[string]int{"n": i}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(context.Background(), peer, env); err != nil {
			t.Fatal(err)
		}
	}
	_, body := get(t, client, srv.URL+"/metrics")
	for _, line := range []string{
		"agora_relay_store_messages 2",
		fmt.Sprintf(`agora_relay_store_peer_messages{peer=%q} 2`, peer),
		fmt.Sprintf("agora_relay_store_bytes %d", s.Stats().Bytes),
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("scrape lacks line %q", line)
		}
	}
	if status, _ := get(t, client, srv.URL+"/healthz"); status != http.StatusOK {
		t.Errorf("/healthz with an open store: status %d, want 200", status)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	status, body := get(t, client, srv.URL+"/healthz")
	if status != http.StatusServiceUnavailable {
		t.Errorf("/healthz with a closed store: status %d, want 503", status)
	}
	if !strings.Contains(body, `"ready":false`) {
		t.Errorf("/healthz body %q lacks ready false", body)
	}
}
