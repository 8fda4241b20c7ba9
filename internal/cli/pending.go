package cli

import (
	"context"

	"github.com/spf13/cobra"
)

// TODO: replace with the relaymode package once it lands.

func (a *app) sendRelay(context.Context, *sendPlan) error { return errNotAvailable }

func (a *app) relayCommand() *cobra.Command {
	return &cobra.Command{Use: "relay", Short: "Run a relay", RunE: func(*cobra.Command, []string) error { return errNotAvailable }}
}

func (a *app) peersDiscoverCommand() *cobra.Command {
	return &cobra.Command{Use: "discover", Short: "Discover peers", RunE: func(*cobra.Command, []string) error { return errNotAvailable }}
}
