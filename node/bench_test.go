package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agora-p2p/agora/protocol"
)

// benchPayload is a 1 KiB string payload.
var benchPayload = strings.Repeat("x", 1024)

// BenchmarkSendEnvelope measures acked envelopes per second from one node to another on
// loopback, with Window envelopes in flight on one pipelined stream. Envelopes are signed
// before the timer starts, so the figure is transport plus receiver cost: framing, Verify,
// the guards, the handler and the ack.
func BenchmarkSendEnvelope(b *testing.B) {
	var received atomic.Int64
	recv := newTestNode(b, func(c *Config) {
		c.PeerRate = -1
		c.Handler = func(context.Context, Inbound) error {
			received.Add(1)
			return nil
		}
	})
	send := newTestNode(b, nil)
	connect(b, send, recv)
	to := []string{recv.Identity().PublicKey().String()}
	envs := make([]*protocol.Envelope, b.N)
	for i := range envs {
		// A distinct payload per envelope, so that no two share an ID.
		envs[i] = mustEnvelope(b, send.Identity(), to, fmt.Sprintf("%08d", i)+benchPayload[8:], nil)
	}
	ctx := context.Background()
	// One envelope first, so the stream is open before the timer starts.
	if err := send.SendEnvelope(ctx, recv.PeerID(), mustEnvelope(b, send.Identity(), to, "warm-up", nil)); err != nil {
		b.Fatal(err)
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(int64(len(mustWire(b, envs[0]))))
	b.ResetTimer()
	for range send.cfg.Window {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(envs)) {
					return
				}
				if err := send.SendEnvelope(ctx, recv.PeerID(), envs[i]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
	if got := received.Load(); got != int64(b.N)+1 {
		b.Fatalf("receiver handled %d envelopes, want %d", got, b.N+1)
	}
}

// BenchmarkSend measures Send end to end: signing on the sender, delivery and ack, with Window
// calls in flight.
func BenchmarkSend(b *testing.B) {
	recv := newTestNode(b, func(c *Config) {
		c.PeerRate = -1
		c.Handler = func(context.Context, Inbound) error { return nil }
	})
	send := newTestNode(b, nil)
	connect(b, send, recv)
	to := []string{recv.PeerID().String()}
	ctx := context.Background()
	if _, err := send.Send(ctx, to, "note", "warm-up", nil); err != nil {
		b.Fatal(err)
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range send.cfg.Window {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				payload := fmt.Sprintf("%08d", i) + benchPayload[8:]
				if _, err := send.Send(ctx, to, "note", payload, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
}

// BenchmarkVerifyRaw measures ed25519.Verify alone over the canonical form of an envelope with
// a 1 KiB payload: the bound for one receiving core.
func BenchmarkVerifyRaw(b *testing.B) {
	key, err := protocol.GenerateKeyPair()
	if err != nil {
		b.Fatal(err)
	}
	env := mustEnvelope(b, key, nil, benchPayload, nil)
	msg := env.Canonical()
	sig := key.Sign(msg)
	raw := key.PublicKey()
	pub := ed25519.PublicKey(raw[:])
	b.ResetTimer()
	defer func() { b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s") }()
	for range b.N {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("signature does not verify")
		}
	}
}

// BenchmarkVerifyEnvelope measures protocol.Verify on the wire form, for comparison.
func BenchmarkVerifyEnvelope(b *testing.B) {
	key, err := protocol.GenerateKeyPair()
	if err != nil {
		b.Fatal(err)
	}
	data := mustWire(b, mustEnvelope(b, key, nil, benchPayload, nil))
	lim := protocol.DefaultLimits()
	b.ResetTimer()
	for range b.N {
		if _, err := protocol.Verify(data, lim); err != nil {
			b.Fatal(err)
		}
	}
}
