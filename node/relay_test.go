package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/multiformats/go-multiaddr"
)

// circuitAddr returns n's address through relay, once n's relay client holds a reservation
// there. go-libp2p's relay client advertises circuit addresses only through public relays, so
// on loopback a probe node dials the circuit until it connects.
func circuitAddr(t *testing.T, n, relay *Node) multiaddr.Multiaddr {
	t.Helper()
	addr := relay.Addrs()[0].String() + "/p2p-circuit/p2p/" + n.PeerID().String()
	probe := newTestNode(t, func(c *Config) { c.DHTMode = DHTOff })
	eventually(t, 20*time.Second, "a relay reservation", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := probe.Connect(ctx, addr)
		return err == nil
	})
	if err := probe.Close(); err != nil {
		t.Fatal(err)
	}
	return multiaddr.StringCast(addr)
}

func TestCircuitRelayDelivers(t *testing.T) {
	b := newTestNode(t, func(c *Config) {
		c.RelayService = true
		c.Reachability = ReachabilityPublic
	})
	// c is reachable only through b: its relay client reserves a slot there.
	c := newTestNode(t, func(cfg *Config) {
		cfg.StaticRelays = []string{b.Addrs()[0].String()}
		cfg.Reachability = ReachabilityPrivate
		cfg.DHTMode = DHTOff
	})
	a := newTestNode(t, func(cfg *Config) { cfg.DHTMode = DHTOff })
	addr := circuitAddr(t, c, b)

	id, err := a.Send(testContext(t), []string{c.PeerID().String()}, "note", "through the relay", &SendOptions{Addrs: []multiaddr.Multiaddr{addr}})
	if err != nil {
		t.Fatalf("a sends to c through b: %v", err)
	}
	in := receive(t, c)
	if in.Envelope.ID != id || in.Via.Peer != a.PeerID() {
		t.Errorf("c received %s from %s, want %s from %s", in.Envelope.ID, in.Via.Peer, id, a.PeerID())
	}
	conns := a.Host().Network().ConnsToPeer(c.PeerID())
	if len(conns) == 0 {
		t.Fatal("a has no connection to c")
	}
	for _, conn := range conns {
		if !conn.Stat().Limited || !strings.Contains(conn.RemoteMultiaddr().String(), "/p2p-circuit") {
			t.Errorf("connection to c over %s (limited %v), want a relayed one", conn.RemoteMultiaddr(), conn.Stat().Limited)
		}
	}

	reply, err := c.Send(testContext(t), []string{a.PeerID().String()}, "note", "back through the relay", &SendOptions{InReplyTo: id})
	if err != nil {
		t.Fatalf("c replies to a through b: %v", err)
	}
	if got := receive(t, a).Envelope.ID; got != reply {
		t.Errorf("a received %s, want %s", got, reply)
	}
}

func TestRelayFoundThroughStaticRelays(t *testing.T) {
	b := newTestNode(t, func(c *Config) {
		c.RelayService = true
		c.Reachability = ReachabilityPublic
	})
	relays := func(cfg *Config) {
		cfg.StaticRelays = []string{b.Addrs()[0].String()}
		cfg.Reachability = ReachabilityPrivate
		cfg.DHTMode = DHTOff
	}
	c := newTestNode(t, relays)
	a := newTestNode(t, relays)
	circuitAddr(t, c, b)
	// a has no address of c and no DHT, so only the relay path is left.
	if _, err := a.Send(testContext(t), []string{c.PeerID().String()}, "note", "via static relay", nil); err != nil {
		t.Fatalf("send through a static relay: %v", err)
	}
	receive(t, c)
}
