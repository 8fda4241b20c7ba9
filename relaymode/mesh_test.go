package relaymode

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-p2p/agora/node"
	"github.com/agora-p2p/agora/protocol"
)

// startMeshNode starts a plain node on loopback.
func startMeshNode(t *testing.T) *node.Node {
	t.Helper()
	n, err := node.New(context.Background(), node.Config{
		Identity:       newKey(t),
		ListenAddrs:    []string{"/ip4/127.0.0.1/tcp/0"},
		DisableMDNS:    true,
		PrivateNetwork: true,
		DHTMode:        node.DHTOff,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestWebSocketToMeshAndBack(t *testing.T) {
	r := startRelay(t, testConfig(t))
	mesh := startMeshNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := mesh.Connect(ctx, r.Node().Addrs()[0].String()); err != nil {
		t.Fatalf("connect mesh node to relay: %v", err)
	}
	ws, wsKey := dialClient(t, r)
	meshKey := mesh.Identity().PublicKey().String()

	// WebSocket client to mesh peer, over the forward protocol.
	id, kind, err := ws.Send(ctx, meshKey, "request", map[string]string{"text": "to mesh"}, nil)
	if err != nil || kind != "delivered" {
		t.Fatalf("WebSocket to mesh: %v %q", err, kind)
	}
	select {
	case in := <-mesh.Inbound():
		if in.Envelope.ID != id || in.Via.Kind != node.ViaForwarded || in.Via.Peer != r.Node().PeerID() {
			t.Fatalf("mesh got %s via %+v", in.Envelope.ID, in.Via)
		}
	case <-ctx.Done():
		t.Fatal("mesh node received nothing")
	}

	// Mesh peer to WebSocket client: the mesh node sends to the relay node an envelope
	// addressed to the client, whose key has no libp2p host of its own.
	env, err := protocol.CreateEnvelope(mesh.Identity(), "response", []string{wsKey.PublicKey().String()}, "to ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := mesh.SendEnvelope(ctx, r.Node().PeerID(), env); err != nil {
		t.Fatalf("mesh to relay for the WebSocket client: %v", err)
	}
	select {
	case m := <-ws.Messages():
		if m.Envelope.ID != env.ID || m.From != meshKey {
			t.Fatalf("WebSocket got %s from %s", m.Envelope.ID, m.From)
		}
	case <-ctx.Done():
		t.Fatal("WebSocket client received nothing from the mesh")
	}
}

func TestMeshEnvelopeForUnknownClientRejected(t *testing.T) {
	r := startRelay(t, testConfig(t))
	mesh := startMeshNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := mesh.Connect(ctx, r.Node().Addrs()[0].String()); err != nil {
		t.Fatal(err)
	}
	env, _ := protocol.CreateEnvelope(mesh.Identity(), "request", []string{newKey(t).PublicKey().String()}, "x", nil)
	err := mesh.SendEnvelope(ctx, r.Node().PeerID(), env)
	if protocol.ReasonOf(err) != "not_recipient" {
		t.Fatalf("envelope for a key the relay does not serve: %v, want not_recipient", err)
	}
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestPrivateKeyNeverLogged(t *testing.T) {
	var logs lockedBuffer
	cfg := testConfig(t)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := startRelay(t, cfg)
	k := newKey(t)
	c := &restClient{t: t, base: r.RESTURL()}
	status, body, _ := c.do("POST", "/v1/register", map[string]any{"publicKey": k.PublicKey().String(), "privateKey": k.PrivateKeyHex()})
	if status != 200 {
		t.Fatalf("register: %d %v", status, body)
	}
	c.token = body["token"].(string)
	// A failing registration and a send exercise the error and debug paths too.
	other := newKey(t)
	c2 := &restClient{t: t, base: r.RESTURL()}
	c2.do("POST", "/v1/register", map[string]any{"publicKey": k.PublicKey().String(), "privateKey": other.PrivateKeyHex()})
	c.do("POST", "/v1/send", map[string]any{"to": other.PublicKey().String(), "type": "request", "payload": 1})
	c.do("DELETE", "/v1/disconnect", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.Close(ctx)
	out := logs.String()
	if out == "" {
		t.Fatal("no logs were written, so the check would prove nothing")
	}
	for _, secret := range []string{k.PrivateKeyHex(), other.PrivateKeyHex(), k.PrivateKeyHex()[32:], other.PrivateKeyHex()[32:]} {
		if strings.Contains(out, secret) {
			t.Fatalf("a private key appears in the logs:\n%s", out)
		}
	}
}
