package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"github.com/agora-p2p/agora/internal/config"
	"github.com/agora-p2p/agora/protocol"
)

func (a *app) peersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List and edit the configured peers",
		Long: `Without a subcommand, lists the configured peers.

A peer reference is a public key (SPKI hex), a libp2p peer ID, a configured name,
name@<last 8 hex of the key> or @<last 8 hex of the key>.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return a.runPeersList() },
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "list",
			Short: "List the configured peers",
			Args:  cobra.NoArgs,
			RunE:  func(*cobra.Command, []string) error { return a.runPeersList() },
		},
		a.peersAddCommand(), a.peersRemoveCommand(), a.peersCopyCommand(), a.peersDiscoverCommand(),
	)
	return cmd
}

// peerView is a configured peer as printed by the peers commands.
type peerView struct {
	Name      string   `json:"name,omitempty"`
	PublicKey string   `json:"publicKey"`
	PeerID    string   `json:"peerId"`
	Reference string   `json:"reference"`
	URL       string   `json:"url,omitempty"`
	Addrs     []string `json:"addrs,omitempty"`
}

func viewPeer(p *config.Peer) peerView {
	v := peerView{Name: p.Name, PublicKey: p.PublicKey, Reference: p.Reference(), URL: p.URL, Addrs: p.Addrs}
	if k, err := protocol.ParsePublicKey(p.PublicKey); err == nil {
		v.PeerID = k.PeerID().String()
	}
	return v
}

func (a *app) runPeersList() error {
	c, _, err := a.loadConfig()
	if err != nil {
		return err
	}
	views := make([]peerView, 0, len(c.Peers))
	for _, p := range c.Peers {
		views = append(views, viewPeer(p))
	}
	return a.emit(map[string]any{"peers": views}, func(w io.Writer) {
		if len(views) == 0 {
			fmt.Fprintln(w, "No peers configured. Add one with `agora peers add NAME --pubkey KEY`.")
			return
		}
		for _, v := range views {
			fmt.Fprintf(w, "%s\t%s", v.Reference, v.PeerID)
			if v.URL != "" {
				fmt.Fprintf(w, "\turl=%s", v.URL)
			}
			for _, addr := range v.Addrs {
				fmt.Fprintf(w, "\taddr=%s", addr)
			}
			fmt.Fprintln(w)
		}
	})
}

type peersAddFlags struct {
	pubkey string
	url    string
	token  string
	addrs  []string
}

func (a *app) peersAddCommand() *cobra.Command {
	var f peersAddFlags
	cmd := &cobra.Command{
		Use:   "add NAME --pubkey KEY [--url URL [--token TOKEN]] [--addr MULTIADDR]...",
		Short: "Add a peer, or update the peer with the same key",
		Args:  cobra.ExactArgs(1),
		RunE:  func(_ *cobra.Command, args []string) error { return a.runPeersAdd(args[0], f) },
	}
	cmd.Flags().StringVar(&f.pubkey, "pubkey", "", "the peer's public key: SPKI DER hex or libp2p peer ID (required)")
	cmd.Flags().StringVar(&f.url, "url", "", "base URL of the peer's webhook; envelopes are POSTed to URL/agent")
	cmd.Flags().StringVar(&f.token, "token", "", "bearer token sent with webhook requests to --url")
	cmd.Flags().StringArrayVar(&f.addrs, "addr", nil, "libp2p multiaddr of the peer, such as /ip4/10.0.0.2/tcp/4001 (repeatable)")
	_ = cmd.MarkFlagRequired("pubkey")
	return cmd
}

func (a *app) runPeersAdd(name string, f peersAddFlags) error {
	if err := validatePeerName(name); err != nil {
		return err
	}
	key, err := protocol.ParsePublicKey(strings.TrimSpace(f.pubkey))
	if err != nil {
		return usageError("invalid --pubkey: %v", err)
	}
	if f.token != "" && f.url == "" {
		return usageError("--token needs --url: the token authenticates webhook requests to that URL")
	}
	if err := validateURL(f.url); err != nil {
		return err
	}
	if err := checkPeerAddrs(f.addrs, key); err != nil {
		return err
	}
	var added bool
	c, err := a.updateConfig(func(c *config.Config) error {
		p := &config.Peer{PublicKey: key.String(), Name: name, URL: f.url, Token: f.token, Addrs: f.addrs}
		added, err = c.AddPeer(p)
		return err
	})
	if err != nil {
		return err
	}
	status := "added"
	if !added {
		status = "updated"
	}
	view := viewPeer(c.FindPeer(key))
	out := struct {
		Status string `json:"status"`
		peerView
	}{status, view}
	return a.emit(out, func(w io.Writer) { fmt.Fprintf(w, "Peer %s %s (%s)\n", view.Reference, status, view.PeerID) })
}

func validatePeerName(name string) error {
	switch {
	case name == "":
		return usageError("the peer name is empty")
	case strings.ContainsAny(name, "@ \t\n"):
		return usageError("invalid peer name %q: it must not contain '@' or spaces, which peer references use", name)
	}
	if _, err := protocol.ParsePublicKey(name); err == nil {
		return usageError("invalid peer name %q: it is a public key; pass the key with --pubkey", name)
	}
	return nil
}

func validateURL(raw string) error {
	if raw == "" {
		return nil
	}
	if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		return usageError("invalid --url %q: expected an http:// or https:// URL", raw)
	}
	return nil
}

// checkPeerAddrs parses each multiaddr and rejects one whose /p2p/ part names another peer.
func checkPeerAddrs(addrs []string, key protocol.PublicKey) error {
	for _, s := range addrs {
		addr, err := ma.NewMultiaddr(s)
		if err != nil {
			return usageError("invalid --addr %q: %v", s, err)
		}
		info, err := peer.AddrInfoFromP2pAddr(addr)
		if err == nil && info.ID != key.PeerID() {
			return usageError("--addr %q names peer %s, but --pubkey is peer %s", s, info.ID, key.PeerID())
		}
	}
	return nil
}

func (a *app) peersRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME|KEY",
		Short: "Remove a configured peer",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var view peerView
			_, err := a.updateConfig(func(c *config.Config) error {
				res, err := c.ResolvePeer(args[0])
				if err != nil {
					return err
				}
				if res.Peer == nil {
					return fmt.Errorf("peer %s is not configured", res.Key.PeerID())
				}
				view = viewPeer(res.Peer)
				c.RemovePeer(res.Key)
				return nil
			})
			if err != nil {
				return err
			}
			out := struct {
				Status string `json:"status"`
				peerView
			}{"removed", view}
			return a.emit(out, func(w io.Writer) { fmt.Fprintf(w, "Peer %s removed\n", view.Reference) })
		},
	}
}

func (a *app) peersCopyCommand() *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "copy NAME --from PROFILE --to PROFILE",
		Short: "Copy a peer from one profile to another",
		Long: `Copies a peer entry between profiles, replacing an entry for the same key in the
target. An omitted --from or --to means the config chosen by --config or --profile. The
target config is created when missing, without an identity.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error { return a.runPeersCopy(args[0], from, to) },
	}
	cmd.Flags().StringVar(&from, "from", "", "profile to copy from (\"default\" is config.json)")
	cmd.Flags().StringVar(&to, "to", "", "profile to copy to (\"default\" is config.json)")
	return cmd
}

func (a *app) profileOrCurrent(profile string) (string, error) {
	if profile == "" {
		return a.path()
	}
	p, err := config.ProfilePath(profile)
	if err != nil {
		return "", usageError("%v", err)
	}
	return p, nil
}

func (a *app) runPeersCopy(ref, from, to string) error {
	fromPath, err := a.profileOrCurrent(from)
	if err != nil {
		return err
	}
	toPath, err := a.profileOrCurrent(to)
	if err != nil {
		return err
	}
	if fromPath == toPath {
		return usageError("source and target are the same config file %s; give --from or --to", fromPath)
	}
	src, err := config.Load(fromPath, a.log)
	if err != nil {
		return err
	}
	res, err := src.ResolvePeer(ref)
	if err != nil {
		return err
	}
	if res.Peer == nil {
		return fmt.Errorf("peer %s is not configured in %s", res.Key.PeerID(), fromPath)
	}
	_, err = config.Update(toPath, a.log, func(dst *config.Config) error {
		copied := *res.Peer
		_, err := dst.AddPeer(&copied)
		return err
	})
	if err != nil {
		return err
	}
	view := viewPeer(res.Peer)
	out := struct {
		Status string `json:"status"`
		From   string `json:"from"`
		To     string `json:"to"`
		peerView
	}{"copied", fromPath, toPath, view}
	return a.emit(out, func(w io.Writer) { fmt.Fprintf(w, "Peer %s copied from %s to %s\n", view.Reference, fromPath, toPath) })
}
