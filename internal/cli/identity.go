package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/agora-p2p/agora/internal/config"
	"github.com/agora-p2p/agora/protocol"
)

// emit writes v as one JSON line under --json, else calls human.
func (a *app) emit(v any, human func(w io.Writer)) error {
	if a.jsonOut {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.streams.Out, "%s\n", data)
		return err
	}
	human(a.streams.Out)
	return nil
}

// identityView is the public part of an identity, as printed by init, whoami and status.
type identityView struct {
	PublicKey string `json:"publicKey"`
	PeerID    string `json:"peerId"`
	Reference string `json:"reference"`
	Name      string `json:"name,omitempty"`
}

func viewIdentity(id *config.Identity) (identityView, error) {
	k, err := protocol.ParsePublicKey(id.PublicKey)
	if err != nil {
		return identityView{}, err
	}
	return identityView{
		PublicKey: k.String(),
		PeerID:    k.PeerID().String(),
		Reference: id.Name + "@" + k.Short(),
		Name:      id.Name,
	}, nil
}

func (a *app) initCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the config file and an identity if they are missing",
		Long: `Creates the config file with a new Ed25519 identity. An existing identity is kept,
so running init again changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return a.runInit() },
	}
}

func (a *app) runInit() error {
	c, path, created, err := a.ensureIdentity()
	if err != nil {
		return err
	}
	status := "already_initialized"
	if created {
		status = "initialized"
	}
	view, err := viewIdentity(c.Identity)
	if err != nil {
		return err
	}
	out := struct {
		Status     string `json:"status"`
		ConfigPath string `json:"configPath"`
		identityView
	}{status, path, view}
	return a.emit(out, func(w io.Writer) {
		if status == "initialized" {
			fmt.Fprintf(w, "Created identity in %s\n", path)
		} else {
			fmt.Fprintf(w, "Identity already exists in %s\n", path)
		}
		printIdentity(w, view)
	})
}

// ensureIdentity loads the chosen config and creates an identity in it when it has none,
// creating the file too when it is missing.
func (a *app) ensureIdentity() (c *config.Config, path string, created bool, err error) {
	if path, err = a.path(); err != nil {
		return nil, "", false, err
	}
	c, err = config.Update(path, a.log, func(c *config.Config) error {
		if c.Identity != nil {
			return config.ErrUnchanged
		}
		k, err := protocol.GenerateKeyPair()
		if err != nil {
			return err
		}
		c.SetIdentity(k)
		created = true
		return nil
	})
	if created && err == nil {
		a.log.Info("created identity", "file", path, "publicKey", c.Identity.PublicKey)
	}
	return c, path, created, err
}

func printIdentity(w io.Writer, v identityView) {
	fmt.Fprintf(w, "public key: %s\npeer ID:    %s\nreference:  %s\n", v.PublicKey, v.PeerID, v.Reference)
}

func (a *app) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Print this node's public key, peer ID and short reference",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			c, path, err := a.loadIdentity()
			if err != nil {
				return err
			}
			view, err := viewIdentity(c.Identity)
			if err != nil {
				return err
			}
			out := struct {
				identityView
				ConfigPath string `json:"configPath"`
			}{view, path}
			return a.emit(out, func(w io.Writer) { printIdentity(w, view) })
		},
	}
}

func (a *app) keygenCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen",
		Short: "Print a new key pair in agora hex form and its peer ID",
		Long: `Prints a new Ed25519 key pair: the public key in SPKI DER hex, the private key in
PKCS#8 DER hex, and the libp2p peer ID. Nothing is written to the config file. The private
key goes to stdout, so keep the output private.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			k, err := protocol.GenerateKeyPair()
			if err != nil {
				return err
			}
			out := map[string]string{
				"publicKey":  k.PublicKey().String(),
				"privateKey": k.PrivateKeyHex(),
				"peerId":     k.PeerID().String(),
			}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "public key:  %s\nprivate key: %s\npeer ID:     %s\n",
					out["publicKey"], out["privateKey"], out["peerId"])
			})
		},
	}
}

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Print the config path, identity, peer count and relay",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return a.runStatus() },
	}
}

func (a *app) runStatus() error {
	c, path, err := a.loadConfig()
	if err != nil {
		return err
	}
	type statusView struct {
		ConfigPath string        `json:"configPath"`
		Identity   *identityView `json:"identity"`
		PeerCount  int           `json:"peerCount"`
		Relay      string        `json:"relay"`
		Listen     []string      `json:"listen,omitempty"`
		Bootstrap  []string      `json:"bootstrap,omitempty"`
	}
	out := statusView{ConfigPath: path, PeerCount: len(c.Peers), Listen: c.Listen, Bootstrap: c.Bootstrap}
	if c.Identity != nil {
		view, err := viewIdentity(c.Identity)
		if err != nil {
			return err
		}
		out.Identity = &view
	}
	if c.Relay != nil {
		out.Relay = c.Relay.URL
	}
	return a.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "config:     %s\n", path)
		if out.Identity == nil {
			fmt.Fprintln(w, "identity:   none (run `agora init`)")
		} else {
			printIdentity(w, *out.Identity)
		}
		fmt.Fprintf(w, "peers:      %d\n", out.PeerCount)
		relay := out.Relay
		if relay == "" {
			relay = "not configured"
		}
		fmt.Fprintf(w, "relay:      %s\n", relay)
		if len(out.Listen) > 0 {
			fmt.Fprintf(w, "listen:     %v\n", out.Listen)
		}
		if len(out.Bootstrap) > 0 {
			fmt.Fprintf(w, "bootstrap:  %d peers\n", len(out.Bootstrap))
		}
	})
}
