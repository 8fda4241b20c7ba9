package node_test

import (
	"context"
	"fmt"
	"log"

	"github.com/agora-p2p/agora/node"
	"github.com/agora-p2p/agora/protocol"
)

// Two agents on loopback: alice dials bob and sends him an envelope, which bob reads from
// Inbound.
func Example() {
	ctx := context.Background()
	start := func() *node.Node {
		key, err := protocol.GenerateKeyPair()
		if err != nil {
			log.Fatal(err)
		}
		n, err := node.New(ctx, node.Config{
			Identity:       key,
			ListenAddrs:    []string{"/ip4/127.0.0.1/tcp/0"},
			DisableMDNS:    true,
			PrivateNetwork: true,
		})
		if err != nil {
			log.Fatal(err)
		}
		return n
	}
	alice, bob := start(), start()
	defer alice.Close()
	defer bob.Close()

	if _, err := alice.Connect(ctx, bob.Addrs()[0].String()); err != nil {
		log.Fatal(err)
	}
	id, err := alice.Send(ctx, []string{bob.PeerID().String()}, "greeting", map[string]string{"text": "hello"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	in := <-bob.Inbound()
	fmt.Println(in.Envelope.ID == id, in.Via.Kind, in.Envelope.Type, string(in.Envelope.Payload))
	// Output: true direct greeting {"text":"hello"}
}
