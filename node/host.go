package node

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"
)

// newHost builds the libp2p host with explicit transports, security, muxer, resource and
// connection limits. Nothing here falls back to go-libp2p's defaults that reach the internet.
func newHost(cfg Config, staticRelays []peer.AddrInfo) (host.Host, error) {
	limiter := rcmgr.NewFixedLimiter(resourceLimits(cfg))
	rm, err := rcmgr.NewResourceManager(limiter)
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(cfg.ConnLowWater, cfg.ConnHighWater, connmgr.WithGracePeriod(cfg.ConnGracePeriod))
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("connection manager: %w", err)
	}

	opts := []libp2p.Option{
		libp2p.Identity(cfg.Identity.Libp2p()),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(tls.ID, tls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.WithDialTimeout(cfg.DialTimeout),
		libp2p.EnableRelay(),
	}
	if cfg.EnableWebSocket {
		opts = append(opts, libp2p.Transport(websocket.New))
	}
	if cfg.Metrics != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(cfg.Metrics))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	opts = append(opts, reachabilityOptions(cfg, staticRelays)...)
	h, err := libp2p.New(opts...)
	if err != nil {
		// libp2p.New closes them only on some of its error paths; closing twice is harmless.
		_ = cm.Close()
		_ = rm.Close()
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}
	return h, nil
}

func reachabilityOptions(cfg Config, staticRelays []peer.AddrInfo) []libp2p.Option {
	var opts []libp2p.Option
	switch cfg.Reachability {
	case ReachabilityPublic:
		opts = append(opts, libp2p.ForceReachabilityPublic())
	case ReachabilityPrivate:
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	}
	if cfg.AutoNATService || cfg.RelayService {
		opts = append(opts, libp2p.EnableNATService())
	}
	if !cfg.DisableHolePunching {
		opts = append(opts, libp2p.EnableHolePunching())
	}
	if !cfg.DisableRelayClient && len(staticRelays) > 0 {
		opts = append(opts, libp2p.EnableAutoRelayWithStaticRelays(staticRelays,
			autorelay.WithNumRelays(min(len(staticRelays), 2)),
			autorelay.WithBootDelay(0)))
	}
	return opts
}

// resourceLimits scales go-libp2p's default limits, with its service limits, to the configured
// memory and file descriptors, and bounds the inbound streams of the agora protocols per peer.
func resourceLimits(cfg Config) rcmgr.ConcreteLimitConfig {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	streams := cfg.MaxStreamsPeer
	// A frame in flight in each direction, plus yamux's receive window.
	memory := int64(2*cfg.Limits.MaxBytes) + 16<<20
	for _, id := range []protocol.ID{EnvelopeProtocol, ForwardProtocol} {
		scaling.AddProtocolPeerLimit(id,
			rcmgr.BaseLimit{StreamsInbound: streams, StreamsOutbound: streams, Streams: 2 * streams, Memory: memory},
			rcmgr.BaseLimitIncrease{})
	}
	// Each stream reserves the body of the frame it reads, so one stream must fit a whole frame.
	scaling.StreamBaseLimit.Memory = max(scaling.StreamBaseLimit.Memory, int64(cfg.Limits.MaxBytes)+1<<20)
	return scaling.Scale(cfg.MaxMemory, cfg.MaxFileDescs)
}
