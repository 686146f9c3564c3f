// Command trace starts eight nodes that run all three routers side by side (Chord,
// Kademlia and the one-hop baseline, each fed by the same gossip membership), then looks
// up one key through each router from the same node and prints who owns it, how deep
// the answer was and which nodes were asked on the way. It checks each answer against
// the live set: Chord and one-hop name the key's successor on the ring of member keys,
// Kademlia the member closest by XOR to the key's DHT target (kad-dht measures distance
// to the SHA-256 of the key's multihash, kademlia.Target).
//
//	go run ./examples/trace [KEY-TEXT]
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/dhtnode/dhtnode/kademlia"
	"github.com/dhtnode/dhtnode/node"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

const size = 8

func main() {
	key := "hello"
	if len(os.Args) > 1 {
		key = os.Args[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, routing.ContentKey([]byte(key))); err != nil {
		fmt.Fprintln(os.Stderr, "trace:", err)
		os.Exit(1)
	}
}

func nodeConfig() node.Config {
	cfg := node.DefaultConfig()
	cfg.Addresses.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Addresses.Gossip = "127.0.0.1:0"
	cfg.Addresses.API = ""
	cfg.Gossip.Profile = "local"
	cfg.Routing.Routers = []string{"chord", "kademlia", "onehop"}
	return cfg
}

func run(ctx context.Context, w io.Writer, key routing.Key) error {
	var nodes []*node.Node
	defer func() {
		for _, n := range nodes {
			_ = n.Close()
		}
	}()
	for range size {
		n, err := node.New(nodeConfig(), nil)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes[1:] {
		if _, err := n.Join([]string{nodes[0].IDInfo().GossipAddr}); err != nil {
			return err
		}
	}
	var members []peer.ID
	for _, n := range nodes {
		members = append(members, n.ID())
	}
	want := map[string]peer.ID{"chord": successor(members, key), "onehop": successor(members, key), "kademlia": closest(members, kademlia.Target(key))}

	fmt.Fprintf(w, "key %s, %d nodes\n", key.Short(), size)
	from := nodes[0]
	for _, r := range from.Routers() {
		owners, trace, err := lookupUntil(ctx, r, key, want[r.Name()])
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-8s owner %s  hops %d  rpcs %d  path", r.Name(), routing.PeerKey(owners[0].ID).Short(), trace.Hops, trace.RPCs)
		for _, h := range trace.Path {
			fmt.Fprintf(w, " %s", h.Key.Short())
		}
		fmt.Fprintln(w)
	}
	return nil
}

// lookupUntil repeats the lookup until the router names the expected owner: right after
// the joins, Chord's ring is still stabilizing and a lookup may stop at a node that does
// not know its final successor yet.
func lookupUntil(ctx context.Context, r routing.Router, key routing.Key, want peer.ID) ([]peer.AddrInfo, routing.Trace, error) {
	for {
		owners, trace, err := r.Lookup(ctx, key)
		if err == nil && len(owners) > 0 && owners[0].ID == want {
			return owners, trace, nil
		}
		select {
		case <-ctx.Done():
			return nil, trace, fmt.Errorf("%s: owner of %s not found (last error %v): %w", r.Name(), key.Short(), err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// successor is the member whose key follows key clockwise on the ring (Chord's owner).
func successor(members []peer.ID, key routing.Key) peer.ID {
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(a, b peer.ID) int { return routing.PeerKey(a).Cmp(routing.PeerKey(b)) })
	for _, m := range sorted {
		if routing.PeerKey(m).Cmp(key) >= 0 {
			return m
		}
	}
	return sorted[0]
}

// closest is the member nearest target by XOR distance (Kademlia's owner).
func closest(members []peer.ID, target routing.Key) peer.ID {
	return slices.MinFunc(members, func(a, b peer.ID) int {
		return routing.PeerKey(a).XOR(target).Cmp(routing.PeerKey(b).XOR(target))
	})
}
