package node

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestCloseStopsGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	a := newTestNode(t, nil)
	b := newTestNode(t, func(c *Config) { c.BootstrapPeers = []string{a.Addrs()[0].String()} })
	if _, err := b.Send(testContext(t), []string{a.PeerID().String()}, "note", 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe("t"); err != nil {
		t.Fatal(err)
	}
	receive(t, a)
	for _, n := range []*Node{a, b} {
		if err := n.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}
	if _, ok := <-a.Inbound(); ok {
		t.Error("Inbound() is still open after Close")
	}
	if _, err := b.Send(context.Background(), []string{a.PeerID().String()}, "note", 2, nil); err == nil {
		t.Error("Send after Close succeeded")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(context.Background(), Config{}); err == nil {
		t.Error("New without Identity succeeded")
	}
	n := newTestNode(t, nil)
	cases := map[string]func(*Config){
		"bootstrap without peer ID": func(c *Config) { c.BootstrapPeers = []string{"/ip4/127.0.0.1/tcp/1"} },
		"bad multiaddr":             func(c *Config) { c.ListenAddrs = []string{"not an address"} },
		"bad DHT mode":              func(c *Config) { c.DHTMode = "sometimes" },
		"marks inverted":            func(c *Config) { c.ConnLowWater = 10; c.ConnHighWater = 5 },
	}
	for name, mutate := range cases {
		cfg := Config{Identity: n.Identity(), DisableMDNS: true}
		mutate(&cfg)
		if cfg.ListenAddrs == nil {
			cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
		}
		if m, err := New(context.Background(), cfg); err == nil {
			_ = m.Close()
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestInboundMarshalsJSON(t *testing.T) {
	a := newTestNode(t, nil)
	b := newTestNode(t, nil)
	connect(t, a, b)
	if _, err := a.Send(testContext(t), []string{b.PeerID().String()}, "note", map[string]int{"n": 1}, nil); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(receive(t, b))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"envelope":{"id":"`, `"payload":{"n":1}`, `"via":{"kind":"direct","peer":"` + a.PeerID().String() + `"}`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("JSON %s lacks %s", data, want)
		}
	}
}
