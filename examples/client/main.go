// Command client drives a running dhtnode daemon through its HTTP API with the client
// package, the same way the dhtnode CLI does: it prints the daemon's identity and
// gossip members, then looks one key up through every router the daemon runs.
//
// Start a daemon first (`dhtnode daemon`), then
//
//	go run ./examples/client               # API address and token from ~/.dhtnode
//	go run ./examples/client ~/.dhtnode some-key
//
// Only the repo's owner can read its api.token, and the daemon answers nobody else.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/dhtnode/dhtnode/client"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	repo, key, err := args(os.Args[1:])
	var c *client.Client
	if err == nil {
		c, err = client.FromRepo(repo)
	}
	if err == nil {
		err = run(ctx, os.Stdout, c, key)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

// args reads [REPO [KEY]]; without a repo it takes the daemon's default one
// ($DHTNODE_PATH, else ~/.dhtnode).
func args(a []string) (repo, key string, err error) {
	key = "hello"
	if len(a) > 1 {
		key = a[1]
	}
	if len(a) > 0 {
		return a[0], key, nil
	}
	repo = os.Getenv("DHTNODE_PATH")
	if repo == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", "", err
		}
		repo = filepath.Join(home, ".dhtnode")
	}
	return repo, key, nil
}

func run(ctx context.Context, w io.Writer, c *client.Client, key string) error {
	id, err := c.ID(ctx)
	if err != nil {
		return err // wraps client.ErrNoDaemon when nothing listens, client.ErrUnauthorized on a wrong token
	}
	fmt.Fprintf(w, "daemon %s (version %s), gossip at %s\n", id.PeerID, id.Version, id.GossipAddr)
	members, err := c.Members(ctx)
	if err != nil {
		return err
	}
	for _, m := range members {
		fmt.Fprintf(w, "member %s %s\n", m.PeerID, m.State)
	}
	res, err := c.Lookup(ctx, key, "all")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "lookup %q (read as %s) = key %s\n", res.Input, res.KeyKind, res.Key.Short())
	for _, r := range res.Results {
		if r.Error != "" {
			fmt.Fprintf(w, "  %-8s error: %s\n", r.Router, r.Error)
			continue
		}
		fmt.Fprintf(w, "  %-8s owner %s  hops %d  rpcs %d\n", r.Router, r.Peers[0].Key.Short(), r.Trace.Hops, r.Trace.RPCs)
	}
	return nil
}
