// Command dhtnode runs a dhtnode peer daemon and talks to it.
//
// `dhtnode daemon` starts a node (creating its repo on first run); every other
// command is a thin client of the daemon's local HTTP API. See README.md.
//
// Adding a command: write a file with a `newXxxCmd(g *globals) *cobra.Command`
// constructor (no init()), and list it in newRootCmd below, or in the command list of
// its area's file (routingCommands in routing.go, contentCommands in content.go,
// compareCommands in compare.go). Client commands get their API client from
// g.client(cmd) and print with printJSON or a tabwriter; return errors, never
// os.Exit: main prints "dhtnode: <error>" and exits 1.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit status.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "dhtnode: %v\n", err)
		var exit *exitError
		if errors.As(err, &exit) {
			return exit.code
		}
		return 1
	}
	return 0
}

// exitError lets a command choose a status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

const rootLong = `dhtnode is a gossip-based peer-to-peer DHT node: nodes find each other with SWIM
gossip, route lookups through Chord or Kademlia, and share files by content hash.

Start a node with "dhtnode daemon" (it creates its repo on first run); the other
commands talk to the running daemon over its local HTTP API.

Repo: --repo, else $DHTNODE_PATH, else ~/.dhtnode.
API:  --api, else $DHTNODE_API, else the address the daemon wrote into the repo.

Exit status: 0 on success, 1 on failure (the error is printed on stderr as
"dhtnode: <message>").`

// newRootCmd builds the whole command tree. Feature commands come from their own files.
func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "dhtnode",
		Short:         "Gossip-based peer-to-peer DHT node",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.repo, "repo", "", "repo directory (default $DHTNODE_PATH or ~/.dhtnode)")
	root.PersistentFlags().StringVar(&g.api, "api", "", "daemon API address host:port (default $DHTNODE_API or the repo's api file)")
	root.AddGroup(&cobra.Group{ID: "node", Title: "Node commands:"})

	core := []*cobra.Command{
		newInitCmd(g),
		newDaemonCmd(g),
		newIDCmd(g),
		newMembersCmd(g),
		newJoinCmd(g),
		newLeaveCmd(g),
		newShutdownCmd(g),
		newVersionCmd(g),
	}
	for _, c := range core {
		c.GroupID = "node"
		root.AddCommand(c)
	}
	addGroup(root, "content", "Content commands (share files by content ID):", contentCommands(g))
	addGroup(root, "routing", "Routing commands (Chord, Kademlia, one-hop):", routingCommands(g))
	addGroup(root, "compare", "Simulation:", compareCommands(g))
	addGroup(root, "observe", "Watching a node (devnet, web UI, peers, traffic, transfers):", observeCommands(g))
	return root
}

// addGroup lists cmds under their own heading in --help.
func addGroup(root *cobra.Command, id, title string, cmds []*cobra.Command) {
	root.AddGroup(&cobra.Group{ID: id, Title: title})
	for _, c := range cmds {
		c.GroupID = id
		root.AddCommand(c)
	}
}
