// Command agora is the agora peer-to-peer node, relay and command-line client.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/agora-p2p/agora/internal/cli"
)

func main() {
	// SIGINT and SIGTERM cancel the context; long-running commands then close and return.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one ends the process at once, in case closing hangs.
		<-ctx.Done()
		stop()
	}()
	code := cli.Run(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
