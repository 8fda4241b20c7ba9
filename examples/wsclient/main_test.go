package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agora-p2p/agora/node"
	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode"
	"github.com/agora-p2p/agora/relaymode/client"
)

func TestClientSendsAndReceives(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	relayKey, _ := protocol.GenerateKeyPair()
	cfg := relaymode.DefaultConfig()
	cfg.Node = node.Config{Identity: relayKey, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, DisableMDNS: true, DHTMode: node.DHTOff}
	cfg.WSAddr = "127.0.0.1:0"
	r, err := relaymode.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())

	// A peer that replies to the example's message.
	peerKey, _ := protocol.GenerateKeyPair()
	peer, err := client.Dial(ctx, r.WSURL(), peerKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	go func() {
		for m := range peer.Messages() {
			_, _, _ = peer.Send(ctx, m.From, "response", map[string]string{"text": "pong"}, &protocol.CreateOptions{InReplyTo: m.Envelope.ID})
		}
	}()

	var out bytes.Buffer
	args := []string{"-relay", r.WSURL(), "-to", peerKey.PublicKey().String(), "-text", "ping", "-wait", "2s"}
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"registered ", ": delivered", `{"text":"pong"}`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
