package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/agora-p2p/agora/protocol"
)

// Default listen addresses: TCP and QUIC on port 4001, IPv4 and IPv6.
var DefaultListenAddrs = []string{
	"/ip4/0.0.0.0/tcp/4001",
	"/ip4/0.0.0.0/udp/4001/quic-v1",
	"/ip6/::/tcp/4001",
	"/ip6/::/udp/4001/quic-v1",
}

// Defaults of Config.
const (
	DefaultPeerRate         = 600  // envelopes per minute per transport peer
	DefaultForwardRate      = 6000 // envelopes per minute per forwarding peer
	DefaultInboundBuffer    = 1024
	DefaultWindow           = 64
	DefaultFrameTimeout     = 30 * time.Second
	DefaultAckTimeout       = 30 * time.Second
	DefaultIdleTimeout      = 2 * time.Minute
	DefaultDialTimeout      = 15 * time.Second
	DefaultConnLowWater     = 100
	DefaultConnHighWater    = 400
	DefaultConnGracePeriod  = time.Minute
	DefaultMaxMemory        = 512 << 20
	DefaultMaxFileDescs     = 1024
	DefaultMaxPeerTracking  = 10_000
	DefaultMaxStreamsPeer   = 8 // inbound envelope or forward streams per peer
	DefaultBootstrapTimeout = 10 * time.Second
)

// DHTMode selects the Kademlia DHT mode.
type DHTMode string

// DHT modes. DHTAuto serves the DHT only when AutoNAT finds the node publicly reachable.
const (
	DHTAuto   DHTMode = "auto"
	DHTServer DHTMode = "server"
	DHTClient DHTMode = "client"
	DHTOff    DHTMode = "off"
)

// Reachability overrides AutoNAT's verdict on whether this node is publicly reachable.
type Reachability string

// Reachability values. ReachabilityPrivate makes the relay client reserve slots on the static
// relays at once instead of waiting for AutoNAT.
const (
	ReachabilityAuto    Reachability = ""
	ReachabilityPublic  Reachability = "public"
	ReachabilityPrivate Reachability = "private"
)

// RelayServiceLimits bounds the circuit relay v2 service. The zero value takes go-libp2p's
// defaults (relay.DefaultResources: 128 reservations, 16 circuits per peer, 2 minutes and
// 128 KiB per relayed connection).
type RelayServiceLimits struct {
	MaxReservations      int
	MaxReservationsPerIP int
	MaxCircuits          int           // open relayed connections per peer
	ReservationTTL       time.Duration // lifetime of a reservation before its refresh
	ConnDuration         time.Duration // lifetime of one relayed connection
	ConnData             int64         // bytes relayed in each direction per connection
}

func (l RelayServiceLimits) resources() relayv2.Resources {
	rc := relayv2.DefaultResources()
	if l.MaxReservations > 0 {
		rc.MaxReservations = l.MaxReservations
	}
	if l.MaxReservationsPerIP > 0 {
		rc.MaxReservationsPerIP = l.MaxReservationsPerIP
	}
	if l.MaxCircuits > 0 {
		rc.MaxCircuits = l.MaxCircuits
	}
	if l.ReservationTTL > 0 {
		rc.ReservationTTL = l.ReservationTTL
	}
	if l.ConnDuration > 0 {
		rc.Limit.Duration = l.ConnDuration
	}
	if l.ConnData > 0 {
		rc.Limit.Data = l.ConnData
	}
	return rc
}

// Config configures a Node. Only Identity is required; zero fields take the defaults above.
type Config struct {
	Identity *protocol.KeyPair

	// ListenAddrs are multiaddrs to listen on; nil means DefaultListenAddrs.
	ListenAddrs []string
	// BootstrapPeers are full multiaddrs ending in /p2p/<id>. They seed the DHT, and those
	// that run the relay service serve as static relays for the relay client.
	BootstrapPeers []string
	// StaticRelays are full multiaddrs of relay nodes to reserve slots on, in addition to the
	// bootstrap peers.
	StaticRelays []string
	DisableMDNS  bool
	// RelayService runs the circuit relay v2 service and the DHT in server mode, so the node
	// can serve as a bootstrap peer and relay.
	RelayService       bool
	RelayServiceLimits RelayServiceLimits
	// DisableRelayClient turns off reservations on relays and dialing through them.
	DisableRelayClient bool
	// DisableHolePunching turns off DCUtR, which upgrades relayed connections to direct ones.
	DisableHolePunching bool
	// AutoNATService serves other peers' AutoNAT dial-back requests, so they learn whether
	// they are publicly reachable. It is always on with RelayService.
	AutoNATService bool
	Reachability   Reachability
	// PrivateNetwork lets the DHT store and query private and loopback addresses, for a LAN
	// or a test network. Without it, the DHT keeps only public addresses.
	PrivateNetwork  bool
	EnableWebSocket bool
	// DHTMode is the DHT mode; "" means DHTServer with RelayService, else DHTAuto.
	DHTMode DHTMode

	Limits protocol.Limits // zero fields take protocol.DefaultLimits
	// Guard configures the ingress guards of the envelope and forward protocols. Topic
	// messages get a separate Guard built from the same configuration.
	Guard protocol.GuardConfig
	// PeerRate is envelopes per minute per transport peer on /agora/envelope/1.0.0; 0 means
	// DefaultPeerRate, a negative value turns the limit off.
	PeerRate  float64
	PeerBurst int // 0 means one minute's worth of PeerRate
	// ForwardRate is envelopes per minute per forwarding peer on /agora/forward/1.0.0; 0 means
	// DefaultForwardRate, a negative value turns the limit off.
	ForwardRate float64
	// Handler decides the ack of each envelope received on a stream; nil means the default
	// handler, which delivers envelopes addressed to this node to Inbound().
	Handler       Handler
	InboundBuffer int // capacity of Inbound(); 0 means DefaultInboundBuffer

	Window       int           // envelopes in flight per outbound stream; 0 means DefaultWindow
	FrameTimeout time.Duration // time to read or write one frame once it started
	AckTimeout   time.Duration // time a sender waits for an ack
	IdleTimeout  time.Duration // an inbound stream with no frame for this long is closed
	DialTimeout  time.Duration

	ConnLowWater    int
	ConnHighWater   int
	ConnGracePeriod time.Duration
	// MaxMemory and MaxFileDescs scale the libp2p resource manager's limits.
	MaxMemory      int64
	MaxFileDescs   int
	MaxStreamsPeer int // inbound streams per peer for each agora protocol

	BootstrapTimeout time.Duration
	// Metrics registers libp2p's metrics; nil turns them off.
	Metrics prometheus.Registerer
	Logger  *slog.Logger
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.ListenAddrs == nil {
		c.ListenAddrs = DefaultListenAddrs
	}
	if c.DHTMode == "" {
		c.DHTMode = DHTAuto
		if c.RelayService {
			c.DHTMode = DHTServer
		}
	}
	c.Limits = c.Limits.WithDefaults()
	setDefault(&c.PeerRate, DefaultPeerRate)
	setDefault(&c.ForwardRate, DefaultForwardRate)
	setDefault(&c.InboundBuffer, DefaultInboundBuffer)
	setDefault(&c.Window, DefaultWindow)
	setDefault(&c.FrameTimeout, DefaultFrameTimeout)
	setDefault(&c.AckTimeout, DefaultAckTimeout)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.DialTimeout, DefaultDialTimeout)
	setDefault(&c.ConnLowWater, DefaultConnLowWater)
	setDefault(&c.ConnHighWater, DefaultConnHighWater)
	setDefault(&c.ConnGracePeriod, DefaultConnGracePeriod)
	setDefault(&c.MaxMemory, DefaultMaxMemory)
	setDefault(&c.MaxFileDescs, DefaultMaxFileDescs)
	setDefault(&c.MaxStreamsPeer, DefaultMaxStreamsPeer)
	setDefault(&c.BootstrapTimeout, DefaultBootstrapTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func setDefault[T int | int64 | float64 | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

func (c Config) validate() error {
	if c.Identity == nil {
		return errors.New("node config: Identity is required")
	}
	switch c.DHTMode {
	case DHTAuto, DHTServer, DHTClient, DHTOff:
	default:
		return fmt.Errorf("node config: invalid DHTMode %q (want auto, server, client or off)", c.DHTMode)
	}
	switch c.Reachability {
	case ReachabilityAuto, ReachabilityPublic, ReachabilityPrivate:
	default:
		return fmt.Errorf("node config: invalid Reachability %q (want public, private or empty)", c.Reachability)
	}
	if c.ConnLowWater > c.ConnHighWater {
		return fmt.Errorf("node config: ConnLowWater %d is above ConnHighWater %d", c.ConnLowWater, c.ConnHighWater)
	}
	return nil
}

// parseAddrInfos parses full multiaddrs ending in /p2p/<id>, merging addresses of one peer.
func parseAddrInfos(addrs []string) ([]peer.AddrInfo, error) {
	mas := make([]multiaddr.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		ma, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("invalid multiaddr %q: %w", s, err)
		}
		mas = append(mas, ma)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("invalid peer address (want a multiaddr ending in /p2p/<peer id>): %w", err)
	}
	return infos, nil
}

// Via describes how an envelope reached this node.
type Via struct {
	Kind  string  `json:"kind"`            // ViaDirect, ViaForwarded or ViaTopic
	Peer  peer.ID `json:"peer"`            // transport peer; the forwarding relay for ViaForwarded
	Topic string  `json:"topic,omitempty"` // set for ViaTopic
}

// Kinds of Via.
const (
	ViaDirect    = "direct"
	ViaForwarded = "forwarded"
	ViaTopic     = "topic"
)

// Inbound is an envelope received by this node. It marshals to JSON as
// {"envelope":{...wire form...},"via":{"kind":"direct","peer":"12D3..."}}.
type Inbound struct {
	Envelope *protocol.Envelope `json:"envelope"`
	Via      Via                `json:"via"`
}

// Handler decides the ack of an envelope that passed verification and the ingress guards: a
// nil error acks ok, and a *protocol.Error's Reason and Detail are sent back. Any other error
// is sent back as ReasonRejected with a fixed message, and its text is only logged. It runs on the stream's goroutine, so it must not block for long.
type Handler func(ctx context.Context, in Inbound) error
