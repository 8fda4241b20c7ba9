package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	circuitproto "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// MDNSServiceName is the mDNS service name under which agora nodes find each other on a LAN.
const MDNSServiceName = "agora"

// DHT protocol IDs: /agora/kad/1.0.0, and /agora/lan/kad/1.0.0 with PrivateNetwork.
const (
	DHTProtocolPrefix = "/agora"
	DHTLANExtension   = "/lan"
)

// maxMDNSDials bounds concurrent dials to peers found by mDNS, so a LAN flood of
// announcements cannot start unbounded goroutines.
const maxMDNSDials = 8

var errPeerNotFound = errors.New("peer not found: no known address, and neither the DHT nor a relay reached it")

// newDHT starts the Kademlia DHT with only the configured bootstrap peers. Without
// PrivateNetwork it keeps go-libp2p-kad-dht's public filters; with it, the LAN filters, which
// keep private and loopback addresses.
func (n *Node) newDHT(bootstrap []peer.AddrInfo) (*dht.IpfsDHT, error) {
	mode := map[DHTMode]dht.ModeOpt{DHTAuto: dht.ModeAuto, DHTServer: dht.ModeServer, DHTClient: dht.ModeClient}[n.cfg.DHTMode]
	opts := []dht.Option{
		dht.Mode(mode),
		// The agora DHT is separate from the IPFS one: it holds only agora peers.
		dht.ProtocolPrefix(DHTProtocolPrefix),
		// An empty list replaces the public IPFS bootstrap peers, which must never be used.
		dht.BootstrapPeers(bootstrap...),
		dht.DisableProviders(),
		dht.DisableValues(),
	}
	if n.cfg.PrivateNetwork {
		opts = append(opts,
			// As in the IPFS LAN DHT, a private network speaks its own protocol ID, so its
			// private addresses never leak into the public DHT.
			dht.ProtocolExtension(DHTLANExtension),
			dht.QueryFilter(dht.PrivateQueryFilter),
			dht.RoutingTableFilter(dht.PrivateRoutingTableFilter),
			dht.AddressFilter(nil))
	} else {
		opts = append(opts,
			dht.QueryFilter(dht.PublicQueryFilter),
			dht.RoutingTableFilter(dht.PublicRoutingTableFilter),
			dht.AddressFilter(publicAddrs))
	}
	return dht.New(n.host, opts...)
}

func publicAddrs(addrs []multiaddr.Multiaddr) []multiaddr.Multiaddr {
	out := make([]multiaddr.Multiaddr, 0, len(addrs))
	for _, a := range addrs {
		if manet.IsPublicAddr(a) {
			out = append(out, a)
		}
	}
	return out
}

// connectBootstrap dials every bootstrap peer concurrently within BootstrapTimeout and
// returns how many connected. Failures are logged, not fatal: a node may start before its
// bootstrap peers.
func (n *Node) connectBootstrap(peers []peer.AddrInfo) int {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.BootstrapTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	connected := 0
	for _, pi := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.host.Connect(ctx, pi); err != nil {
				n.log.Warn("bootstrap peer unreachable", "peer", pi.ID, "err", err)
				return
			}
			n.host.ConnManager().Protect(pi.ID, "agora-bootstrap")
			mu.Lock()
			connected++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return connected
}

// waitRoutingTable waits, up to BootstrapTimeout, for the DHT routing table to hold a peer,
// which happens once identify confirms that a connected peer serves the DHT. Until then a
// lookup fails at once.
func (n *Node) waitRoutingTable() {
	deadline := time.NewTimer(n.cfg.BootstrapTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for n.dht.RoutingTable().Size() == 0 {
		select {
		case <-tick.C:
		case <-deadline.C:
			n.log.Warn("DHT routing table still empty after bootstrap", "timeout", n.cfg.BootstrapTimeout)
			return
		case <-n.ctx.Done():
			return
		}
	}
}

// mdnsNotifee dials peers announced over mDNS.
type mdnsNotifee struct {
	n     *Node
	slots chan struct{}
}

func (m *mdnsNotifee) HandlePeerFound(pi peer.AddrInfo) {
	if pi.ID == m.n.host.ID() {
		return
	}
	select {
	case m.slots <- struct{}{}:
	default:
		m.n.log.Debug("mDNS peer ignored: too many dials in progress", "peer", pi.ID)
		return
	}
	if !m.n.goTracked(func() {
		defer func() { <-m.slots }()
		ctx, cancel := context.WithTimeout(m.n.ctx, m.n.cfg.DialTimeout)
		defer cancel()
		if err := m.n.host.Connect(ctx, pi); err != nil {
			m.n.log.Debug("mDNS peer unreachable", "peer", pi.ID, "err", err)
			return
		}
		m.n.log.Info("connected to mDNS peer", "peer", pi.ID)
	}) {
		<-m.slots
	}
}

func (n *Node) startMDNS() error {
	svc := mdns.NewMdnsService(n.host, MDNSServiceName, &mdnsNotifee{n: n, slots: make(chan struct{}, maxMDNSDials)})
	if err := svc.Start(); err != nil {
		return fmt.Errorf("start mDNS: %w", err)
	}
	n.mdns = svc
	return nil
}

// ensureConnected makes sure there is a connection to p, possibly a relayed one. It tries the
// addresses in the peerstore, then a DHT lookup, then a circuit through each static relay.
func (n *Node) ensureConnected(ctx context.Context, p peer.ID) error {
	if n.host.Network().Connectedness(p) == network.Connected || n.hasLimitedConn(p) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.DialTimeout)
	defer cancel()
	var errs []error
	if addrs := n.host.Peerstore().Addrs(p); len(addrs) > 0 {
		err := n.host.Connect(ctx, peer.AddrInfo{ID: p, Addrs: addrs})
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("known addresses: %w", err))
	}
	if n.dht != nil {
		pi, err := n.dht.FindPeer(ctx, p)
		if err == nil {
			if err = n.host.Connect(ctx, pi); err == nil {
				return nil
			}
		}
		errs = append(errs, fmt.Errorf("DHT: %w", err))
	}
	if err := n.connectViaRelays(ctx, p); err == nil {
		return nil
	} else if !errors.Is(err, errNoRelays) {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return fmt.Errorf("connect to %s: %w", p, errPeerNotFound)
	}
	return fmt.Errorf("connect to %s: %w", p, errors.Join(errs...))
}

var errNoRelays = errors.New("no static relay to dial through")

func (n *Node) connectViaRelays(ctx context.Context, p peer.ID) error {
	if n.cfg.DisableRelayClient || len(n.relays) == 0 {
		return errNoRelays
	}
	var errs []error
	for _, relay := range n.relays {
		if relay.ID == p || !n.mayRelay(relay.ID) {
			continue
		}
		circuit, err := multiaddr.NewMultiaddr("/p2p/" + relay.ID.String() + "/p2p-circuit")
		if err != nil {
			return err
		}
		addrs := make([]multiaddr.Multiaddr, 0, len(relay.Addrs))
		for _, a := range relay.Addrs {
			addrs = append(addrs, a.Encapsulate(circuit))
		}
		// Circuit addresses are short-lived: a relay drops them when the reservation ends.
		n.host.Peerstore().AddAddrs(p, addrs, peerstore.TempAddrTTL)
		err = n.host.Connect(ctx, peer.AddrInfo{ID: p, Addrs: addrs})
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("relay %s: %w", relay.ID, err))
	}
	if len(errs) == 0 {
		return errNoRelays
	}
	return errors.Join(errs...)
}

// mayRelay reports whether relay may run the circuit relay service: identify has not yet
// listed its protocols, or listed the relay hop protocol. Bootstrap peers without the relay
// service are skipped this way.
func (n *Node) mayRelay(relay peer.ID) bool {
	ps := n.host.Peerstore()
	known, err := ps.GetProtocols(relay)
	if err != nil || len(known) == 0 {
		return true
	}
	hop, err := ps.SupportsProtocols(relay, circuitproto.ProtoIDv2Hop)
	return err == nil && len(hop) > 0
}

func (n *Node) hasLimitedConn(p peer.ID) bool {
	return n.host.Network().Connectedness(p) == network.Limited
}
