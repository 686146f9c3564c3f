// Command share runs two dhtnode nodes in one program, adds a file on the first and
// fetches it on the second by its content ID alone: the second node asks its router
// (Kademlia, the default) who provides the ID, fetches the manifest and the pieces from
// that provider, verifies every piece against the Merkle root, and writes the file.
//
// Content needs a blockstore; an embedded node without a repo gets one when
// content.blocks_dir is an absolute path.
//
//	go run ./examples/share
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/node"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "dhtnode-share-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "share:", err)
		os.Exit(1)
	}
	err = run(ctx, os.Stdout, dir)
	_ = os.RemoveAll(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "share:", err)
		os.Exit(1)
	}
}

// nodeConfig is a loopback node with its blockstore in blocks (absolute).
func nodeConfig(blocks string) node.Config {
	cfg := node.DefaultConfig()
	cfg.Addresses.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Addresses.Gossip = "127.0.0.1:0"
	cfg.Addresses.API = ""
	cfg.Gossip.Profile = "local"
	cfg.Content.BlocksDir = blocks
	return cfg
}

func run(ctx context.Context, w io.Writer, dir string) error {
	alice, err := node.New(nodeConfig(filepath.Join(dir, "alice")), nil)
	if err != nil {
		return err
	}
	defer alice.Close()
	bob, err := node.New(nodeConfig(filepath.Join(dir, "bob")), nil)
	if err != nil {
		return err
	}
	defer bob.Close()
	if _, err := bob.Join([]string{alice.IDInfo().GossipAddr}); err != nil {
		return err
	}

	// One MiB of data: four pieces of the default 256 KiB.
	data := bytes.Repeat([]byte("dhtnode shares files by content hash\n"), 1<<20/37+1)[:1<<20]
	src := filepath.Join(dir, "hello.txt")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		return err
	}
	added, err := alice.Add(ctx, src, node.AddOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "alice added %s: %d bytes in %d pieces\n", added.Name, added.Size, added.Pieces)

	// Add announces the ID through the router in the background; wait until bob's
	// router finds alice as a provider.
	id, err := content.ParseID(added.ID)
	if err != nil {
		return err
	}
	if err := waitProvider(ctx, bob, id, alice); err != nil {
		return err
	}

	out := filepath.Join(dir, "fetched.txt")
	got, err := bob.Get(ctx, id, node.GetOptions{Output: out})
	if err != nil {
		return err
	}
	fetched, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "bob fetched %d pieces from %d provider(s); same bytes: %v\n",
		got.Pieces-got.Resumed, len(got.Fetched), bytes.Equal(fetched, data))
	return nil
}

// waitProvider polls n's default router until it names provider for id.
func waitProvider(ctx context.Context, n *node.Node, id content.ID, provider *node.Node) error {
	for {
		provs, _, err := n.DefaultRouter().FindProviders(ctx, id.Key(), 0)
		for _, p := range provs {
			if p.ID == provider.ID() {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no provider of %s found (last error: %v): %w", id, err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
