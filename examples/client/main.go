// Command client drives a running dhtnode daemon through its HTTP API with the client
// package, the same way the dhtnode CLI does: it prints the daemon's identity and
// gossip members, then looks one key up through every router the daemon runs.
//
// Start a daemon first (`dhtnode init && dhtnode daemon`), then
//
//	go run ./examples/client               # finds the API address in ~/.dhtnode/api
//	go run ./examples/client 127.0.0.1:5101 some-key
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
	addr, key, err := args(os.Args[1:])
	if err == nil {
		err = run(ctx, os.Stdout, addr, key)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

// args reads [API-ADDR [KEY]]; without an address it reads the one the daemon wrote into
// its repo ($DHTNODE_PATH, else ~/.dhtnode).
func args(a []string) (addr, key string, err error) {
	key = "hello"
	if len(a) > 1 {
		key = a[1]
	}
	if len(a) > 0 {
		return a[0], key, nil
	}
	repo := os.Getenv("DHTNODE_PATH")
	if repo == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", "", err
		}
		repo = filepath.Join(home, ".dhtnode")
	}
	addr, err = client.ReadAPIAddr(repo)
	return addr, key, err
}

func run(ctx context.Context, w io.Writer, addr, key string) error {
	c := client.New(addr)
	id, err := c.ID(ctx)
	if err != nil {
		return err // wraps client.ErrNoDaemon when nothing listens at addr
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
