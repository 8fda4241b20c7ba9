package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-p2p/agora/internal/config"
	"github.com/agora-p2p/agora/protocol"
	"github.com/agora-p2p/agora/relaymode/client"
)

// discoverTimeout is how long `peers discover` waits for the peer_list_response, as the
// earlier implementation's discovery service does.
const discoverTimeout = 10 * time.Second

// sendRelay registers with the WebSocket relay and sends the envelope. The relay's verdict
// "delivered" means a recipient session or mesh peer acked it, and "stored" means the relay
// committed it to disk for an offline storage peer. Both count as delivery.
func (a *app) sendRelay(ctx context.Context, p *sendPlan) error {
	c, err := client.Dial(ctx, p.relayURL, p.key, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := checkRelayKey(c, p.relayKey); err != nil {
		return err
	}
	outcome, err := c.SendEnvelope(ctx, p.to.Key.String(), p.env)
	if err != nil {
		return err
	}
	a.log.Debug("relay accepted the envelope", "id", p.env.ID, "outcome", outcome)
	return nil
}

// checkRelayKey compares the key the relay proved in its challenge with the configured one.
func checkRelayKey(c *client.Client, want string) error {
	if want == "" {
		return nil
	}
	wantKey, err := protocol.ParsePublicKey(want)
	if err != nil {
		return fmt.Errorf("invalid relay public key %q: %v", want, err)
	}
	if c.RelayKey() != wantKey.String() {
		return fmt.Errorf("the relay identified itself as %s, but its configured key is %s", c.RelayKey(), wantKey)
	}
	return nil
}

type discoverFlags struct {
	relayURL     string
	relayKey     string
	limit        int
	activeWithin int64
	save         bool
}

func (a *app) peersDiscoverCommand() *cobra.Command {
	var f discoverFlags
	cmd := &cobra.Command{
		Use:   "discover [--relay URL] [--limit N] [--active-within MS] [--save]",
		Short: "Ask a relay which peers it knows",
		Long: `Registers with the WebSocket relay, sends it a signed peer_list_request and prints the
signed peer_list_response. The relay's key comes from --relay-pubkey, else the config's
relay.publicKey, else the key the relay proves during registration.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return a.runDiscover(f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.relayURL, "relay", "", "WebSocket relay URL, such as ws://127.0.0.1:9470 (default: the configured relay)")
	fl.StringVar(&f.relayKey, "relay-pubkey", "", "the relay's public key (SPKI hex or peer ID); the answer must be signed by it")
	fl.IntVar(&f.limit, "limit", 0, "maximum number of peers to return (0: no limit)")
	fl.Int64Var(&f.activeWithin, "active-within", 0, "only peers active within this many milliseconds (0: all)")
	fl.BoolVar(&f.save, "save", false, "add the discovered peers that are not configured yet")
	return cmd
}

// discoveredPeer is one entry of a peer_list_response.
type discoveredPeer struct {
	PublicKey string `json:"publicKey"`
	Metadata  *struct {
		Name    string `json:"name,omitempty"`
		Version string `json:"version,omitempty"`
	} `json:"metadata,omitempty"`
	LastSeen float64 `json:"lastSeen"`
}

type peerListResponse struct {
	Peers          []discoveredPeer `json:"peers"`
	TotalPeers     int              `json:"totalPeers"`
	RelayPublicKey string           `json:"relayPublicKey"`
}

func (a *app) runDiscover(f discoverFlags) error {
	if f.limit < 0 || f.activeWithin < 0 {
		return usageError("--limit and --active-within must not be negative")
	}
	c, _, err := a.loadIdentity()
	if err != nil {
		return err
	}
	if f.relayURL == "" && c.Relay != nil {
		f.relayURL = c.Relay.URL
		if f.relayKey == "" {
			f.relayKey = c.Relay.PublicKey
		}
	}
	if f.relayURL == "" {
		return usageError("no relay: give --relay URL or configure a relay")
	}
	key, err := c.KeyPair()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(a.ctx, discoverTimeout)
	defer cancel()
	resp, err := requestPeerList(ctx, f, key)
	if err != nil {
		return err
	}
	saved := 0
	if f.save {
		if saved, err = a.saveDiscovered(resp.Peers, key.PublicKey()); err != nil {
			return err
		}
	}
	return a.printDiscovered(c, resp, saved, f.save)
}

func requestPeerList(ctx context.Context, f discoverFlags, key *protocol.KeyPair) (*peerListResponse, error) {
	cl, err := client.Dial(ctx, f.relayURL, key, nil)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := checkRelayKey(cl, f.relayKey); err != nil {
		return nil, err
	}
	filters := map[string]any{}
	if f.limit > 0 {
		filters["limit"] = f.limit
	}
	if f.activeWithin > 0 {
		filters["activeWithin"] = f.activeWithin
	}
	relayKey := cl.RelayKey()
	req, err := protocol.CreateEnvelope(key, "peer_list_request", []string{relayKey}, map[string]any{"filters": filters}, nil)
	if err != nil {
		return nil, err
	}
	if _, err := cl.SendEnvelope(ctx, relayKey, req); err != nil {
		return nil, err
	}
	return awaitPeerList(ctx, cl, req.ID, relayKey)
}

// awaitPeerList waits for the relay's response to request, skipping other messages.
func awaitPeerList(ctx context.Context, cl *client.Client, request, relayKey string) (*peerListResponse, error) {
	for {
		select {
		case m, ok := <-cl.Messages():
			if !ok {
				return nil, errors.New("the relay closed the connection before answering the peer_list_request")
			}
			env := m.Envelope
			if env.Type != "peer_list_response" || env.From != relayKey || env.InReplyTo != request {
				continue
			}
			var resp peerListResponse
			if err := json.Unmarshal(env.Payload, &resp); err != nil {
				return nil, fmt.Errorf("invalid peer_list_response payload: %v", err)
			}
			return &resp, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("no peer_list_response from the relay within %s", discoverTimeout)
		}
	}
}

// saveDiscovered adds the discovered peers that are not configured yet, named by the name the
// relay reports when that is a valid peer name.
func (a *app) saveDiscovered(peers []discoveredPeer, self protocol.PublicKey) (int, error) {
	saved := 0
	_, err := a.updateConfig(func(c *config.Config) error {
		for _, p := range peers {
			k, err := protocol.ParsePublicKey(p.PublicKey)
			if err != nil || k == self || c.FindPeer(k) != nil {
				continue
			}
			entry := &config.Peer{PublicKey: k.String()}
			if p.Metadata != nil && validatePeerName(p.Metadata.Name) == nil && printable(p.Metadata.Name, 64) == p.Metadata.Name {
				entry.Name = p.Metadata.Name
			}
			if _, err := c.AddPeer(entry); err != nil {
				return err
			}
			saved++
		}
		return nil
	})
	return saved, err
}

func (a *app) printDiscovered(c *config.Config, resp *peerListResponse, saved int, save bool) error {
	out := map[string]any{"status": "discovered", "totalPeers": resp.TotalPeers, "peersReturned": len(resp.Peers),
		"relayPublicKey": resp.RelayPublicKey, "peers": resp.Peers}
	if save {
		out["peersSaved"] = saved
	}
	return a.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "%d of %d peers known to the relay:\n", len(resp.Peers), resp.TotalPeers)
		for _, p := range resp.Peers {
			name := ""
			if p.Metadata != nil {
				name = " name=" + printable(p.Metadata.Name, 64)
			}
			seen := time.UnixMilli(int64(p.LastSeen)).UTC().Format(time.RFC3339)
			fmt.Fprintf(w, "  %s%s last seen %s\n", printable(shortRef(c, p.PublicKey), 80), name, seen)
		}
		if save {
			fmt.Fprintf(w, "%d new peers saved\n", saved)
		}
	})
}
