package relaymode

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/client"
)

// BenchmarkRelayPair measures envelopes per second from one WebSocket client to another through
// the relay, with 64 envelopes in flight, pre-signed so that the sender's signing is not timed.
func BenchmarkRelayPair100B(b *testing.B) { benchmarkRelayPair(b, 100) }
func BenchmarkRelayPair4KiB(b *testing.B) { benchmarkRelayPair(b, 4096) }

func benchmarkRelayPair(b *testing.B, size int) {
	cfg := testConfig(b)
	cfg.SendQueue = 4096
	r := startRelay(b, cfg)
	ctx := context.Background()
	senderKey, receiverKey := newKey(b), newKey(b)
	sender, err := client.Dial(ctx, r.WSURL(), senderKey, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	receiver, err := client.Dial(ctx, r.WSURL(), receiverKey, &client.Options{NoAck: true})
	if err != nil {
		b.Fatal(err)
	}
	defer receiver.Close()
	to := receiverKey.PublicKey().String()
	envs := make([]*protocol.Envelope, b.N)
	for i := range envs {
		// Distinct payloads: equal envelopes signed within one millisecond share an ID.
		payload := fmt.Sprintf("%08d%s", i, strings.Repeat("x", size-8))
		envs[i], _ = protocol.CreateEnvelope(senderKey, "request", []string{to}, payload, nil)
	}
	var received atomic.Int64
	done := make(chan struct{})
	go func() {
		for range receiver.Messages() {
			if received.Add(1) == int64(b.N) {
				close(done)
			}
		}
	}()
	b.SetBytes(int64(size))
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if _, err := sender.SendEnvelope(ctx, to, envs[i]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		b.Fatalf("received %d of %d", received.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkRegistrationStorm measures the time to register n clients, each of which receives a
// peer_online frame for every later one.
func BenchmarkRegistrationStorm1000(b *testing.B) { benchmarkRegistrationStorm(b, 1000) }

func benchmarkRegistrationStorm(b *testing.B, n int) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cfg := testConfig(b)
		cfg.MaxPeers = n + 1
		cfg.MaxConnectionsPerIP = 0
		r, err := New(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		keys := make([]*protocol.KeyPair, n)
		for j := range keys {
			keys[j] = newKey(b)
		}
		b.StartTimer()
		conns := registerMany(b, r, keys)
		b.StopTimer()
		for _, c := range conns {
			c.Close()
		}
		_ = r.Close(context.Background())
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/storm")
}

func registerMany(b *testing.B, r *Relay, keys []*protocol.KeyPair) []*websocket.Conn {
	conns := make([]*websocket.Conn, len(keys))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i, k := range keys {
		wg.Add(1)
		go func(i int, k *protocol.KeyPair) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			conn, _, err := websocket.DefaultDialer.Dial(r.WSURL(), nil)
			if err != nil {
				b.Error(err)
				return
			}
			var ch map[string]string
			_ = conn.ReadJSON(&ch)
			sig := k.Sign([]byte(ChallengeText(r.PublicKey(), ch["nonce"])))
			_ = conn.WriteJSON(map[string]string{"type": "register", "publicKey": k.PublicKey().String(), "signature": fmt.Sprintf("%x", sig)})
			var reg map[string]any
			if err := conn.ReadJSON(&reg); err != nil || reg["type"] != "registered" {
				b.Errorf("register %d: %v %v", i, err, reg)
			}
			conns[i] = conn
		}(i, k)
	}
	wg.Wait()
	return conns
}

// BenchmarkEd25519VerifyRef is the raw verification rate on the same machine, for ratios.
func BenchmarkEd25519VerifyRef(b *testing.B) {
	k := newKey(b)
	env, _ := protocol.CreateEnvelope(k, "request", nil, strings.Repeat("x", 100), nil)
	msg := env.Canonical()
	pk := k.PublicKey()
	sig := k.Sign(msg)
	for b.Loop() {
		if !ed25519.Verify(pk[:], msg, sig) {
			b.Fatal("verify failed")
		}
	}
}
