// Package cli implements the agora command line. Run executes one command in-process, so tests
// drive it exactly as the binary does.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agora-p2p/agora/internal/config"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and failed: invalid envelope, undelivered message, bad config
	ExitUsage   = 2 // wrong arguments or flags, or input that cannot be read
)

// Streams are the standard streams of one run.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// exitError carries an exit code other than ExitFailure. quiet means the message was already
// written.
type exitError struct {
	code  int
	err   error
	quiet bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// silentFailure ends a command with code after it has written its own output.
func silentFailure(code int, err error) error {
	return &exitError{code: code, err: err, quiet: true}
}

// app is the state shared by the commands of one run.
type app struct {
	ctx     context.Context
	streams Streams

	configPath string
	profile    string
	jsonOut    bool
	logLevel   string
	logFormat  string

	log *slog.Logger
}

// Run executes the agora command line with args (without the program name) and returns the
// exit code. ctx cancels long-running commands such as `node` and `relay`.
func Run(ctx context.Context, args []string, streams Streams) int {
	a := &app{ctx: ctx, streams: streams}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	code := ExitFailure
	if errors.As(err, &ee) {
		code = ee.code
		if ee.quiet {
			return code
		}
	} else if isCobraUsageError(err) {
		code = ExitUsage
	}
	fmt.Fprintf(streams.Err, "Error: %v\n", err)
	return code
}

// isCobraUsageError recognizes the errors cobra returns for bad flags and arguments, because
// cobra has no error type for them.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "unknown shorthand flag",
		"flag needs an argument", "invalid argument", "accepts ", "requires at least", "requires at most",
		"requires exactly", "bad flag syntax", "if any flags in the group", "required flag(s)"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "agora",
		Short: "Peer-to-peer node and relay for AI agents",
		Long: `agora runs a libp2p node whose identity is an Ed25519 key and exchanges signed,
content-addressed JSON envelopes with other agents, directly or through a relay.

The config file is chosen by --config, else --profile, else $AGORA_CONFIG, else
~/.config/agora/config.json ($AGORA_CONFIG_DIR replaces ~/.config/agora).`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(*cobra.Command, []string) error { return a.setupLogging() },
	}
	flags := root.PersistentFlags()
	flags.StringVar(&a.configPath, "config", "", "config file path (default $AGORA_CONFIG or ~/.config/agora/config.json)")
	flags.StringVar(&a.profile, "profile", "", "named profile: uses ~/.config/agora/profiles/NAME/config.json; \"default\" is config.json")
	flags.StringVar(&a.profile, "as", "", "alias of --profile")
	flags.BoolVar(&a.jsonOut, "json", false, "write machine-readable JSON to stdout")
	flags.StringVar(&a.logLevel, "log-level", "info", "minimum level of the logs written to stderr: debug, info, warn or error")
	flags.StringVar(&a.logFormat, "log-format", "text", "format of the logs written to stderr: text or json")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: ExitUsage, err: err} })

	root.AddCommand(
		a.initCommand(), a.whoamiCommand(), a.keygenCommand(), a.statusCommand(),
		a.peersCommand(), a.configCommand(), a.verifyCommand(), a.sendCommand(),
		a.nodeCommand(), a.relayCommand(), a.benchCommand(),
	)
	return root
}

func (a *app) setupLogging() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return usageError("invalid --log-level %q: use debug, info, warn or error", a.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch a.logFormat {
	case "text":
		a.log = slog.New(slog.NewTextHandler(a.streams.Err, opts))
	case "json":
		a.log = slog.New(slog.NewJSONHandler(a.streams.Err, opts))
	default:
		return usageError("invalid --log-format %q: use text or json", a.logFormat)
	}
	return nil
}

// path returns the config file chosen by the global flags and the environment.
func (a *app) path() (string, error) {
	p, err := config.Resolve(a.configPath, a.profile)
	if err != nil {
		return "", usageError("%v", err)
	}
	return p, nil
}

// loadConfig reads the chosen config file, which must exist.
func (a *app) loadConfig() (*config.Config, string, error) {
	path, err := a.path()
	if err != nil {
		return nil, "", err
	}
	c, err := config.Load(path, a.log)
	if errors.Is(err, os.ErrNotExist) {
		return nil, path, fmt.Errorf("config file %s not found; run `agora init` to create it", path)
	}
	return c, path, err
}

// loadIdentity reads the chosen config file, which must have an identity.
func (a *app) loadIdentity() (*config.Config, string, error) {
	c, path, err := a.loadConfig()
	if err != nil {
		return nil, path, err
	}
	if c.Identity == nil {
		return nil, path, fmt.Errorf("config file %s has no identity; run `agora init` to create one", path)
	}
	return c, path, nil
}

// updateConfig applies change to the chosen config file under its lock. The file must exist.
func (a *app) updateConfig(change func(*config.Config) error) (*config.Config, error) {
	path, err := a.path()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("config file %s not found; run `agora init` to create it", path)
	}
	return config.Update(path, a.log, change)
}
