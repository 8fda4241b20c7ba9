// Command wsclient is a Go client of an agora relay's WebSocket door. It registers a new key
// (proving possession by signing the relay's challenge), sends one message to a peer, and
// prints the relay's verdict and every message it receives until Ctrl-C or -wait elapses.
//
//	go run ./examples/wsclient -relay ws://127.0.0.1:9470 -to 302a3005… -text hello
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wsclient:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	flags := flag.NewFlagSet("wsclient", flag.ContinueOnError)
	relayURL := flags.String("relay", "ws://127.0.0.1:9470", "WebSocket URL of the relay")
	to := flags.String("to", "", "public key (SPKI hex) to send one message to")
	text := flags.String("text", "hello", "text of the message")
	wait := flags.Duration("wait", 5*time.Second, "how long to print incoming messages")
	if err := flags.Parse(args); err != nil {
		return err
	}

	key, err := protocol.GenerateKeyPair()
	if err != nil {
		return err
	}
	c, err := client.Dial(ctx, *relayURL, key, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(out, "registered %s with relay %s; %d peers online\n", key.PublicKey().Short(), c.RelayKey()[len(c.RelayKey())-8:], len(c.Peers()))

	if *to != "" {
		id, verdict, err := c.Send(ctx, *to, "request", map[string]string{"text": *text}, nil)
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
		fmt.Fprintf(out, "sent %s: %s\n", id, verdict)
	}

	timer := time.NewTimer(*wait)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				return nil
			}
			fmt.Fprintf(out, "message %s from %s: %s\n", m.Envelope.ID, m.From, m.Envelope.Payload)
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
