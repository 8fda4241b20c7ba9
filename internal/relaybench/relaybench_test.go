package relaybench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agora-p2p/agora/node"
	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startRelay starts a relay in this process. The tests pass this process's PID, so CPU and
// memory figures include the load clients; only their presence is checked here.
func startRelay(t *testing.T, mutate func(*relaymode.Config)) Target {
	t.Helper()
	key, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	cfg := relaymode.DefaultConfig()
	cfg.Node = node.Config{Identity: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		DisableMDNS: true, PrivateNetwork: true, DHTMode: node.DHTOff}
	cfg.WSAddr = "127.0.0.1:0"
	cfg.SenderRate = 0
	cfg.MaxPeers = 1000
	cfg.MaxConnectionsPerIP = 0
	if mutate != nil {
		mutate(&cfg)
	}
	ctx := context.Background()
	r, err := relaymode.New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return Target{URL: r.WSURL(), PID: os.Getpid()}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestPairsDeliversEveryMessage(t *testing.T) {
	target := startRelay(t, nil)
	res, err := Pairs(testContext(t), target, PairsOptions{Pairs: 3, Size: 100, Messages: 300, Window: 8})
	if err != nil {
		t.Fatalf("Pairs: %v", err)
	}
	if res.Messages != 300 || res.Received != 300 {
		t.Fatalf("received %d of %d messages, want 300 of 300", res.Received, res.Messages)
	}
	if len(res.Rejected) != 0 {
		t.Errorf("rejected = %v, want none", res.Rejected)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 {
		t.Errorf("latency p50 %v, p99 %v, max %v are not ordered and positive", res.P50, res.P99, res.Max)
	}
	if res.PerSecond <= 0 || res.CPUPerMessage <= 0 {
		t.Errorf("rate %v/s and CPU per message %v must be positive", res.PerSecond, res.CPUPerMessage)
	}
}

func TestPairsCountsRejections(t *testing.T) {
	// A sender limit of 60 per minute lets each sender's burst through and rejects the rest.
	target := startRelay(t, func(c *relaymode.Config) { c.SenderRate = 60 })
	res, err := Pairs(testContext(t), target, PairsOptions{Pairs: 1, Size: 64, Messages: 200})
	if err != nil {
		t.Fatalf("Pairs: %v", err)
	}
	if res.Rejected["rate_limited"] == 0 {
		t.Fatalf("rejected = %v, want rate_limited entries", res.Rejected)
	}
	if got := res.Received + res.Rejected["rate_limited"]; got != 200 {
		t.Errorf("received %d + rate_limited %d = %d, want 200", res.Received, res.Rejected["rate_limited"], got)
	}
}

func TestPairsPacedRate(t *testing.T) {
	target := startRelay(t, nil)
	res, err := Pairs(testContext(t), target, PairsOptions{Pairs: 1, Size: 100, Messages: 50, Rate: 100})
	if err != nil {
		t.Fatalf("Pairs: %v", err)
	}
	// 50 envelopes at 100 per second take at least 0.49 s.
	if res.Elapsed < 490*time.Millisecond {
		t.Errorf("elapsed %v, want at least 490ms at 100 envelopes/s", res.Elapsed)
	}
}

func TestPairsRejectsInvalidOptions(t *testing.T) {
	for _, opts := range []PairsOptions{
		{Pairs: 0, Size: 100, Messages: 10},
		{Pairs: 4, Size: 100, Messages: 3},
		{Pairs: 1, Size: 4, Messages: 10},
	} {
		if _, err := Pairs(context.Background(), Target{URL: "ws://127.0.0.1:1"}, opts); err == nil {
			t.Errorf("Pairs(%+v) succeeded, want an error", opts)
		}
	}
}

func TestPairsUnreachableRelay(t *testing.T) {
	_, err := Pairs(testContext(t), Target{URL: "ws://127.0.0.1:1"}, PairsOptions{Pairs: 1, Size: 100, Messages: 10})
	if err == nil {
		t.Fatal("Pairs against a closed port succeeded, want an error")
	}
}

func TestIdleMeasuresMemory(t *testing.T) {
	target := startRelay(t, nil)
	res, err := Idle(testContext(t), target, 50)
	if err != nil {
		t.Fatalf("Idle: %v", err)
	}
	if res.Conns != 50 || res.RSSBefore <= 0 || res.RSSAfter <= 0 {
		t.Errorf("result %+v, want 50 connections and positive memory figures", res)
	}
	if _, err := Idle(testContext(t), Target{URL: target.URL}, 5); err == nil {
		t.Error("Idle without a PID succeeded, want an error")
	}
}

func TestIdleRegistrationRejected(t *testing.T) {
	target := startRelay(t, func(c *relaymode.Config) { c.MaxPeers = 10 })
	_, err := Idle(testContext(t), target, 20)
	if err == nil {
		t.Fatal("Idle with 20 sessions on a relay of at most 10 keys succeeded, want an error")
	}
}

func TestStormKeepsTrafficFlowing(t *testing.T) {
	target := startRelay(t, nil)
	res, err := Storm(testContext(t), target, StormOptions{Clients: 200, Parallel: 50, Rate: 200})
	if err != nil {
		t.Fatalf("Storm: %v", err)
	}
	if res.Clients != 200 || res.Elapsed <= 0 {
		t.Errorf("result %+v, want 200 clients and a positive duration", res)
	}
	if res.TrafficSent == 0 || res.TrafficReceived != res.TrafficSent || res.TrafficLost != 0 {
		t.Errorf("traffic sent %d, received %d, lost %d; want every envelope received", res.TrafficSent, res.TrafficReceived, res.TrafficLost)
	}
}

func TestPercentiles(t *testing.T) {
	samples := make([]int64, 100)
	for i := range samples {
		samples[i] = int64(100 - i) // 100 down to 1
	}
	p50, p99, maxValue := percentiles(samples)
	if p50 != 50 || p99 != 99 || maxValue != 100 {
		t.Errorf("percentiles = %d, %d, %d; want 50, 99, 100", p50, p99, maxValue)
	}
	if a, b, c := percentiles(nil); a != 0 || b != 0 || c != 0 {
		t.Errorf("percentiles(nil) = %d, %d, %d; want zeros", a, b, c)
	}
}

func TestFrameID(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	frame := []byte(`{"type":"message","from":"aa","envelope":{"id":"` + id + `","type":"x"}}`)
	if got := frameID(frame); got != id {
		t.Errorf("frameID = %q, want %q", got, id)
	}
	for _, bad := range []string{`{"type":"pong"}`, `{"envelope":{"id":"short"}}`} {
		if got := frameID([]byte(bad)); got != "" {
			t.Errorf("frameID(%s) = %q, want empty", bad, got)
		}
	}
}

func TestProcessFiguresOfMissingProcess(t *testing.T) {
	if _, err := processCPU(-1); err == nil {
		t.Error("processCPU(-1) succeeded, want an error")
	}
	if _, err := processRSS(-1); err == nil {
		t.Error("processRSS(-1) succeeded, want an error")
	}
}

func TestPairsStopsWhenRelayClosesSender(t *testing.T) {
	target := startRelay(t, func(c *relaymode.Config) { c.Limits.MaxBytes = 4096 })
	start := time.Now()
	_, err := Pairs(testContext(t), target, PairsOptions{Pairs: 1, Size: 70 << 10, Messages: 5})
	if err == nil || !strings.Contains(err.Error(), "closed a sender's connection") {
		t.Fatalf("Pairs with frames over the relay's limit: err = %v, want the closed connection named", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("Pairs took %v to notice the closed connection", d)
	}
}

func TestRegisterNamesRejectedUpgrade(t *testing.T) {
	target := startRelay(t, func(c *relaymode.Config) { c.MaxConnectionsPerIP = 1 })
	first, err := register(testContext(t), target.URL, mustKeyPair(t))
	if err != nil {
		t.Fatal(err)
	}
	defer first.close()
	_, err = register(testContext(t), target.URL, mustKeyPair(t))
	if err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "Too many connections from this address") {
		t.Fatalf("second connection: err = %v, want the relay's 429 and its message", err)
	}
}

func mustKeyPair(t *testing.T) *protocol.KeyPair {
	t.Helper()
	k, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
