package node

import (
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestTransportsDeliver(t *testing.T) {
	cases := map[string]string{
		"TCP":       "/ip4/127.0.0.1/tcp/0",
		"QUIC":      "/ip4/127.0.0.1/udp/0/quic-v1",
		"WebSocket": "/ip4/127.0.0.1/tcp/0/ws",
		"IPv6 TCP":  "/ip6/::1/tcp/0",
	}
	for name, listen := range cases {
		t.Run(name, func(t *testing.T) {
			only := func(c *Config) {
				c.ListenAddrs = []string{listen}
				c.EnableWebSocket = strings.HasSuffix(listen, "/ws")
				c.DHTMode = DHTOff
			}
			a := newTestNode(t, only)
			b := newTestNode(t, only)
			id, err := a.Send(testContext(t), []string{b.PeerID().String()}, "note", name, &SendOptions{Addrs: b.Addrs()})
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			if got := receive(t, b).Envelope.ID; got != id {
				t.Errorf("received %s, want %s", got, id)
			}
			conns := a.Host().Network().ConnsToPeer(b.PeerID())
			if len(conns) != 1 {
				t.Fatalf("%d connections to b, want 1", len(conns))
			}
			want, _ := peer.SplitAddr(b.Addrs()[0])
			if got := conns[0].RemoteMultiaddr(); !got.Equal(want) {
				t.Errorf("connected over %s, want %s", got, want)
			}
		})
	}
}
