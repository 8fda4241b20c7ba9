package node

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agora-p2p/agora/protocol"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestExchangeBothWays(t *testing.T) {
	a := newTestNode(t, nil)
	b := newTestNode(t, nil)
	connect(t, a, b)
	ctx := testContext(t)

	id, err := a.Send(ctx, []string{b.PeerID().String()}, "greeting", map[string]string{"text": "hello b"}, nil)
	if err != nil {
		t.Fatalf("a sends to b: %v", err)
	}
	in := receive(t, b)
	if in.Envelope.ID != id {
		t.Errorf("b received %s, want %s", in.Envelope.ID, id)
	}
	if in.Via.Kind != ViaDirect || in.Via.Peer != a.PeerID() {
		t.Errorf("via = %+v, want direct from %s", in.Via, a.PeerID())
	}
	if got := string(in.Envelope.Payload); got != `{"text":"hello b"}` {
		t.Errorf("payload = %s", got)
	}

	reply, err := b.Send(ctx, []string{a.Identity().PublicKey().String()}, "greeting", "hello a", &SendOptions{InReplyTo: id})
	if err != nil {
		t.Fatalf("b sends to a: %v", err)
	}
	back := receive(t, a)
	if back.Envelope.ID != reply || back.Envelope.InReplyTo != id {
		t.Errorf("a received %s in reply to %q, want %s in reply to %s", back.Envelope.ID, back.Envelope.InReplyTo, reply, id)
	}
}

func TestSendManyRecipients(t *testing.T) {
	a := newTestNode(t, nil)
	b := newTestNode(t, nil)
	c := newTestNode(t, nil)
	connect(t, a, b)
	connect(t, a, c)
	id, err := a.Send(testContext(t), []string{b.PeerID().String(), c.PeerID().String(), a.PeerID().String()}, "note", 1, nil)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	for name, n := range map[string]*Node{"a": a, "b": b, "c": c} {
		if got := receive(t, n).Envelope.ID; got != id {
			t.Errorf("%s received %s, want %s", name, got, id)
		}
	}
}

func TestSendReturnsRecipientReason(t *testing.T) {
	a := newTestNode(t, nil)
	b := newTestNode(t, func(c *Config) { c.Handler = rejectAll })
	connect(t, a, b)
	_, err := a.Send(testContext(t), []string{b.PeerID().String()}, "note", 1, nil)
	if got := protocol.ReasonOf(err); got != protocol.ReasonIgnored {
		t.Errorf("reason = %q (err %v), want %q", got, err, protocol.ReasonIgnored)
	}
}

func TestRejectedEnvelopeCanBeResent(t *testing.T) {
	a := newTestNode(t, nil)
	var rejecting atomic.Bool
	rejecting.Store(true)
	b := newTestNode(t, func(c *Config) {
		c.Handler = func(ctx context.Context, in Inbound) error {
			if rejecting.Load() {
				return rejectAll(ctx, in)
			}
			return nil
		}
	})
	connect(t, a, b)

	env := mustEnvelope(t, a.Identity(), []string{b.Identity().PublicKey().String()}, "retry me", nil)
	if err := a.SendEnvelope(testContext(t), b.PeerID(), env); protocol.ReasonOf(err) != protocol.ReasonIgnored {
		t.Fatalf("first send: %v, want %s", err, protocol.ReasonIgnored)
	}
	rejecting.Store(false)
	if err := a.SendEnvelope(testContext(t), b.PeerID(), env); err != nil {
		t.Fatalf("resend after the handler rejected it: %v", err)
	}
	if err := a.SendEnvelope(testContext(t), b.PeerID(), env); protocol.ReasonOf(err) != protocol.ReasonDuplicate {
		t.Fatalf("third send: %v, want %s", err, protocol.ReasonDuplicate)
	}
}

func rejectAll(_ context.Context, _ Inbound) error {
	return &protocol.Error{Reason: protocol.ReasonIgnored, Detail: "test handler rejects everything"}
}

func TestRejectionReasons(t *testing.T) {
	b := newTestNode(t, nil)
	a := newTestNode(t, nil)
	bKey := b.Identity().PublicKey().String()
	other, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	valid := mustEnvelope(t, a.Identity(), []string{bKey}, "first", nil)

	tampered := *mustEnvelope(t, a.Identity(), []string{bKey}, "original", nil)
	tampered.Payload = json.RawMessage(`"changed"`)

	resigned := *mustEnvelope(t, a.Identity(), []string{bKey}, "original", nil)
	resigned.Signature = mustEnvelope(t, a.Identity(), []string{bKey}, "other", nil).Signature

	cases := []struct {
		name  string
		frame []byte
		want  protocol.Reason
	}{
		{"valid", mustWire(t, valid), ""},
		{"duplicate", mustWire(t, valid), protocol.ReasonDuplicate},
		{"impersonation", mustWire(t, mustEnvelope(t, other, []string{bKey}, "x", nil)), ReasonSenderMismatch},
		{"modified payload", mustWire(t, &tampered), protocol.ReasonIDMismatch},
		{"wrong signature", mustWire(t, &resigned), protocol.ReasonSignatureInvalid},
		{"stale", mustWire(t, mustEnvelope(t, a.Identity(), []string{bKey}, "old", &protocol.CreateOptions{Timestamp: time.Now().Add(-time.Hour)})), protocol.ReasonStale},
		{"future", mustWire(t, mustEnvelope(t, a.Identity(), []string{bKey}, "new", &protocol.CreateOptions{Timestamp: time.Now().Add(time.Hour)})), protocol.ReasonFuture},
		{"not recipient", mustWire(t, mustEnvelope(t, a.Identity(), []string{other.PublicKey().String()}, "x", nil)), ReasonNotRecipient},
		{"valid after rejections", mustWire(t, mustEnvelope(t, a.Identity(), []string{bKey}, "second", nil)), ""},
	}
	rs := openRaw(t, a, b, EnvelopeProtocol)
	for _, tc := range cases {
		got := rs.roundTrip(t, tc.frame)
		if tc.want == "" {
			if !got.OK {
				t.Errorf("%s: ack = %+v, want ok", tc.name, got)
			}
			continue
		}
		if got.OK || got.Reason != tc.want {
			t.Errorf("%s: ack = %+v, want reason %q", tc.name, got, tc.want)
		}
		if got.Message == "" {
			t.Errorf("%s: ack has no message", tc.name)
		}
	}
	if got := receive(t, b).Envelope.Payload; string(got) != `"first"` {
		t.Errorf("first inbound payload = %s", got)
	}
	if got := receive(t, b).Envelope.Payload; string(got) != `"second"` {
		t.Errorf("second inbound payload = %s", got)
	}
	if got := len(b.Inbound()); got != 0 {
		t.Errorf("%d more envelopes queued, want 0", got)
	}
}

func TestPeerFloodRateLimited(t *testing.T) {
	b := newTestNode(t, func(c *Config) { c.PeerRate = 6; c.PeerBurst = 5 })
	flooder := newTestNode(t, nil)
	other := newTestNode(t, nil)
	bKey := b.Identity().PublicKey().String()

	connect(t, other, b)
	rs := openRaw(t, flooder, b, EnvelopeProtocol)
	okCount, limited := 0, 0
	for i := range 20 {
		a := rs.roundTrip(t, mustWire(t, mustEnvelope(t, flooder.Identity(), []string{bKey}, i, nil)))
		switch {
		case a.OK:
			okCount++
		case a.Reason == protocol.ReasonRateLimited:
			limited++
		default:
			t.Fatalf("frame %d: unexpected ack %+v", i, a)
		}
		if i%5 == 0 {
			// Another peer keeps being served during the flood.
			if _, err := other.Send(testContext(t), []string{bKey}, "note", i, nil); err != nil {
				t.Fatalf("other peer during flood: %v", err)
			}
		}
	}
	// A burst of 5, plus one token if the test outlasts the 10 seconds of a refill.
	if okCount < 5 || okCount > 6 {
		t.Errorf("flooder got %d envelopes through, want 5 or 6", okCount)
	}
	if limited < 14 {
		t.Errorf("flooder got %d rate_limited acks, want at least 14", limited)
	}
}

func TestSenderRateLimitedByGuard(t *testing.T) {
	b := newTestNode(t, func(c *Config) { c.Guard.SenderRate = 60; c.Guard.SenderBurst = 2 })
	a := newTestNode(t, nil)
	connect(t, a, b)
	bID := b.PeerID().String()
	for i := range 2 {
		if _, err := a.Send(testContext(t), []string{bID}, "note", i, nil); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	_, err := a.Send(testContext(t), []string{bID}, "note", 3, nil)
	if got := protocol.ReasonOf(err); got != protocol.ReasonRateLimited {
		t.Errorf("third send: reason %q (err %v), want rate_limited", got, err)
	}
	if got := b.Drops()[protocol.ReasonRateLimited]; got != 1 {
		t.Errorf("guard counted %d rate_limited drops, want 1", got)
	}
}

func TestDropsCountRejections(t *testing.T) {
	b := newTestNode(t, nil)
	a := newTestNode(t, nil)
	other, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	bKey := b.Identity().PublicKey().String()
	rs := openRaw(t, a, b, EnvelopeProtocol)
	rs.roundTrip(t, mustWire(t, mustEnvelope(t, other, []string{bKey}, "forged sender", nil)))
	env := mustEnvelope(t, a.Identity(), []string{bKey}, "twice", nil)
	rs.roundTrip(t, mustWire(t, env))
	rs.roundTrip(t, mustWire(t, env))
	drops := b.Drops()
	if drops[ReasonSenderMismatch] != 1 {
		t.Errorf("sender_mismatch drops = %d, want 1", drops[ReasonSenderMismatch])
	}
	if drops[protocol.ReasonDuplicate] != 1 {
		t.Errorf("duplicate drops = %d, want 1", drops[protocol.ReasonDuplicate])
	}
	if len(drops) != 2 {
		t.Errorf("drops = %v, want only those two reasons", drops)
	}
}

func TestSendRetriesAfterRemoteClose(t *testing.T) {
	b := newTestNode(t, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	a := newTestNode(t, nil)
	connect(t, a, b)
	bID := b.PeerID().String()
	if _, err := a.Send(testContext(t), []string{bID}, "note", 1, nil); err != nil {
		t.Fatal(err)
	}
	// b closes the idle stream long before a would; a's next envelope finds it closed.
	time.Sleep(600 * time.Millisecond)
	if _, err := a.Send(testContext(t), []string{bID}, "note", 2, nil); err != nil {
		t.Fatalf("send on a stream the receiver closed: %v", err)
	}
	for want := range 2 {
		if got := string(receive(t, b).Envelope.Payload); got != fmt.Sprint(want+1) {
			t.Errorf("payload %s, want %d", got, want+1)
		}
	}
}
