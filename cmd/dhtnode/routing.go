package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/spf13/cobra"
)

// routingCommands are the lookup and routing commands (lookup.go, routing.go).
func routingCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{newLookupCmd(g), newRoutingCmd(g)}
}

func newRoutingCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use: "routing",
		Example: `  dhtnode routing routers               # which routers run, which is the default
  dhtnode routing table --via kademlia
  dhtnode routing provide "my key" --via all
  dhtnode routing findprovs "my key" --via chord --trace`,
		Short: "Inspect routing tables, announce and find providers",
		Long: `Inspect the routers' state and use their provider records directly.

"dhtnode add" announces content and "dhtnode get" finds it through the default
router; these commands do the same steps by hand, through any router.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newRoutingTableCmd(g), newRoutingProvideCmd(g), newRoutingFindprovsCmd(g), newRoutingRoutersCmd(g))
	return cmd
}

func newRoutingTableCmd(g *globals) *cobra.Command {
	var via, format string
	cmd := &cobra.Command{
		Use:   "table",
		Short: "Print a router's table (Chord: predecessor, successors, fingers; Kademlia: k-buckets)",
		Example: `  dhtnode routing table --via chord
  dhtnode routing table --via all --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := queryAndPrint(cmd, g, format, 30*time.Second,
				func(c *client.Client, ctx context.Context) ([]routing.Table, error) { return c.RoutingTables(ctx, via) },
				printTables)
			return err
		},
	}
	addViaFlag(cmd, &via)
	addFormatFlag(cmd, &format)
	return cmd
}

// printTables is routing table's text output: each table, a blank line between them.
func printTables(w io.Writer, tables []routing.Table) error {
	for i, t := range tables {
		if i > 0 {
			fmt.Fprintln(w)
		}
		printTable(w, t)
	}
	return nil
}

// printTable prints any router's table section by section.
func printTable(w io.Writer, t routing.Table) {
	fmt.Fprintf(w, "%s table of %s (key %s), %d entries\n", t.Algo, t.Self.Peer, t.Self.Key.Short(), t.Entries())
	for _, s := range t.Sections {
		fmt.Fprintf(w, "%s (%d)\n", s.Name, len(s.Entries))
		if len(s.Entries) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  INDEX\tPEER\tKEY\tSTART\tLAST SEEN")
		for _, e := range s.Entries {
			start, seen := "", ""
			if e.Start != nil {
				start = e.Start.Short()
			}
			if !e.LastSeen.IsZero() {
				seen = time.Since(e.LastSeen).Round(time.Second).String() + " ago"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", e.Index, e.Peer, e.Key.Short(), start, seen)
		}
		tw.Flush()
	}
}

func newRoutingProvideCmd(g *globals) *cobra.Command {
	var via, format string
	cmd := &cobra.Command{
		Use:   "provide KEY",
		Short: "Announce this node as a provider of KEY (a content ID, hex key or text)",
		Long: `Announce the daemon as a provider of KEY through a router: Chord stores the record on
the key's owner and its successors, Kademlia on the k closest peers.

` + keyHelp,
		Example: `  dhtnode routing provide bagaaiera... --via chord`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return routingQuery(cmd, g, format, func(c *client.Client, ctx context.Context) (client.RoutingResponse, error) {
				return c.Provide(ctx, args[0], via)
			}, "", false)
		},
	}
	addViaFlag(cmd, &via)
	addFormatFlag(cmd, &format)
	return cmd
}

func newRoutingFindprovsCmd(g *globals) *cobra.Command {
	var via, format string
	var limit int
	var trace bool
	cmd := &cobra.Command{
		Use:   "findprovs KEY",
		Short: "Find the peers that provide KEY",
		Long: `Find the peers that announced KEY, through a router.

` + keyHelp,
		Example: `  dhtnode routing findprovs bagaaiera... --via chord --trace`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return routingQuery(cmd, g, format, func(c *client.Client, ctx context.Context) (client.RoutingResponse, error) {
				return c.FindProviders(ctx, args[0], via, limit)
			}, "provider", trace)
		},
	}
	addViaFlag(cmd, &via)
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many providers (0: no limit)")
	cmd.Flags().BoolVar(&trace, "trace", false, "show every hop")
	addFormatFlag(cmd, &format)
	return cmd
}

func newRoutingRoutersCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "routers",
		Short: "List the routers the daemon runs and which one is the default",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := queryAndPrint(cmd, g, format, 10*time.Second, (*client.Client).RoutingRouters, printRouters)
			return err
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

// printRouters is routing routers' text output: one name a line, the default marked.
func printRouters(w io.Writer, routers []client.RouterInfo) error {
	for _, r := range routers {
		mark := ""
		if r.Default {
			mark = "  (default)"
		}
		fmt.Fprintf(w, "%s%s\n", r.Name, mark)
	}
	return nil
}
