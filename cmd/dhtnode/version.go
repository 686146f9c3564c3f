package main

import (
	"context"
	"fmt"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/node"
	"github.com/spf13/cobra"
)

func newVersionCmd(g *globals) *cobra.Command {
	var format string
	var daemon bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version (and the running daemon's with --daemon)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			out := map[string]string{"version": node.Version()}
			if daemon {
				err := callDaemon(cmd, g, 10*time.Second, func(c *client.Client, ctx context.Context) error {
					v, err := c.Version(ctx)
					out["daemon_version"] = v
					return err
				})
				if err != nil {
					return err
				}
			}
			if done, err := printStructured(cmd.OutOrStdout(), format, out); done {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "dhtnode %s\n", out["version"])
			if daemon {
				fmt.Fprintf(cmd.OutOrStdout(), "daemon  %s\n", out["daemon_version"])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&daemon, "daemon", false, "also ask the running daemon for its version")
	addFormatFlag(cmd, &format)
	return cmd
}
