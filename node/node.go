package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/multiformats/go-multiaddr"

	"github.com/agora-p2p/agora/protocol"
)

// ErrClosed is returned by operations on a closed Node.
var ErrClosed = errors.New("node is closed")

// Node is an agora peer: a libp2p host whose identity is the agent's Ed25519 key, serving the
// envelope and forward stream protocols, gossipsub topics and peer discovery.
type Node struct {
	cfg     Config
	log     *slog.Logger
	selfKey string // agora SPKI hex of the identity

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	host   host.Host
	dht    *dht.IpfsDHT // nil with DHTOff
	mdns   mdns.Service // nil with DisableMDNS
	relay  *relayv2.Relay
	relays []peer.AddrInfo // static relays for dialing through circuits

	guard      *protocol.Guard // envelope and forward protocols
	peerRate   *protocol.RateLimiter
	forwarders *protocol.RateLimiter
	handler    Handler
	inbound    chan Inbound
	rejected   reasonCounter // negative acks sent, by reason
	// activeStreams counts the inbound envelope and forward streams being served.
	activeStreams atomic.Int64

	out *outbound

	pubsub    *pubsub.PubSub
	topicGate *protocol.Guard
	// topicInvalid counts topic messages that failed protocol.Verify; protocol reasons are a
	// small fixed set, so the map stays small.
	topicInvalid reasonCounter
	topicsMu     sync.Mutex
	topics       map[string]*topicState

	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup
}

// New starts a node: the libp2p host, the stream protocols, the DHT, mDNS and the relay
// service as configured, and dials the bootstrap peers. Cancelling ctx after New returns does
// not stop the node; Close does.
func New(ctx context.Context, cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	bootstrap, err := parseAddrInfos(cfg.BootstrapPeers)
	if err != nil {
		return nil, fmt.Errorf("bootstrap peers: %w", err)
	}
	static, err := parseAddrInfos(cfg.StaticRelays)
	if err != nil {
		return nil, fmt.Errorf("static relays: %w", err)
	}
	relays := mergeAddrInfos(static, bootstrap)

	h, err := newHost(cfg, relays)
	if err != nil {
		return nil, err
	}
	n := newNode(cfg, h, relays)
	if err := n.start(ctx, bootstrap); err != nil {
		_ = n.Close()
		return nil, err
	}
	n.log.Info("node started", "peer", n.PeerID(), "addrs", n.Addrs())
	return n, nil
}

func newNode(cfg Config, h host.Host, relays []peer.AddrInfo) *Node {
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "node"),
		selfKey:    cfg.Identity.PublicKey().String(),
		ctx:        ctx,
		cancel:     cancel,
		host:       h,
		relays:     relays,
		guard:      protocol.NewGuard(cfg.Guard),
		topicGate:  protocol.NewGuard(cfg.Guard),
		peerRate:   newLimiter(cfg.PeerRate, cfg.PeerBurst),
		forwarders: newLimiter(cfg.ForwardRate, 0),
		handler:    cfg.Handler,
		inbound:    make(chan Inbound, cfg.InboundBuffer),
		topics:     make(map[string]*topicState),
	}
	n.out = newOutbound(n)
	if n.handler == nil {
		n.handler = n.deliverInbound
	}
	return n
}

// newLimiter builds the per-peer limiter; a negative rate turns it off.
func newLimiter(perMinute float64, burst int) *protocol.RateLimiter {
	if perMinute < 0 {
		perMinute = 0
	}
	if burst <= 0 {
		burst = int(perMinute)
	}
	return protocol.NewRateLimiter(perMinute, burst, DefaultMaxPeerTracking)
}

func (n *Node) start(ctx context.Context, bootstrap []peer.AddrInfo) error {
	n.host.SetStreamHandler(EnvelopeProtocol, n.handleEnvelopeStream)
	n.host.SetStreamHandler(ForwardProtocol, n.handleForwardStream)

	if n.cfg.RelayService {
		r, err := relayv2.New(n.host, relayv2.WithResources(n.cfg.RelayServiceLimits.resources()))
		if err != nil {
			return fmt.Errorf("start relay service: %w", err)
		}
		n.relay = r
	}
	if n.cfg.DHTMode != DHTOff {
		d, err := n.newDHT(bootstrap)
		if err != nil {
			return fmt.Errorf("start DHT: %w", err)
		}
		n.dht = d
	}

	ps, err := n.newPubSub()
	if err != nil {
		return fmt.Errorf("start gossipsub: %w", err)
	}
	n.pubsub = ps
	if !n.cfg.DisableMDNS {
		if err := n.startMDNS(); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	if len(bootstrap) > 0 {
		connected := n.connectBootstrap(bootstrap)
		n.log.Info("bootstrap peers connected", "connected", connected, "configured", len(bootstrap))
		if connected > 0 && n.dht != nil {
			n.waitRoutingTable()
		}
	}
	if n.dht != nil {
		if err := n.dht.Bootstrap(n.ctx); err != nil {
			return fmt.Errorf("bootstrap DHT: %w", err)
		}
	}
	return nil
}

// mergeAddrInfos joins two lists, merging the addresses of a peer listed in both.
func mergeAddrInfos(a, b []peer.AddrInfo) []peer.AddrInfo {
	out := make([]peer.AddrInfo, 0, len(a)+len(b))
	index := make(map[peer.ID]int)
	for _, pi := range append(append([]peer.AddrInfo{}, a...), b...) {
		if i, ok := index[pi.ID]; ok {
			out[i].Addrs = append(out[i].Addrs, pi.Addrs...)
			continue
		}
		index[pi.ID] = len(out)
		out = append(out, peer.AddrInfo{ID: pi.ID, Addrs: append([]multiaddr.Multiaddr{}, pi.Addrs...)})
	}
	return out
}

// goTracked runs f on a goroutine that Close waits for. It returns false, without running f,
// once the node is closing.
func (n *Node) goTracked(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// track registers the calling goroutine with Close; it returns false once the node is closing.
// The caller calls n.wg.Done when it returns true.
func (n *Node) track() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	return true
}

// Close stops the node: it closes outbound streams, the discovery services, the relay service
// and the host, then waits for every goroutine the node started. Inbound() is closed after
// that. Close is safe to call more than once.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()

	n.cancel()
	var errs []error
	n.out.closeAll()
	n.closeTopics()
	if n.mdns != nil {
		errs = append(errs, n.mdns.Close())
	}
	if n.dht != nil {
		errs = append(errs, n.dht.Close())
	}
	if n.relay != nil {
		errs = append(errs, n.relay.Close())
	}
	errs = append(errs, n.host.Close())
	n.wg.Wait()
	close(n.inbound)
	n.log.Info("node stopped", "peer", n.host.ID())
	return errors.Join(errs...)
}

// Host returns the libp2p host.
func (n *Node) Host() host.Host { return n.host }

// Identity returns the node's key pair.
func (n *Node) Identity() *protocol.KeyPair { return n.cfg.Identity }

// PeerID returns the node's peer ID, which encodes its agora public key.
func (n *Node) PeerID() peer.ID { return n.host.ID() }

// Addrs returns the node's listen addresses, each ending in /p2p/<peer id>.
func (n *Node) Addrs() []multiaddr.Multiaddr {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()})
	if err != nil {
		return nil
	}
	return addrs
}

// Peers returns the peers with an open connection.
func (n *Node) Peers() []peer.ID { return n.host.Network().Peers() }

// Connect dials a full multiaddr ending in /p2p/<peer id> and returns the peer ID.
func (n *Node) Connect(ctx context.Context, addr string) (peer.ID, error) {
	infos, err := parseAddrInfos([]string{addr})
	if err != nil {
		return "", err
	}
	pi := infos[0]
	if err := n.host.Connect(ctx, pi); err != nil {
		return "", fmt.Errorf("connect to %s: %w", addr, err)
	}
	return pi.ID, nil
}

// Inbound returns the envelopes accepted by the default handler. It is closed by Close.
func (n *Node) Inbound() <-chan Inbound { return n.inbound }

// Drops returns the number of envelopes rejected on the envelope and forward protocols, by
// the reason sent in the ack.
func (n *Node) Drops() map[protocol.Reason]uint64 { return n.rejected.snapshot() }
