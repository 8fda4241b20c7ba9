package cli

import (
	"fmt"
	"io"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"github.com/agora-p2p/agora/internal/config"
	"github.com/agora-p2p/agora/node"
)

// nodeFlags are the flags shared by `node` and `relay`.
type nodeFlags struct {
	listen         []string
	bootstrap      []string
	mdns           bool
	relayService   bool
	privateNetwork bool
}

func addNodeFlags(cmd *cobra.Command, f *nodeFlags, mdnsDefault bool, listenHelp string) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.listen, "listen", nil, listenHelp)
	fl.StringArrayVar(&f.bootstrap, "bootstrap", nil, "bootstrap peer multiaddr ending in /p2p/<peer ID>, dialed to join the DHT (repeatable; default: the config's bootstrap list)")
	fl.BoolVar(&f.mdns, "mdns", mdnsDefault, "discover peers on the local network with mDNS")
	fl.BoolVar(&f.relayService, "relay-service", false, "serve as a circuit relay and DHT server for other nodes")
	fl.BoolVar(&f.privateNetwork, "private-network", false, "keep private and loopback addresses in the DHT, for a LAN or test network")
}

func (a *app) nodeCommand() *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a node until SIGINT or SIGTERM",
		Long: `Runs an agora node: a libp2p host with this config's identity that accepts envelopes
addressed to it. With --json, stdout carries JSON lines: first
{"event":"listening","publicKey","peerId","addrs"}, then {"event":"envelope","envelope","via"}
for each verified inbound envelope. On SIGINT or SIGTERM the node closes and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return a.runNode(f) },
	}
	addNodeFlags(cmd, &f, true, "libp2p listen multiaddr, such as /ip4/0.0.0.0/tcp/4001 (repeatable; default: the config's list, else TCP and QUIC on port 4001)")
	return cmd
}

// nodeConfig builds the node configuration from the flags and the config file. Flags win.
func (a *app) nodeConfig(c *config.Config, f nodeFlags, defaultListen []string) (node.Config, error) {
	key, err := c.KeyPair()
	if err != nil {
		return node.Config{}, err
	}
	listen := firstNonEmpty(f.listen, c.Listen, defaultListen)
	bootstrap := firstNonEmpty(f.bootstrap, c.Bootstrap)
	if err := checkMultiaddrs("--listen", listen, false); err != nil {
		return node.Config{}, err
	}
	if err := checkMultiaddrs("--bootstrap", bootstrap, true); err != nil {
		return node.Config{}, err
	}
	cfg := node.Config{
		Identity:       key,
		ListenAddrs:    listen,
		BootstrapPeers: bootstrap,
		DisableMDNS:    !f.mdns,
		RelayService:   f.relayService,
		PrivateNetwork: f.privateNetwork,
		Logger:         a.log,
	}
	return cfg, nil
}

// checkMultiaddrs parses each address before the node starts, so that a typo gets a message
// naming the flag. withPeer requires the /p2p/<peer ID> part.
func checkMultiaddrs(flag string, addrs []string, withPeer bool) error {
	for _, s := range addrs {
		addr, err := ma.NewMultiaddr(s)
		if err != nil {
			return usageError("invalid %s address %q: %v", flag, s, err)
		}
		if _, err := peer.AddrInfoFromP2pAddr(addr); withPeer && err != nil {
			return usageError("invalid %s address %q: it must end in /p2p/<peer ID>", flag, s)
		}
	}
	return nil
}

func firstNonEmpty(lists ...[]string) []string {
	for _, l := range lists {
		if len(l) > 0 {
			return l
		}
	}
	return nil
}

func (a *app) runNode(f nodeFlags) error {
	c, _, _, err := a.ensureIdentity()
	if err != nil {
		return err
	}
	cfg, err := a.nodeConfig(c, f, nil)
	if err != nil {
		return err
	}
	n, err := node.New(a.ctx, cfg)
	if err != nil {
		return fmt.Errorf("start node: %w", err)
	}
	ev := &eventWriter{app: a}
	if err := ev.listening(n, nil); err != nil {
		_ = n.Close()
		return err
	}
	a.printInbound(c, n, ev)
	a.log.Info("stopping node")
	if err := n.Close(); err != nil {
		return fmt.Errorf("close node: %w", err)
	}
	return nil
}

// printInbound writes an event for each inbound envelope until the context ends or the node
// closes its inbound channel.
func (a *app) printInbound(c *config.Config, n *node.Node, ev *eventWriter) {
	for {
		select {
		case <-a.ctx.Done():
			return
		case in, ok := <-n.Inbound():
			if !ok {
				return
			}
			if err := ev.envelope(c, in); err != nil {
				a.log.Error("write envelope event", "err", err, "id", in.Envelope.ID)
			}
		}
	}
}

// eventWriter writes the event lines of `node` and `relay` to stdout. Its lock keeps lines whole
// when several goroutines write.
type eventWriter struct {
	app *app
	mu  sync.Mutex
}

func (e *eventWriter) write(v any, human func(w io.Writer)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.app.emit(v, human)
}

// listening writes the first event line. extra holds the relay's fields.
func (e *eventWriter) listening(n *node.Node, extra map[string]string) error {
	addrs := make([]string, 0)
	for _, addr := range n.Addrs() {
		addrs = append(addrs, addr.String())
	}
	key := n.Identity().PublicKey()
	out := map[string]any{"event": "listening", "publicKey": key.String(), "peerId": n.PeerID().String(), "addrs": addrs}
	for k, v := range extra {
		out[k] = v
	}
	return e.write(out, func(w io.Writer) {
		fmt.Fprintf(w, "Node %s (@%s) listening on:\n", n.PeerID(), key.Short())
		for _, addr := range addrs {
			fmt.Fprintf(w, "  %s\n", addr)
		}
		for _, k := range []string{"ws", "rest"} {
			if v, ok := extra[k]; ok {
				fmt.Fprintf(w, "%-5s %s\n", k+":", v)
			}
		}
	})
}

func (e *eventWriter) envelope(c *config.Config, in node.Inbound) error {
	out := map[string]any{"event": "envelope", "envelope": in.Envelope, "via": in.Via}
	env := in.Envelope
	return e.write(out, func(w io.Writer) {
		fmt.Fprintf(w, "envelope id=%s type=%s from=%s via=%s payload=%s\n", env.ID, printable(env.Type, 64),
			printable(shortRef(c, env.From), 80), in.Via.Kind, printable(string(env.Payload), 500))
	})
}
