package node

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/agora-p2p/agora/protocol"
)

func subscribe(t *testing.T, n *Node, topic string) *Subscription {
	t.Helper()
	sub, err := n.Subscribe(topic)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(sub.Cancel)
	return sub
}

func next(t *testing.T, sub *Subscription) Inbound {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	in, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("next topic message: %v", err)
	}
	return in
}

func waitTopicPeers(t *testing.T, n *Node, topic string, peers ...peer.ID) {
	t.Helper()
	eventually(t, 10*time.Second, "topic peers", func() bool {
		have := n.TopicPeers(topic)
		for _, p := range peers {
			if !slices.Contains(have, p) {
				return false
			}
		}
		return true
	})
}

func TestTopicDeliversToAll(t *testing.T) {
	const topic = "news"
	a := newTestNode(t, nil)
	b := newTestNode(t, nil)
	c := newTestNode(t, nil)
	connect(t, a, b)
	connect(t, c, b)
	subA, subB, subC := subscribe(t, a, topic), subscribe(t, b, topic), subscribe(t, c, topic)
	waitTopicPeers(t, b, topic, a.PeerID(), c.PeerID())
	waitTopicPeers(t, a, topic, b.PeerID())
	waitTopicPeers(t, c, topic, b.PeerID())
	// Gossipsub builds its mesh on the heartbeat, one second after joining.
	time.Sleep(1500 * time.Millisecond)

	id, err := a.Publish(testContext(t), topic, "post", "from a")
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	for name, sub := range map[string]*Subscription{"b": subB, "c": subC} {
		in := next(t, sub)
		if in.Envelope.ID != id || in.Via.Kind != ViaTopic || in.Via.Topic != topic {
			t.Errorf("%s received %s via %+v, want %s via topic %s", name, in.Envelope.ID, in.Via, id, topic)
		}
	}
	id2, err := c.Publish(testContext(t), topic, "post", "from c")
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if got := next(t, subA).Envelope.ID; got != id2 {
		t.Errorf("a received %s, want %s (its own message must be skipped)", got, id2)
	}
}

// TestTopicInvalidNotPropagated sends through a bare gossipsub peer without validators,
// connected only to b; c, behind b, must see the valid envelopes and never the invalid one.
func TestTopicInvalidNotPropagated(t *testing.T) {
	const topic = "news"
	b := newTestNode(t, nil)
	c := newTestNode(t, nil)
	connect(t, c, b)
	subB, subC := subscribe(t, b, topic), subscribe(t, c, topic)

	attacker, send := newBarePublisher(t, b, topic)
	waitTopicPeers(t, b, topic, attacker, c.PeerID())
	waitTopicPeers(t, c, topic, b.PeerID())
	time.Sleep(1500 * time.Millisecond)

	key, err := protocol.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	first := mustEnvelope(t, key, nil, "first", nil)
	tampered := *mustEnvelope(t, key, nil, "original", nil)
	tampered.Payload = json.RawMessage(`"forged"`)
	stale := mustEnvelope(t, key, nil, "stale", &protocol.CreateOptions{Timestamp: time.Now().Add(-time.Hour)})
	last := mustEnvelope(t, key, nil, "last", nil)

	for _, env := range []*protocol.Envelope{first, &tampered, stale, last} {
		send(mustWire(t, env))
	}
	// Gossipsub validates concurrently, so the two valid envelopes may arrive in either order.
	want := map[string]bool{first.ID: true, last.ID: true}
	for name, sub := range map[string]*Subscription{"b": subB, "c": subC} {
		got := map[string]bool{next(t, sub).Envelope.ID: true, next(t, sub).Envelope.ID: true}
		if !maps.Equal(got, want) {
			t.Errorf("%s received %v, want the valid envelopes %v", name, got, want)
		}
	}
	eventually(t, 5*time.Second, "b to drop both invalid envelopes", func() bool {
		d := b.TopicDrops()
		return d[protocol.ReasonIDMismatch]+d[protocol.ReasonStale] >= 2
	})
	bDrops, cDrops := b.TopicDrops(), c.TopicDrops()
	for _, reason := range []protocol.Reason{protocol.ReasonIDMismatch, protocol.ReasonStale} {
		if bDrops[reason] != 1 {
			t.Errorf("b dropped %d topic messages as %s, want 1", bDrops[reason], reason)
		}
		if cDrops[reason] != 0 {
			t.Errorf("c saw %d topic messages dropped as %s, want 0: b propagated them", cDrops[reason], reason)
		}
	}
}

// newBarePublisher starts a libp2p host with gossipsub and no validator, connected to n, and
// returns its peer ID and a function that publishes raw bytes on topic.
func newBarePublisher(t *testing.T, n *Node, topic string) (peer.ID, func([]byte)) {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		_ = h.Close()
	})

	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithNoAuthor(), pubsub.WithMessageIdFn(messageID))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ps.Join(TopicPrefix + topic)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := tp.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Cancel)

	if err := h.Connect(testContext(t), peer.AddrInfo{ID: n.PeerID(), Addrs: n.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	return h.ID(), func(data []byte) {
		if err := tp.Publish(testContext(t), data); err != nil {
			t.Fatalf("bare publish: %v", err)
		}
	}
}
