package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-p2p/agora/internal/config"
	"github.com/agora-p2p/agora/protocol"
)

// DefaultMessageType is the type of `send PEER TEXT`, whose payload is {"text": TEXT}, as in
// the earlier implementation's CLI.
const DefaultMessageType = "publish"

type sendFlags struct {
	msgType    string
	payload    string
	inReplyTo  string
	addrs      []string
	relayURL   string
	bootstrap  []string
	direct     bool
	relayOnly  bool
	privateNet bool
	timeout    time.Duration
}

func (a *app) sendCommand() *cobra.Command {
	var f sendFlags
	cmd := &cobra.Command{
		Use:   "send PEER [TEXT | --payload JSON] [--type TYPE]",
		Short: "Send a signed envelope to a peer and wait until it is delivered",
		Long: `Signs an envelope for PEER and tries the transports in this order until one delivers it:

  1. libp2p: the --addr multiaddrs and the peer's configured addrs, then the DHT through the
     --bootstrap peers (or the configured bootstrap list), including circuit relays;
  2. the peer's webhook, when the peer has a url: POST {url}/agent with the
     [AGORA_ENVELOPE] text, and the token as a bearer token;
  3. the WebSocket relay given by --relay or configured in the config file.

TEXT is sent as type "publish" with payload {"text": TEXT}. --direct tries only direct
libp2p connections and the webhook; --relay-only tries only the WebSocket relay.
Exits 0 only when a transport confirms delivery, else 1 with the reason of each attempt.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(_ *cobra.Command, args []string) error { return a.runSend(args, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.msgType, "type", DefaultMessageType, "envelope type")
	fl.StringVar(&f.payload, "payload", "", "payload as JSON text, instead of TEXT")
	fl.StringVar(&f.inReplyTo, "in-reply-to", "", "ID of the envelope this one answers")
	fl.StringArrayVar(&f.addrs, "addr", nil, "libp2p multiaddr of the peer (repeatable)")
	fl.StringVar(&f.relayURL, "relay", "", "WebSocket relay URL, such as ws://127.0.0.1:9470 (default: the configured relay)")
	fl.StringArrayVar(&f.bootstrap, "bootstrap", nil, "libp2p bootstrap multiaddr ending in /p2p/<peer ID> for the DHT lookup (repeatable; default: the configured list)")
	fl.BoolVar(&f.direct, "direct", false, "use only direct connections (libp2p to known addrs, webhook); no DHT and no relay")
	fl.BoolVar(&f.relayOnly, "relay-only", false, "use only the WebSocket relay")
	fl.BoolVar(&f.privateNet, "private-network", false, "accept private and loopback addresses from the DHT, for a LAN or test network")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "time limit for all attempts together, such as 10s")
	cmd.MarkFlagsMutuallyExclusive("direct", "relay-only")
	return cmd
}

// sendPlan is one send: the envelope and where to try it.
type sendPlan struct {
	env      *protocol.Envelope
	key      *protocol.KeyPair
	to       config.Resolution
	ref      string
	addrs    []string
	boot     []string
	relayURL string
	relayKey string
	flags    sendFlags
}

// transportAttempt is one way to deliver the envelope. run returns nil only once delivery is
// confirmed.
type transportAttempt struct {
	name string
	run  func(ctx context.Context, p *sendPlan) error
}

func (a *app) runSend(args []string, f sendFlags) error {
	if err := checkMessageArgs(args, f); err != nil {
		return err
	}
	if f.msgType == "" || len(f.msgType) > 64 || printable(f.msgType, 64) != f.msgType {
		return usageError("invalid --type %q: use 1 to 64 printable characters", f.msgType)
	}
	if f.timeout <= 0 {
		return usageError("invalid --timeout %s: it must be positive", f.timeout)
	}
	c, _, err := a.loadIdentity()
	if err != nil {
		return err
	}
	payload, err := sendPayload(c, args, f)
	if err != nil {
		return err
	}
	plan, err := a.planSend(c, args[0], payload, f)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(a.ctx, f.timeout)
	defer cancel()
	return a.deliver(ctx, plan, a.transports(plan))
}

// checkMessageArgs rejects a missing or doubled message before anything is loaded.
func checkMessageArgs(args []string, f sendFlags) error {
	switch {
	case len(args) == 2 && f.payload != "":
		return usageError("give either TEXT or --payload, not both")
	case len(args) < 2 && f.payload == "":
		return usageError("missing message: give TEXT or --payload JSON")
	case f.payload != "" && !json.Valid([]byte(f.payload)):
		return usageError("invalid --payload: not valid JSON")
	}
	return nil
}

// sendPayload returns the payload that checkMessageArgs accepted.
func sendPayload(c *config.Config, args []string, f sendFlags) (json.RawMessage, error) {
	if f.payload != "" {
		return json.RawMessage(f.payload), nil
	}
	return json.Marshal(map[string]string{"text": expandInlineReferences(c, args[1])})
}

var inlineReference = regexp.MustCompile(`@(\S+)`)

// expandInlineReferences replaces each "@ref" in text that names exactly one configured peer
// with "@<full public key>", as the earlier implementation's CLI does, so that receivers see
// keys rather than the sender's local names. Other "@" words stay as they are.
func expandInlineReferences(c *config.Config, text string) string {
	return inlineReference.ReplaceAllStringFunc(text, func(match string) string {
		res, err := c.ResolvePeer(match[1:])
		if err != nil || res.Peer == nil {
			return match
		}
		return "@" + res.Key.String()
	})
}

func (a *app) planSend(c *config.Config, ref string, payload json.RawMessage, f sendFlags) (*sendPlan, error) {
	key, err := c.KeyPair()
	if err != nil {
		return nil, err
	}
	res, err := c.ResolvePeer(ref)
	if err != nil {
		return nil, err
	}
	if err := checkPeerAddrs(f.addrs, res.Key); err != nil {
		return nil, err
	}
	env, err := protocol.CreateEnvelope(key, f.msgType, []string{res.Key.String()}, payload,
		&protocol.CreateOptions{InReplyTo: f.inReplyTo})
	if err != nil {
		return nil, usageError("%v", err)
	}
	p := &sendPlan{env: env, key: key, to: res, ref: ref, addrs: f.addrs, boot: f.bootstrap,
		relayURL: f.relayURL, flags: f}
	if res.Peer != nil {
		p.addrs = append(p.addrs, res.Peer.Addrs...)
		p.ref = res.Peer.Reference()
	}
	if len(p.boot) == 0 {
		p.boot = c.Bootstrap
	}
	if err := checkMultiaddrs("--bootstrap", p.boot, true); err != nil {
		return nil, err
	}
	if p.relayURL == "" && c.Relay != nil {
		p.relayURL, p.relayKey = c.Relay.URL, c.Relay.PublicKey
	}
	return p, nil
}

// transports lists the attempts that the flags and the configuration allow, in order.
func (a *app) transports(p *sendPlan) []transportAttempt {
	var list []transportAttempt
	if !p.flags.relayOnly {
		if len(p.addrs) > 0 || (!p.flags.direct && len(p.boot) > 0) {
			list = append(list, transportAttempt{"libp2p", a.sendLibp2p})
		}
		if p.to.Peer != nil && p.to.Peer.URL != "" {
			list = append(list, transportAttempt{"webhook", a.sendWebhook})
		}
	}
	if !p.flags.direct && p.relayURL != "" {
		list = append(list, transportAttempt{"relay", a.sendRelay})
	}
	return list
}

func (a *app) deliver(ctx context.Context, p *sendPlan, attempts []transportAttempt) error {
	if len(attempts) == 0 {
		return fmt.Errorf("no way to reach %s: give --addr, --bootstrap or --relay, or configure a url, addrs or a relay for the peer", p.ref)
	}
	var failures []string
	for _, t := range attempts {
		if ctx.Err() != nil {
			failures = append(failures, t.name+": not tried, time limit reached")
			continue
		}
		a.log.Debug("sending", "transport", t.name, "peer", p.to.Key.PeerID(), "id", p.env.ID)
		err := t.run(ctx, p)
		if err == nil {
			return a.printSent(p, t.name)
		}
		a.log.Info("send attempt failed", "transport", t.name, "peer", p.to.Key.PeerID(), "err", err)
		failures = append(failures, t.name+": "+err.Error())
	}
	out := map[string]any{"status": "failed", "peer": p.ref, "id": p.env.ID, "errors": failures}
	if err := a.emit(out, func(w io.Writer) {}); err != nil {
		return err
	}
	return errors.New("not delivered to " + p.ref + ": " + strings.Join(failures, "; "))
}

func (a *app) printSent(p *sendPlan, transport string) error {
	out := map[string]any{"status": "sent", "peer": p.ref, "id": p.env.ID, "type": p.env.Type, "transport": transport}
	return a.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "Delivered %s to %s via %s\n", p.env.ID, p.ref, transport)
	})
}
