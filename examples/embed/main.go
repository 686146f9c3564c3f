// Command embed runs three dhtnode nodes inside one Go program: each is a full node
// (libp2p host, SWIM gossip, Chord and Kademlia routers) on loopback, without a repo
// or an HTTP API. The second and third join the first's gossip address; the program
// waits until every node sees the other two, then lets one leave gracefully and waits
// until the others have noticed.
//
//	go run ./examples/embed
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dhtnode/dhtnode/node"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

// loopbackConfig is a node that binds free ports on 127.0.0.1, runs no HTTP API and uses
// memberlist's "local" timing, which suits nodes in one process.
func loopbackConfig() node.Config {
	cfg := node.DefaultConfig()
	cfg.Addresses.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Addresses.Gossip = "127.0.0.1:0"
	cfg.Addresses.API = ""
	cfg.Gossip.Profile = "local"
	return cfg
}

func run(ctx context.Context, w io.Writer) error {
	var nodes []*node.Node
	defer func() {
		for _, n := range nodes {
			_ = n.Close()
		}
	}()
	for range 3 {
		n, err := node.New(loopbackConfig(), nil) // nil: no repo, a fresh identity
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	seed := nodes[0].IDInfo().GossipAddr
	for _, n := range nodes[1:] {
		if _, err := n.Join([]string{seed}); err != nil {
			return fmt.Errorf("join %s: %w", seed, err)
		}
	}
	for _, n := range nodes {
		if err := waitAlive(ctx, n, 2); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "cluster of %d nodes: each sees the other %d alive\n", len(nodes), len(nodes)-1)

	// A graceful leave is gossiped: the others drop the node at once, and their routers
	// forget it, instead of waiting for failure detection.
	if err := nodes[2].Leave(); err != nil {
		return err
	}
	for _, n := range nodes[:2] {
		if err := waitAlive(ctx, n, 1); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "one node left: the other two see 1 alive peer each")
	return nil
}

// waitAlive polls until n sees exactly want other members alive.
func waitAlive(ctx context.Context, n *node.Node, want int) error {
	for len(n.AlivePeers()) != want {
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s sees %d peers alive, want %d: %w", n.ID(), len(n.AlivePeers()), want, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
