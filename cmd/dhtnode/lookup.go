package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/spf13/cobra"
)

const keyHelp = `KEY is read as follows:
  - 64 hexadecimal digits: the key itself;
  - a content ID (any CID, e.g. what "dhtnode add" prints): its sha2-256 digest
    (the SHA-256 of the manifest), which is where content is announced;
  - anything else: SHA-256 of the text.`

func newLookupCmd(g *globals) *cobra.Command {
	var via, format string
	var trace bool
	cmd := &cobra.Command{
		Use:   "lookup KEY",
		Short: "Find the node responsible for a key, through Chord, Kademlia or one-hop",
		Long: `Find the node(s) responsible for KEY and show how the lookup got there.

Chord answers with the key's successor on the ring (then its successors); Kademlia
with the peers closest to the key by XOR distance; one-hop with the owner from the
gossip membership view. --via all asks every router the daemon runs, one after the
other, so the answers can be compared side by side. With --trace each hop is listed:
the node asked, its position in the key space, the distance left to the key under the router's
metric (Chord: clockwise distance as 2^x; Kademlia: common prefix length), its
referral depth and the request's round-trip time.

` + keyHelp,
		Example: `  dhtnode lookup hello --via chord --trace
  dhtnode lookup 6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b --via all
  dhtnode lookup bagaaiera... --via kademlia --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return routingQuery(cmd, g, format, func(c *client.Client, ctx context.Context) (client.RoutingResponse, error) {
				return c.Lookup(ctx, args[0], via)
			}, "owner", trace)
		},
	}
	addViaFlag(cmd, &via)
	cmd.Flags().BoolVar(&trace, "trace", false, "show every hop of the lookup")
	addFormatFlag(cmd, &format)
	return cmd
}

// addViaFlag adds --via, the router(s) a routing command goes through, to cmd.
func addViaFlag(cmd *cobra.Command, via *string) {
	cmd.Flags().StringVar(via, "via", "", "router: chord, kademlia, onehop or all (default: the daemon's default router)")
}

// routingQuery runs lookup, provide or findprovs (see queryAndPrint, with a 3-minute
// bound) and prints the answer with printRoutingResponse(role, hops). It fails the
// command when any router failed, after the answer is printed.
func routingQuery(cmd *cobra.Command, g *globals, format string,
	query func(c *client.Client, ctx context.Context) (client.RoutingResponse, error), role string, hops bool) error {
	resp, err := queryAndPrint(cmd, g, format, 3*time.Minute, query, func(w io.Writer, resp client.RoutingResponse) error {
		printRoutingResponse(w, resp, role, hops)
		return nil
	})
	if err != nil {
		return err
	}
	return resultsError(resp)
}

// describeKey says how the daemon read the key.
func describeKey(resp client.RoutingResponse) string {
	switch resp.KeyKind {
	case client.KeyKindCID:
		return fmt.Sprintf("digest of content ID %s", resp.Input)
	case client.KeyKindString:
		return fmt.Sprintf("SHA-256 of the text %q", resp.Input)
	}
	return "given as hex"
}

// printRoutingResponse prints one block per router: the first peer (owner or
// provider), the trace summary and, with hops, the path.
func printRoutingResponse(w io.Writer, resp client.RoutingResponse, role string, hops bool) {
	fmt.Fprintf(w, "key %s (%s)\n", resp.Key, describeKey(resp))
	for _, res := range resp.Results {
		t := res.Trace
		fmt.Fprintf(w, "\n%s:", res.Router)
		if res.Error != "" {
			fmt.Fprintf(w, " FAILED: %s\n", res.Error)
		} else {
			fmt.Fprintln(w)
		}
		for i, p := range res.Peers {
			label := role
			if i > 0 {
				label = "then"
				if role == "provider" {
					label = "provider"
				}
			}
			if i == 0 || role == "provider" || hops {
				fmt.Fprintf(w, "  %-8s %s  (key %s)\n", label, p.PeerID, p.Key.Short())
			}
		}
		if len(res.Peers) == 0 && res.Error == "" && role != "" {
			fmt.Fprintf(w, "  no %s found\n", role)
		}
		fmt.Fprintf(w, "  hops %d  rpcs %d  timeouts %d  latency %s\n", t.Hops, t.RPCs, t.Timeouts, roundDuration(t.Latency))
		if hops && len(t.Path) == 0 && t.RPCs == 0 && res.Error == "" {
			fmt.Fprintln(w, "  answered from this node's own table; no request sent")
		}
		if hops && len(t.Path) > 0 {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "  STEP\tDEPTH\tNODE\tKEY\tDISTANCE LEFT\tRTT\tERROR")
			for i, h := range t.Path {
				fmt.Fprintf(tw, "  %d\t%d\t%s\t%s\t%s\t%s\t%s\n", i+1, h.Depth, h.Peer, h.Key.Short(), h.Distance, roundDuration(h.RTT), h.Error)
			}
			tw.Flush()
		}
	}
}

// resultsError fails the command when any router failed, after the output is printed.
func resultsError(resp client.RoutingResponse) error {
	for _, res := range resp.Results {
		if res.Error != "" {
			return fmt.Errorf("%s: %s", res.Router, res.Error)
		}
	}
	return nil
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
