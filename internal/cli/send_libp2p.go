package cli

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/agora-p2p/agora/node"
)

// senderListenAddrs are ephemeral ports: a sending node only dials, but a listener lets the
// receiver upgrade a relayed connection to a direct one.
var senderListenAddrs = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}

// sendLibp2p starts a short-lived node, connects to the recipient through the known addresses,
// then, unless --direct, through the DHT and circuit relays, and waits for the ack.
func (a *app) sendLibp2p(ctx context.Context, p *sendPlan) error {
	cfg := node.Config{
		Identity:    p.key,
		ListenAddrs: senderListenAddrs,
		DisableMDNS: true,
		DHTMode:     node.DHTOff,
		Logger:      a.log,
		// The recipient's addresses may be private or loopback ones on a LAN or test network.
		PrivateNetwork: p.flags.privateNet,
	}
	if p.flags.direct {
		cfg.DisableRelayClient = true
	} else if len(p.boot) > 0 {
		cfg.BootstrapPeers = p.boot
		cfg.DHTMode = node.DHTClient
	}
	n, err := node.New(ctx, cfg)
	if err != nil {
		return fmt.Errorf("start node: %w", err)
	}
	defer func() {
		if err := n.Close(); err != nil {
			a.log.Warn("close sending node", "err", err)
		}
	}()
	target := p.to.Key.PeerID()
	if err := addPeerAddrs(n, target, p.addrs); err != nil {
		return err
	}
	if err := n.SendEnvelope(ctx, target, p.env); err != nil {
		return err
	}
	return nil
}

// addPeerAddrs puts the multiaddrs of target into the node's peerstore. An address ending in
// /p2p/<id> must name target; checkPeerAddrs has verified that.
func addPeerAddrs(n *node.Node, target peer.ID, addrs []string) error {
	for _, s := range addrs {
		addr, err := ma.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("invalid multiaddr %q: %w", s, err)
		}
		transport, _ := peer.SplitAddr(addr)
		if transport == nil {
			return fmt.Errorf("multiaddr %q has no transport part", s)
		}
		n.Host().Peerstore().AddAddr(target, transport, peerstore.TempAddrTTL)
	}
	return nil
}
