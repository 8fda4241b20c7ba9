package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/agora-p2p/agora/internal/config"
)

func (a *app) configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "List profiles, and export or import configs",
	}
	cmd.AddCommand(a.configProfilesCommand(), a.configExportCommand(), a.configImportCommand())
	return cmd
}

func (a *app) configProfilesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "profiles",
		Short: "List the profiles that have a config file",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			names, err := config.Profiles()
			if err != nil {
				return err
			}
			if names == nil {
				names = []string{}
			}
			return a.emit(map[string]any{"profiles": names}, func(w io.Writer) {
				if len(names) == 0 {
					fmt.Fprintln(w, "No profiles found. Run `agora init` to create the default one.")
				}
				for _, n := range names {
					fmt.Fprintln(w, n)
				}
			})
		},
	}
}

func (a *app) configExportCommand() *cobra.Command {
	var includeIdentity bool
	var output string
	cmd := &cobra.Command{
		Use:   "export [--include-identity] [--output FILE]",
		Short: "Write the peers and relay, and optionally the identity, as portable JSON",
		Long: `Writes {"version":1, "peers", "relay"} in the earlier implementation's export format to
stdout or to --output. With --include-identity the export contains the private key, and
--output files are written with mode 0600.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			c, _, err := a.loadConfig()
			if err != nil {
				return err
			}
			data, err := config.Export(c, includeIdentity)
			if err != nil {
				return err
			}
			if output == "" {
				_, err := a.streams.Out.Write(data)
				return err
			}
			path, err := filepath.Abs(output)
			if err != nil {
				return err
			}
			if err := config.WriteFileAtomic(path, data); err != nil {
				return err
			}
			out := map[string]any{"status": "exported", "path": path, "peerCount": len(c.Peers),
				"includesIdentity": includeIdentity && c.Identity != nil}
			return a.emit(out, func(w io.Writer) { fmt.Fprintf(w, "Exported %d peers to %s\n", len(c.Peers), path) })
		},
	}
	cmd.Flags().BoolVar(&includeIdentity, "include-identity", false, "include the identity, private key included")
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write instead of stdout")
	return cmd
}

type importFlags struct {
	overwriteIdentity bool
	overwriteRelay    bool
	dryRun            bool
}

func (a *app) configImportCommand() *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "import FILE [--overwrite-identity] [--overwrite-relay] [--dry-run]",
		Short: "Merge an exported config into this one",
		Long: `Adds the peers of FILE (written by config export) whose keys are not configured yet;
configured peers are kept. The identity and relay of FILE replace this config's only with
--overwrite-identity and --overwrite-relay, or when this config file does not exist yet.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error { return a.runImport(args[0], f) },
	}
	cmd.Flags().BoolVar(&f.overwriteIdentity, "overwrite-identity", false, "replace this config's identity with the file's")
	cmd.Flags().BoolVar(&f.overwriteRelay, "overwrite-relay", false, "replace this config's relay with the file's")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "print what would change without writing")
	return cmd
}

func (a *app) runImport(file string, f importFlags) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return &exitError{code: ExitUsage, err: fmt.Errorf("read import file: %w", err)}
	}
	incoming, err := config.ParseExport(data, file)
	if err != nil {
		return err
	}
	path, err := a.path()
	if err != nil {
		return err
	}
	_, statErr := os.Stat(path)
	isNew := errors.Is(statErr, os.ErrNotExist)
	var res config.ImportResult
	_, err = config.Update(path, a.log, func(target *config.Config) error {
		var err error
		res, err = config.Import(target, incoming, config.ImportOptions{
			OverwriteIdentity: f.overwriteIdentity || isNew,
			OverwriteRelay:    f.overwriteRelay || isNew,
		})
		if err == nil && f.dryRun {
			return config.ErrUnchanged
		}
		return err
	})
	if err != nil {
		return err
	}
	status := "imported"
	if f.dryRun {
		status = "dry-run"
	}
	out := struct {
		Status     string `json:"status"`
		ConfigPath string `json:"configPath"`
		config.ImportResult
	}{status, path, res}
	return a.emit(out, func(w io.Writer) {
		verb := "Imported into"
		if f.dryRun {
			verb = "Dry run, nothing written to"
		}
		fmt.Fprintf(w, "%s %s: %d peers added, %d already configured, identity %s, relay %s\n",
			verb, path, len(res.PeersAdded), len(res.PeersSkipped),
			yesNo(res.IdentityImported, "imported", "kept"), yesNo(res.RelayImported, "imported", "kept"))
	})
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}
