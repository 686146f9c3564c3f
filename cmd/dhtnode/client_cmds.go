package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/spf13/cobra"
)

func newIDCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "id",
		Short: "Show the daemon's peer ID, gossip address and bound listen addresses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := queryAndPrint(cmd, g, format, 10*time.Second, (*client.Client).ID, printIDInfo)
			return err
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

// printIDInfo is id's text output.
func printIDInfo(w io.Writer, info client.IDInfo) error {
	fmt.Fprintf(w, "peer id:  %s\n", info.PeerID)
	fmt.Fprintf(w, "gossip:   %s\n", info.GossipAddr)
	if info.GossipBind != info.GossipAddr {
		fmt.Fprintf(w, "          (%s)\n", gossipWhere(info))
	}
	if info.GossipTransport != "" {
		fmt.Fprintf(w, "transport: gossip over %s\n", info.GossipTransport)
	}
	fmt.Fprintf(w, "cluster:  %s\n", clusterLine(info.Cluster))
	printReach(w, info.Reach)
	fmt.Fprintf(w, "api:      %s\n", info.APIAddr)
	fmt.Fprintf(w, "version:  %s\n", info.Version)
	fmt.Fprintln(w, "listen:")
	for _, a := range info.ListenAddrs {
		fmt.Fprintf(w, "  %s\n", a)
	}
	fmt.Fprintln(w, "announced:")
	for _, a := range info.Addrs {
		fmt.Fprintf(w, "  %s/p2p/%s\n", a, info.PeerID)
	}
	return nil
}

func newMembersCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List cluster members and their state (alive, suspect, dead, left)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := queryAndPrint(cmd, g, format, 10*time.Second, (*client.Client).Members, printMembers)
			return err
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

// printMembers is members' text output: one table row per member.
func printMembers(w io.Writer, members []client.MemberInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tSTATE\tPEER ID")
	for _, m := range members {
		name := m.Name
		if name == m.PeerID {
			name = shortID(name)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, m.Addr, m.State, m.PeerID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, m := range members {
		if m.Self && m.Cluster != nil && !m.Cluster.Joined {
			fmt.Fprintf(w, "this node: %s\n", clusterLine(*m.Cluster))
		}
	}
	return nil
}

// clusterLine is the node's join state on one line: "joined", or why not.
func clusterLine(c client.ClusterInfo) string {
	switch {
	case c.Joined:
		return "joined"
	case c.State == "joining":
		return "NOT JOINED: " + c.Reason
	case c.State == "":
		return "unknown (daemon too old to say)"
	}
	return c.State + ": " + c.Reason
}

// shortID abbreviates a peer ID used as a name, since the full ID has its own column.
func shortID(s string) string {
	if len(s) <= 16 {
		return s
	}
	return s[:6] + "…" + s[len(s)-6:]
}

func newJoinCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "join ADDRESS...",
		Example: `  dhtnode join /ip4/10.0.0.1/tcp/4101/p2p/12D3KooW...   # gossip.transport libp2p (default)
  dhtnode join 10.0.0.1:7946                              # gossip.transport udp
  dhtnode join 127.0.0.1:7951 127.0.0.1:7952   # succeeds if any one answers`,
		Short: "Join the cluster through these members",
		Long: `Join contacts the given members now and merges this node into their cluster.
It fails if none of them answers. An address is what "dhtnode id" prints as
gossip: a multiaddr ending in /p2p/<peer ID> when gossip runs over libp2p, the
gossip host:port when it runs over udp. (To keep retrying in the background
instead, start the daemon with --join.)`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return callDaemon(cmd, g, 60*time.Second, func(c *client.Client, ctx context.Context) error {
				n, err := c.Join(ctx, args)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "joined %d node(s) via %s\n", n, strings.Join(args, ", "))
				return nil
			})
		},
	}
}

func newLeaveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "leave",
		Short: "Leave the cluster gracefully and stop the daemon",
		Long: `Leave broadcasts a graceful leave, so the other members mark this node "left"
(not failed) and stop trying to reconnect to it, then stops the daemon.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := callDaemon(cmd, g, 30*time.Second, (*client.Client).Leave); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "left the cluster; daemon stopping")
			return nil
		},
	}
}

func newShutdownCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "shutdown",
		Short: "Stop the daemon without leaving the cluster",
		Long: `Shutdown stops the daemon without a graceful leave: the other members will mark
it failed and keep trying to reconnect, so it rejoins by itself when restarted
(use this for restarts; use "leave" to go away for good).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := callDaemon(cmd, g, 10*time.Second, (*client.Client).Shutdown); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "daemon stopping")
			return nil
		},
	}
}
