package relaymode

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/agora-p2p/agora/node"
	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/client"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testSecret = []byte("0123456789abcdef0123456789abcdef-test")

// testConfig returns a relay config on loopback with REST on and no sender rate limit.
func testConfig(t testing.TB) Config {
	t.Helper()
	key, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Node = node.Config{
		Identity:       key,
		ListenAddrs:    []string{"/ip4/127.0.0.1/tcp/0"},
		DisableMDNS:    true,
		PrivateNetwork: true,
		DHTMode:        node.DHTOff,
	}
	cfg.WSAddr = "127.0.0.1:0"
	cfg.RESTAddr = "127.0.0.1:0"
	cfg.JWTSecret = testSecret
	cfg.SenderRate = 0
	cfg.RateLimitRPM = 0
	return cfg
}

// startRelay starts a relay and closes it when the test ends.
func startRelay(t testing.TB, cfg Config) *Relay {
	t.Helper()
	ctx := context.Background()
	r, err := New(ctx, cfg)
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
	return r
}

func newKey(t testing.TB) *protocol.KeyPair {
	t.Helper()
	k, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// dialClient registers a new key over WebSocket.
func dialClient(t testing.TB, r *Relay) (*client.Client, *protocol.KeyPair) {
	t.Helper()
	k := newKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, r.WSURL(), k, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, k
}

// rawConn is a bare WebSocket connection, for frames the client package would not send.
type rawConn struct {
	t    testing.TB
	conn *websocket.Conn
}

func dialRaw(t testing.TB, r *Relay) *rawConn {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(r.WSURL(), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConn{t: t, conn: conn}
}

func (c *rawConn) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *rawConn) sendText(s string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next reads the next frame of the given type, skipping presence frames.
func (c *rawConn) next(typ string) map[string]any {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.t.Fatalf("waiting for a %s frame: %v", typ, err)
		}
		var f map[string]any
		if err := json.Unmarshal(data, &f); err != nil {
			c.t.Fatalf("frame is not JSON: %s", data)
		}
		if f["type"] == typ {
			return f
		}
		if f["type"] == "peer_online" || f["type"] == "peer_offline" {
			continue
		}
		c.t.Fatalf("got frame %s, want type %s", data, typ)
	}
}

func mustEnvelope(t testing.TB, k *protocol.KeyPair, to string, payload any) *protocol.Envelope {
	t.Helper()
	e, err := protocol.CreateEnvelope(k, "request", []string{to}, payload, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// nextAny reads the next frame of any type.
func (c *rawConn) nextAny() map[string]any {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		c.t.Fatalf("frame is not JSON: %s", data)
	}
	return f
}
