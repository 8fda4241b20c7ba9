package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	libp2pprotocol "github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multiaddr"

	"github.com/agora-p2p/agora/protocol"
)

// SendOptions are the optional parameters of Send.
type SendOptions struct {
	InReplyTo string
	// Addrs are extra addresses for the recipients. An address ending in /p2p/<id> applies to
	// that peer; one without applies to every recipient.
	Addrs []multiaddr.Multiaddr
}

// Send signs one envelope listing every recipient in `to` and delivers it to each of them over
// /agora/envelope/1.0.0. Recipients are agora public keys in SPKI hex or peer IDs; an empty
// list addresses the envelope to this node. Send returns the envelope ID once every recipient
// acked ok. Otherwise it returns the ID with the error of the first recipient, in the order of
// `to`, that failed; protocol.ReasonOf gives that recipient's Reason.
func (n *Node) Send(ctx context.Context, to []string, typ string, payload any, opts *SendOptions) (string, error) {
	if opts == nil {
		opts = &SendOptions{}
	}
	keys, err := parseRecipients(to)
	if err != nil {
		return "", err
	}
	hexKeys := make([]string, len(keys))
	for i, k := range keys {
		hexKeys[i] = k.String()
	}
	env, err := protocol.CreateEnvelope(n.cfg.Identity, typ, hexKeys, payload, &protocol.CreateOptions{InReplyTo: opts.InReplyTo})
	if err != nil {
		return "", err
	}
	n.addSendAddrs(keys, opts.Addrs)

	return env.ID, n.deliverAll(ctx, env)
}

// deliverAll delivers env to every key in its `to` concurrently and returns the first error
// in the order of `to`.
func (n *Node) deliverAll(ctx context.Context, env *protocol.Envelope) error {
	// CreateEnvelope drops repeated recipients and turns an empty list into this node's key.
	recipients, err := env.Recipients()
	if err != nil {
		return err
	}
	errs := make([]error, len(recipients))
	var wg sync.WaitGroup
	for i, k := range recipients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.deliverTo(ctx, k, env)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func parseRecipients(to []string) ([]protocol.PublicKey, error) {
	keys := make([]protocol.PublicKey, 0, len(to))
	for _, s := range to {
		k, err := protocol.ParsePublicKey(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("invalid recipient %q (want an agora public key or a peer ID): %w", s, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func (n *Node) addSendAddrs(keys []protocol.PublicKey, addrs []multiaddr.Multiaddr) {
	for _, a := range addrs {
		if id, err := peer.IDFromP2PAddr(a); err == nil {
			transport, _ := peer.SplitAddr(a)
			if transport != nil {
				n.host.Peerstore().AddAddr(id, transport, peerstore.TempAddrTTL)
			}
			continue
		}
		for _, k := range keys {
			n.host.Peerstore().AddAddr(k.PeerID(), a, peerstore.TempAddrTTL)
		}
	}
}

// deliverTo hands env to one recipient; this node's own key takes the local ingress path.
func (n *Node) deliverTo(ctx context.Context, k protocol.PublicKey, env *protocol.Envelope) error {
	if k.String() == n.selfKey {
		err := n.admit(ctx, env, Via{Kind: ViaDirect, Peer: n.host.ID()}, n.selfKey, time.Now())
		if err != nil {
			return fmt.Errorf("deliver %s to this node: %w", env.ID, err)
		}
		return nil
	}
	return n.SendEnvelope(ctx, k.PeerID(), env)
}

// SendEnvelope delivers an envelope signed by this node to one peer over
// /agora/envelope/1.0.0 and waits for the ack. The error of a negative ack carries the
// receiver's Reason (protocol.ReasonOf).
func (n *Node) SendEnvelope(ctx context.Context, to peer.ID, env *protocol.Envelope) error {
	if env.From != n.selfKey {
		return fmt.Errorf("send envelope %s: from is not this node's key; use Forward for envelopes of other senders", env.ID)
	}
	return n.deliver(ctx, to, EnvelopeProtocol, env)
}

// Forward delivers an envelope signed by someone else to one peer over /agora/forward/1.0.0
// and waits for the ack. Relay nodes use it to bring their clients' envelopes into the mesh.
func (n *Node) Forward(ctx context.Context, to peer.ID, env *protocol.Envelope) error {
	return n.deliver(ctx, to, ForwardProtocol, env)
}

// deliver sends one frame, retrying once on a new stream when the stream broke before the ack.
// A ReasonDuplicate ack to the retry means the first attempt arrived.
func (n *Node) deliver(ctx context.Context, to peer.ID, proto libp2pprotocol.ID, env *protocol.Envelope) error {
	if to == n.host.ID() {
		return fmt.Errorf("deliver %s: %s is this node", env.ID, to)
	}
	frame, err := env.MarshalJSON()
	if err != nil {
		return err
	}
	if len(frame) > n.cfg.Limits.MaxBytes {
		return &protocol.Error{Reason: protocol.ReasonTooLarge,
			Detail: fmt.Sprintf("envelope is %d bytes, limit %d", len(frame), n.cfg.Limits.MaxBytes)}
	}
	key := outKey{peer: to, proto: proto}
	err = n.deliverOnce(ctx, key, env.ID, frame)
	if errors.Is(err, errStreamBroken) && ctx.Err() == nil {
		n.log.Debug("retrying delivery on a new stream", "peer", to, "envelope", env.ID, "err", err)
		err = n.deliverOnce(ctx, key, env.ID, frame)
		if protocol.ReasonOf(err) == protocol.ReasonDuplicate {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("deliver %s to %s: %w", env.ID, to, err)
	}
	return nil
}

func (n *Node) deliverOnce(ctx context.Context, key outKey, id string, frame []byte) error {
	st, err := n.out.get(ctx, key)
	if err != nil {
		return err
	}
	return st.send(ctx, id, frame)
}
