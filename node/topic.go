package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/agora-p2p/agora/protocol"
)

// TopicPrefix is prepended to topic names to form gossipsub topic IDs.
const TopicPrefix = "agora/topic/"

type topicState struct {
	topic *pubsub.Topic
}

// newPubSub starts gossipsub. Messages carry no libp2p signature or author because the
// envelope inside is signed; the message ID is the SHA-256 of the envelope text, so one
// envelope is one message however many peers relay it.
func (n *Node) newPubSub() (*pubsub.PubSub, error) {
	return pubsub.NewGossipSub(n.ctx, n.host,
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageID),
		pubsub.WithMaxMessageSize(n.cfg.Limits.MaxBytes+64<<10),
		pubsub.WithPeerExchange(n.cfg.RelayService),
	)
}

func messageID(m *pb.Message) string {
	sum := sha256.Sum256(m.Data)
	return string(sum[:])
}

// join returns the topic handle, joining it and registering its validator on first use.
func (n *Node) join(name string) (*pubsub.Topic, error) {
	if name == "" {
		return nil, errors.New("empty topic name")
	}
	n.topicsMu.Lock()
	defer n.topicsMu.Unlock()
	if n.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if ts, ok := n.topics[name]; ok {
		return ts.topic, nil
	}
	id := TopicPrefix + name
	if err := n.pubsub.RegisterTopicValidator(id, n.validateTopicMessage(name)); err != nil {
		return nil, fmt.Errorf("register validator of topic %q: %w", name, err)
	}
	t, err := n.pubsub.Join(id)
	if err != nil {
		_ = n.pubsub.UnregisterTopicValidator(id)
		return nil, fmt.Errorf("join topic %q: %w", name, err)
	}
	n.topics[name] = &topicState{topic: t}
	return t, nil
}

// validateTopicMessage verifies the envelope in a gossipsub message and applies the topic
// guards. An invalid envelope is rejected, which also penalises the peer that relayed it; a
// duplicate or rate-limited one is ignored. Either way it is not propagated.
func (n *Node) validateTopicMessage(name string) func(context.Context, peer.ID, *pubsub.Message) pubsub.ValidationResult {
	return func(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		env, err := protocol.Verify(m.Data, n.cfg.Limits)
		if err != nil {
			n.topicInvalid.add(protocol.ReasonOf(err))
			n.log.Debug("topic message rejected", "topic", name, "peer", from, "err", err)
			return pubsub.ValidationReject
		}
		if err := n.topicGate.Admit(env, time.Now()); err != nil {
			switch protocol.ReasonOf(err) {
			case protocol.ReasonDuplicate, protocol.ReasonRateLimited, protocol.ReasonContentDuplicate, protocol.ReasonIgnored:
				return pubsub.ValidationIgnore
			}
			n.log.Debug("topic message rejected", "topic", name, "peer", from, "envelope", env.ID, "err", err)
			return pubsub.ValidationReject
		}
		m.ValidatorData = env
		return pubsub.ValidationAccept
	}
}

// TopicDrops returns the topic messages dropped by verification and the ingress guards, by
// reason.
func (n *Node) TopicDrops() map[protocol.Reason]uint64 {
	drops := n.topicGate.Drops()
	for r, c := range n.topicInvalid.snapshot() {
		drops[r] += c
	}
	return drops
}

// reasonCounter counts events by reason. It is safe for concurrent use.
type reasonCounter struct {
	mu     sync.Mutex
	counts map[protocol.Reason]uint64
}

func (c *reasonCounter) add(r protocol.Reason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = make(map[protocol.Reason]uint64)
	}
	c.counts[r]++
}

func (c *reasonCounter) snapshot() map[protocol.Reason]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[protocol.Reason]uint64, len(c.counts))
	for r, v := range c.counts {
		out[r] = v
	}
	return out
}

// Publish signs an envelope of type typ and publishes it on topic. The envelope's `to` is this
// node's key, as for an envelope without recipients.
func (n *Node) Publish(ctx context.Context, topic string, typ string, payload any) (string, error) {
	t, err := n.join(topic)
	if err != nil {
		return "", err
	}
	env, err := protocol.CreateEnvelope(n.cfg.Identity, typ, nil, payload, nil)
	if err != nil {
		return "", err
	}
	data, err := env.MarshalJSON()
	if err != nil {
		return "", err
	}
	if err := t.Publish(ctx, data); err != nil {
		return env.ID, fmt.Errorf("publish %s on topic %q: %w", env.ID, topic, err)
	}
	return env.ID, nil
}

// Subscription receives the envelopes published on one topic by other nodes.
type Subscription struct {
	n     *Node
	topic string
	sub   *pubsub.Subscription
}

// Subscribe starts receiving the envelopes of topic. Call Cancel when done.
func (n *Node) Subscribe(topic string) (*Subscription, error) {
	t, err := n.join(topic)
	if err != nil {
		return nil, err
	}
	sub, err := t.Subscribe()
	if err != nil {
		return nil, fmt.Errorf("subscribe to topic %q: %w", topic, err)
	}
	return &Subscription{n: n, topic: topic, sub: sub}, nil
}

// Next returns the next envelope published by another node. It returns an error when ctx
// ends or the subscription is cancelled.
func (s *Subscription) Next(ctx context.Context) (Inbound, error) {
	for {
		m, err := s.sub.Next(ctx)
		if err != nil {
			return Inbound{}, err
		}
		if m.ReceivedFrom == s.n.host.ID() {
			continue
		}
		env, ok := m.ValidatorData.(*protocol.Envelope)
		if !ok {
			continue
		}
		return Inbound{Envelope: env, Via: Via{Kind: ViaTopic, Peer: m.ReceivedFrom, Topic: s.topic}}, nil
	}
}

// Topic returns the topic name.
func (s *Subscription) Topic() string { return s.topic }

// Cancel ends the subscription.
func (s *Subscription) Cancel() { s.sub.Cancel() }

// TopicPeers returns the peers known to subscribe to topic.
func (n *Node) TopicPeers(topic string) []peer.ID {
	return n.pubsub.ListPeers(TopicPrefix + topic)
}

func (n *Node) closeTopics() {
	n.topicsMu.Lock()
	defer n.topicsMu.Unlock()
	for name, ts := range n.topics {
		// Close fails while subscriptions are open; cancelling the node's context stops
		// gossipsub and them anyway.
		_ = ts.topic.Close()
		delete(n.topics, name)
	}
}
