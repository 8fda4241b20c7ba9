package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/agora-p2p/agora/internal/config"
	"github.com/agora-p2p/agora/protocol"
)

func (a *app) verifyCommand() *cobra.Command {
	var anySender bool
	cmd := &cobra.Command{
		Use:     "verify [FILE|-]",
		Aliases: []string{"decode"},
		Short:   "Check an envelope in JSON or [AGORA_ENVELOPE] webhook form",
		Long: `Reads one envelope from FILE, or from stdin when FILE is "-" or absent, and checks its
structure, limits, content address and signature. The input is envelope JSON or the webhook
text form "[AGORA_ENVELOPE]" followed by base64url JSON.

Prints "valid" and a summary and exits 0, or prints "invalid" and the reason code and exits 1.
Exits 2 when the input cannot be read. In the webhook form the sender must also be a
configured peer or this node's identity (reason unknown_sender), as in the earlier
implementation, unless --any-sender is given.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			file := "-"
			if len(args) == 1 {
				file = args[0]
			}
			return a.runVerify(file, anySender)
		},
	}
	cmd.Flags().BoolVar(&anySender, "any-sender", false, "accept webhook-form envelopes from senders that are not configured peers")
	return cmd
}

func (a *app) readInput(file string, limit int64) ([]byte, error) {
	var r io.Reader = a.streams.In
	name := "stdin"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, name = f, file
	}
	if r == nil {
		return nil, errors.New("no stdin")
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return data, nil
}

// verdictView is the --json output of verify.
type verdictView struct {
	Valid         bool            `json:"valid"`
	Reason        protocol.Reason `json:"reason,omitempty"`
	Detail        string          `json:"detail,omitempty"`
	ID            string          `json:"id,omitempty"`
	Type          string          `json:"type,omitempty"`
	From          string          `json:"from,omitempty"`
	FromReference string          `json:"fromReference,omitempty"`
	To            []string        `json:"to,omitempty"`
	Timestamp     float64         `json:"timestamp,omitempty"`
	Time          string          `json:"time,omitempty"`
	InReplyTo     string          `json:"inReplyTo,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
}

func (a *app) runVerify(file string, anySender bool) error {
	lim := protocol.DefaultLimits()
	// The webhook form is base64, 4/3 the size of the JSON it contains.
	readLimit := int64(lim.MaxBytes)*4/3 + int64(len(protocol.WebhookPrefix)) + 64
	data, err := a.readInput(file, readLimit)
	if err != nil {
		return &exitError{code: ExitUsage, err: fmt.Errorf("cannot read the input: %w", err)}
	}
	var env *protocol.Envelope
	if int64(len(data)) > readLimit {
		err = &protocol.Error{Reason: protocol.ReasonTooLarge, Detail: fmt.Sprintf("input exceeds %d bytes", readLimit)}
	} else if isWebhookForm(data) {
		env, err = protocol.DecodeWebhook(string(data), lim)
		if err == nil && !anySender {
			err = a.checkKnownSender(env)
		}
	} else {
		env, err = protocol.Verify(bytes.TrimSpace(data), lim)
	}
	if err != nil {
		return a.printInvalid(err)
	}
	return a.printValid(env)
}

// isWebhookForm distinguishes envelope JSON from the webhook text form. Text that is neither, such as
// base64 without the prefix, goes to the webhook decoder, which names it not_agora_message.
func isWebhookForm(data []byte) bool {
	t := bytes.TrimSpace(data)
	if len(t) == 0 || t[0] == '{' {
		return false
	}
	if bytes.HasPrefix(t, []byte(protocol.WebhookPrefix)) {
		return true
	}
	return !json.Valid(t)
}

// checkKnownSender accepts the senders that the earlier implementation's webhook receiver
// accepts: configured peers, and this node itself.
func (a *app) checkKnownSender(env *protocol.Envelope) error {
	sender, err := env.Sender()
	if err != nil {
		return &protocol.Error{Reason: protocol.ReasonInvalidSender, Detail: err.Error()}
	}
	c, err := a.optionalConfig()
	if err != nil {
		return err
	}
	if c.FindPeer(sender) != nil {
		return nil
	}
	if c.Identity != nil {
		if self, err := protocol.ParsePublicKey(c.Identity.PublicKey); err == nil && self == sender {
			return nil
		}
	}
	return &protocol.Error{Reason: protocol.ReasonUnknownSender,
		Detail: fmt.Sprintf("sender %s is not a configured peer (pass --any-sender to accept it)", sender.PeerID())}
}

// optionalConfig loads the chosen config, or an empty one when the file does not exist.
func (a *app) optionalConfig() (*config.Config, error) {
	path, err := a.path()
	if err != nil {
		return nil, err
	}
	return config.LoadOrEmpty(path, a.log)
}

func (a *app) printInvalid(err error) error {
	reason := protocol.ReasonOf(err)
	if reason == "" {
		// A config that cannot be read, not a verdict on the envelope.
		return err
	}
	var pe *protocol.Error
	errors.As(err, &pe)
	out := verdictView{Reason: reason, Detail: pe.Detail}
	if emitErr := a.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "invalid %s: %s\n", reason, printable(pe.Detail, 200))
	}); emitErr != nil {
		return emitErr
	}
	return silentFailure(ExitFailure, err)
}

func (a *app) printValid(env *protocol.Envelope) error {
	c, err := a.optionalConfig()
	if err != nil {
		// The verdict does not depend on the config; only the sender's name is lost.
		a.log.Warn("config not read; printing the sender without its name", "err", err)
		c = &config.Config{}
	}
	out := verdictView{
		Valid:         true,
		ID:            env.ID,
		Type:          env.Type,
		From:          env.From,
		FromReference: shortRef(c, env.From),
		To:            env.To,
		Timestamp:     env.Timestamp,
		Time:          env.Time().UTC().Format(time.RFC3339Nano),
		InReplyTo:     env.InReplyTo,
		Payload:       env.Payload,
	}
	return a.emit(out, func(w io.Writer) {
		fmt.Fprintf(w, "valid id=%s type=%s from=%s to=%d time=%s\n",
			env.ID, printable(env.Type, 64), printable(out.FromReference, 80), len(env.To), out.Time)
	})
}

// shortRef returns name@<last 8> for a configured peer or this node, else @<last 8>.
func shortRef(c *config.Config, key string) string {
	k, err := protocol.ParsePublicKey(key)
	if err != nil {
		return printable(key, 16)
	}
	if p := c.FindPeer(k); p != nil {
		return p.Reference()
	}
	if c.Identity != nil && c.Identity.PublicKey == k.String() {
		return c.Identity.Name + "@" + k.Short()
	}
	return "@" + k.Short()
}

// printable makes text from the network safe for a terminal: text with control or other
// non-printing characters is quoted with Go escapes, and long text is cut to max runes.
func printable(s string, max int) string {
	runes := []rune(s)
	cut := len(runes) > max
	if cut {
		runes = runes[:max]
	}
	s = string(runes)
	for _, r := range s {
		if !unicode.IsPrint(r) {
			s = strconv.Quote(s)
			break
		}
	}
	if cut {
		s += "…"
	}
	return s
}
