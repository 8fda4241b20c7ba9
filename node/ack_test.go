package node

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-varint"
)

// hostileReceiver starts a bare libp2p host whose envelope handler reads one frame and writes
// reply as raw bytes, then waits until the stream ends.
func hostileReceiver(t *testing.T, reply func(frame []byte) []byte) peer.AddrInfo {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	h.SetStreamHandler(EnvelopeProtocol, func(s network.Stream) {
		defer s.Reset()
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(s)
		size, err := readFrameLen(r, 1<<20)
		if err != nil {
			return
		}
		frame, err := readFrameBody(r, size)
		if err != nil {
			return
		}
		if _, err := s.Write(reply(frame)); err != nil {
			return
		}
		_, _ = r.ReadByte() // until the sender gives up
	})
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
}

func TestHostileAcksFailSend(t *testing.T) {
	cases := map[string]func([]byte) []byte{
		"oversized ack": func([]byte) []byte { return varint.ToUvarint(1 << 20) },
		"garbage ack":   func([]byte) []byte { return frameBytes([]byte("not json")) },
		"wrong id":      func([]byte) []byte { return frameBytes([]byte(`{"id":"` + strings.Repeat("0", 64) + `","ok":true}`)) },
		"no ack":        func([]byte) []byte { return nil },
	}
	a := newTestNode(t, func(c *Config) {
		c.AckTimeout = 500 * time.Millisecond
		c.DHTMode = DHTOff
	})
	for name, reply := range cases {
		t.Run(name, func(t *testing.T) {
			target := hostileReceiver(t, reply)
			a.Host().Peerstore().AddAddrs(target.ID, target.Addrs, time.Minute)
			start := time.Now()
			_, err := a.Send(testContext(t), []string{target.ID.String()}, "note", name, nil)
			if err == nil {
				t.Fatal("send succeeded, want an error")
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("send took %s to fail", elapsed)
			}
		})
	}
	// a still delivers to an honest peer.
	b := newTestNode(t, nil)
	connect(t, a, b)
	if _, err := a.Send(testContext(t), []string{b.PeerID().String()}, "note", "honest", nil); err != nil {
		t.Fatalf("send to an honest peer: %v", err)
	}
}
