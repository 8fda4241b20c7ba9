package cli

import (
	"context"

	"github.com/spf13/cobra"
)

// TODO: replace with the relaymode package once it lands.

func (a *app) sendRelay(context.Context, *sendPlan) error { return errNotAvailable }

func (a *app) relayCommand() *cobra.Command {
	var f relayFlags
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Run a node in relay mode until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			return errNotAvailable
		},
	}
	addRelayFlags(cmd, &f)
	return cmd
}

func (a *app) peersDiscoverCommand() *cobra.Command {
	return &cobra.Command{Use: "discover", Short: "Discover peers", RunE: func(*cobra.Command, []string) error { return errNotAvailable }}
}
