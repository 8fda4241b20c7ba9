package node

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/agora-p2p/agora/protocol"
)

func TestForwardDeliversOriginEnvelope(t *testing.T) {
	relay := newTestNode(t, nil)
	b := newTestNode(t, nil)
	connect(t, relay, b)
	client, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	env := mustEnvelope(t, client, []string{b.Identity().PublicKey().String()}, "from a websocket client", nil)

	if err := relay.SendEnvelope(testContext(t), b.PeerID(), env); err == nil {
		t.Error("SendEnvelope of another sender's envelope succeeded, want an error")
	}
	if err := relay.Forward(testContext(t), b.PeerID(), env); err != nil {
		t.Fatalf("forward: %v", err)
	}
	in := receive(t, b)
	if in.Envelope.ID != env.ID || in.Envelope.From != client.PublicKey().String() {
		t.Errorf("b received %s from %s, want %s from the client", in.Envelope.ID, in.Envelope.From, env.ID)
	}
	if in.Via.Kind != ViaForwarded || in.Via.Peer != relay.PeerID() {
		t.Errorf("via = %+v, want forwarded by %s", in.Via, relay.PeerID())
	}

	// Forwarding the same envelope again is a duplicate.
	err = relay.Forward(testContext(t), b.PeerID(), env)
	if got := protocol.ReasonOf(err); got != protocol.ReasonDuplicate {
		t.Errorf("second forward: reason %q (err %v), want duplicate", got, err)
	}
}

func TestForwardRejectsForgery(t *testing.T) {
	relay := newTestNode(t, nil)
	b := newTestNode(t, nil)
	client, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	forged := *mustEnvelope(t, client, []string{b.Identity().PublicKey().String()}, "original", nil)
	forged.Payload = json.RawMessage(`"changed by the relay"`)
	rs := openRaw(t, relay, b, ForwardProtocol)
	if a := rs.roundTrip(t, mustWire(t, &forged)); a.OK || a.Reason != protocol.ReasonIDMismatch {
		t.Errorf("ack = %+v, want id_mismatch", a)
	}
}

func TestForwardRateLimits(t *testing.T) {
	b := newTestNode(t, func(c *Config) {
		c.ForwardRate = 6 // a burst of 6, then one every 10 seconds
		c.Guard.SenderRate = 60
		c.Guard.SenderBurst = 2
	})
	relay := newTestNode(t, nil)
	connect(t, relay, b)

	bKey := b.Identity().PublicKey().String()
	origin, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	forward := func(k *protocol.KeyPair, i int) error {
		return relay.Forward(testContext(t), b.PeerID(), mustEnvelope(t, k, []string{bKey}, i, nil))
	}

	// Per origin: the guard allows a burst of 2 envelopes from one sender.
	for i := range 2 {
		if err := forward(origin, i); err != nil {
			t.Fatalf("forward %d: %v", i, err)
		}
	}
	if got := protocol.ReasonOf(forward(origin, 2)); got != protocol.ReasonRateLimited {
		t.Errorf("third envelope of one origin: reason %q, want rate_limited", got)
	}
	// Per forwarding peer: the relay used 3 of its 6 tokens above, so 3 of 10 envelopes from
	// fresh origins pass, and a fourth if a token is refilled meanwhile.
	limited := 0
	for i := range 10 {
		k, err := protocol.GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		if protocol.ReasonOf(forward(k, i)) == protocol.ReasonRateLimited {
			limited++
		}
	}
	if limited < 6 || limited > 7 {
		t.Errorf("%d of 10 envelopes from fresh origins were rate limited, want 6 or 7", limited)
	}
}

func TestHandlerDecidesAck(t *testing.T) {
	got := make(chan Inbound, 1)
	b := newTestNode(t, func(c *Config) {
		c.Handler = func(_ context.Context, in Inbound) error {
			got <- in
			return nil
		}
	})
	relay := newTestNode(t, nil)
	connect(t, relay, b)
	other, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	// A custom handler takes envelopes for other keys, as a relay does for its clients.
	env := mustEnvelope(t, other, []string{other.PublicKey().String()}, "for a client of b", nil)
	if err := relay.Forward(testContext(t), b.PeerID(), env); err != nil {
		t.Fatalf("forward: %v", err)
	}
	if in := <-got; in.Envelope.ID != env.ID {
		t.Errorf("handler saw %s, want %s", in.Envelope.ID, env.ID)
	}
}

func TestInboundFullRejectsBusy(t *testing.T) {
	b := newTestNode(t, func(c *Config) { c.InboundBuffer = 2 })
	a := newTestNode(t, nil)
	connect(t, a, b)
	bID := b.PeerID().String()
	for i := range 2 {
		if _, err := a.Send(testContext(t), []string{bID}, "note", i, nil); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	env := mustEnvelope(t, a.Identity(), []string{b.Identity().PublicKey().String()}, "third", nil)
	err := a.SendEnvelope(testContext(t), b.PeerID(), env)
	if got := protocol.ReasonOf(err); got != ReasonBusy {
		t.Fatalf("third send: reason %q (err %v), want busy", got, err)
	}
	receive(t, b)
	// The busy envelope was not remembered, so the same envelope goes through once there is room.
	if err := a.SendEnvelope(testContext(t), b.PeerID(), env); err != nil {
		t.Errorf("retry after busy: %v", err)
	}
}

func TestHandlerErrorTextStaysLocal(t *testing.T) {
	b := newTestNode(t, func(c *Config) {
		c.Handler = func(context.Context, Inbound) error { return errors.New("database password wrong") }
	})
	a := newTestNode(t, nil)
	connect(t, a, b)
	_, err := a.Send(testContext(t), []string{b.PeerID().String()}, "note", 1, nil)
	if got := protocol.ReasonOf(err); got != ReasonRejected {
		t.Errorf("reason %q (err %v), want rejected", got, err)
	}
	if err != nil && strings.Contains(err.Error(), "password") {
		t.Errorf("error %q carries the handler's text", err)
	}
}
