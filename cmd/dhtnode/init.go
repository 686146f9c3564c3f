package main

import (
	"fmt"

	"github.com/dhtnode/dhtnode/node"
	"github.com/spf13/cobra"
)

func newInitCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the repo: config.json and an Ed25519 identity key",
		Long: `Init creates the repo directory (mode 0700) with config.json (the defaults; edit
it freely, unknown keys are refused) and identity.key (mode 0600), which gives the
node its peer ID. "dhtnode daemon" runs init by itself when the repo is missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := g.repoPath()
			if err != nil {
				return err
			}
			repo, err := node.InitRepo(path, node.DefaultConfig())
			if err != nil {
				return err
			}
			key, err := repo.Identity()
			if err != nil {
				return err
			}
			id, err := peerIDOf(key)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "initialised repo %s\npeer id: %s\n", path, id)
			return nil
		},
	}
}
