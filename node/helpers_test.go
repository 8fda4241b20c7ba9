package node

import (
	"bufio"
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	libp2pprotocol "github.com/libp2p/go-libp2p/core/protocol"

	"github.com/agora-p2p/agora/protocol"
)

// testLogger writes to stderr when AGORA_TEST_LOG is set; tests stay quiet otherwise.
func testLogger() *slog.Logger {
	if os.Getenv("AGORA_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTestNode starts a node on loopback TCP with mDNS off and the LAN DHT in server mode.
func newTestNode(t testing.TB, mutate func(*Config)) *Node {
	t.Helper()
	key, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Identity:            key,
		ListenAddrs:         []string{"/ip4/127.0.0.1/tcp/0"},
		DisableMDNS:         true,
		PrivateNetwork:      true,
		DHTMode:             DHTServer,
		DisableHolePunching: true,
		BootstrapTimeout:    5 * time.Second,
		DialTimeout:         5 * time.Second,
		Logger:              testLogger(),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close node: %v", err)
		}
	})
	return n
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// connect dials b from a with b's full address.
func connect(t testing.TB, a, b *Node) {
	t.Helper()
	if _, err := a.Connect(testContext(t), b.Addrs()[0].String()); err != nil {
		t.Fatalf("connect: %v", err)
	}
}

// rawStream is a hand-driven client of the stream protocols, for sending frames a Node never
// sends.
type rawStream struct {
	s network.Stream
	r *bufio.Reader
	w *bufio.Writer
}

func openRaw(t testing.TB, from, to *Node, proto libp2pprotocol.ID) *rawStream {
	t.Helper()
	connect(t, from, to)
	s, err := from.Host().NewStream(testContext(t), to.PeerID(), proto)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	t.Cleanup(func() { _ = s.Reset() })
	_ = s.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawStream{s: s, r: bufio.NewReader(s), w: bufio.NewWriter(s)}
}

func (rs *rawStream) writeRaw(t testing.TB, data []byte) {
	t.Helper()
	if _, err := rs.w.Write(data); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := rs.w.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// roundTrip sends one frame and returns its ack.
func (rs *rawStream) roundTrip(t testing.TB, frame []byte) ack {
	t.Helper()
	if err := writeFrame(rs.w, frame); err != nil {
		t.Fatalf("write frame: %v", err)
	}
	if err := rs.w.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	a, err := readAck(rs.r)
	if err != nil {
		t.Fatalf("read ack: %v", err)
	}
	return a
}

func mustEnvelope(t testing.TB, k *protocol.KeyPair, to []string, payload any, opts *protocol.CreateOptions) *protocol.Envelope {
	t.Helper()
	env, err := protocol.CreateEnvelope(k, "test", to, payload, opts)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func mustWire(t testing.TB, env *protocol.Envelope) []byte {
	t.Helper()
	data, err := env.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// receive waits for the next envelope on n.Inbound().
func receive(t testing.TB, n *Node) Inbound {
	t.Helper()
	select {
	case in := <-n.Inbound():
		return in
	case <-time.After(15 * time.Second):
		t.Fatal("no inbound envelope within 15s")
		return Inbound{}
	}
}

// eventually polls cond every 50ms until it holds or the timeout ends.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
