// Command agent is a small agora agent that embeds a node. It replies to every `request`
// envelope with a `response` that carries the request's text in upper case. With -peer it
// instead sends one request to that peer, prints the response and exits.
//
//	go run ./examples/agent                        # answer requests until Ctrl-C
//	go run ./examples/agent -peer /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…   # ask once
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/agora-p2p/agora/node"
	"github.com/agora-p2p/agora/protocol"
)

type textPayload struct {
	Text string `json:"text"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
}

// run starts the agent with command-line args and writes what it does to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	flags := flag.NewFlagSet("agent", flag.ContinueOnError)
	listen := flags.String("listen", "/ip4/127.0.0.1/tcp/0", "libp2p listen multiaddr")
	peerAddr := flags.String("peer", "", "full multiaddr of an agent to send one request to")
	text := flags.String("text", "hello", "text of the request sent with -peer")
	if err := flags.Parse(args); err != nil {
		return err
	}

	key, err := protocol.GenerateKeyPair()
	if err != nil {
		return err
	}
	n, err := node.New(ctx, node.Config{
		Identity:       key,
		ListenAddrs:    []string{*listen},
		DisableMDNS:    true,
		PrivateNetwork: true,
	})
	if err != nil {
		return err
	}
	defer n.Close()
	fmt.Fprintf(out, "listening on %s\n", n.Addrs()[0])

	if *peerAddr != "" {
		return ask(ctx, n, *peerAddr, *text, out)
	}
	return answer(ctx, n, out)
}

// ask sends one request to the agent at addr and waits for its response.
func ask(ctx context.Context, n *node.Node, addr, text string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	id, err := n.Connect(ctx, addr)
	if err != nil {
		return err
	}
	reqID, err := n.Send(ctx, []string{id.String()}, "request", textPayload{Text: text}, nil)
	if err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	for {
		select {
		case in := <-n.Inbound():
			if in.Envelope.InReplyTo != reqID {
				continue
			}
			var p textPayload
			if err := json.Unmarshal(in.Envelope.Payload, &p); err != nil {
				return fmt.Errorf("decode response: %w", err)
			}
			fmt.Fprintf(out, "response: %s\n", p.Text)
			return nil
		case <-ctx.Done():
			return fmt.Errorf("no response to %s: %w", reqID, ctx.Err())
		}
	}
}

// answer sends a response to each request, with the request's text in upper case, until ctx
// ends.
func answer(ctx context.Context, n *node.Node, out io.Writer) error {
	for {
		select {
		case in, ok := <-n.Inbound():
			if !ok {
				return errors.New("node closed")
			}
			if in.Envelope.Type != "request" {
				continue
			}
			var p textPayload
			_ = json.Unmarshal(in.Envelope.Payload, &p)
			fmt.Fprintf(out, "request from %s: %s\n", in.Via.Peer, p.Text)
			reply := textPayload{Text: strings.ToUpper(p.Text)}
			opts := &node.SendOptions{InReplyTo: in.Envelope.ID}
			if _, err := n.Send(ctx, []string{in.Envelope.From}, "response", reply, opts); err != nil {
				fmt.Fprintf(out, "reply failed: %v\n", err)
			}
		case <-ctx.Done():
			return nil
		}
	}
}
