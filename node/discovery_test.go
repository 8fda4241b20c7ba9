package node

import (
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

func TestDHTFindsPeerByID(t *testing.T) {
	b := newTestNode(t, nil)
	bootstrap := func(c *Config) { c.BootstrapPeers = []string{b.Addrs()[0].String()} }
	// c is a DHT client, as behind a NAT: it is in no routing table, so only a lookup of its
	// peer ID finds it, through b, which is connected to it.
	c := newTestNode(t, func(cfg *Config) {
		bootstrap(cfg)
		cfg.DHTMode = DHTClient
	})
	eventually(t, 10*time.Second, "b to learn c's addresses", func() bool {
		return len(b.Host().Peerstore().Addrs(c.PeerID())) > 0
	})
	a := newTestNode(t, bootstrap)
	if got := a.Host().Network().Connectedness(c.PeerID()); got == network.Connected {
		t.Fatal("a is connected to c before the test")
	}
	if addrs := a.Host().Peerstore().Addrs(c.PeerID()); len(addrs) != 0 {
		t.Fatalf("a knows addresses of c before the test: %v", addrs)
	}
	id, err := a.Send(testContext(t), []string{c.PeerID().String()}, "note", "found you", nil)
	if err != nil {
		t.Fatalf("send to c by peer ID: %v", err)
	}
	if got := receive(t, c).Envelope.ID; got != id {
		t.Errorf("c received %s, want %s", got, id)
	}
}

func TestSendUnknownPeerFails(t *testing.T) {
	a := newTestNode(t, func(c *Config) { c.DHTMode = DHTOff })
	stranger := newTestNode(t, nil)
	_, err := a.Send(testContext(t), []string{stranger.PeerID().String()}, "note", 1, nil)
	if err == nil {
		t.Fatal("send to a peer with no known address succeeded")
	}
}

func TestPublicDHTDropsLoopbackAddrs(t *testing.T) {
	addrs := newTestNode(t, nil).Host().Addrs()
	if got := publicAddrs(addrs); len(got) != 0 {
		t.Errorf("publicAddrs(%v) = %v, want none", addrs, got)
	}
}

func TestPublicDHTIgnoresLoopbackPeers(t *testing.T) {
	public := func(c *Config) {
		c.PrivateNetwork = false
		c.BootstrapTimeout = 500 * time.Millisecond
	}
	b := newTestNode(t, public)
	bootstrap := func(c *Config) {
		public(c)
		c.BootstrapPeers = []string{b.Addrs()[0].String()}
	}
	c := newTestNode(t, bootstrap)
	a := newTestNode(t, bootstrap)
	if size := a.dht.RoutingTable().Size(); size != 0 {
		t.Errorf("a's public routing table holds %d loopback peers, want 0", size)
	}
	_, err := a.Send(testContext(t), []string{c.PeerID().String()}, "note", "unreachable", nil)
	if err == nil || !strings.Contains(err.Error(), "DHT") {
		t.Errorf("send through the public DHT: %v, want a DHT lookup failure", err)
	}
}
