package main

import (
	"fmt"
	"time"

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
				c, err := g.client()
				if err != nil {
					return err
				}
				ctx, cancel := callCtx(cmd, 10*time.Second)
				defer cancel()
				v, err := c.Version(ctx)
				if err != nil {
					return c.check(err)
				}
				out["daemon_version"] = v
			}
			if format == "json" {
				return printJSON(cmd.OutOrStdout(), out)
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
