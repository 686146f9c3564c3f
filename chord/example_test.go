package chord_test

import (
	"context"
	"fmt"
	"time"

	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/dhtnode/dhtnode/setting"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// Three Chord nodes on an in-memory libp2p network: each is told about the others the way
// the daemon's gossip does (PeerUp), one announces a key, another finds it.
func Example() {
	mn := mocknet.New()
	defer mn.Close()
	cfg := chord.DefaultConfig()
	cfg.StabilizeInterval = setting.Duration(100 * time.Millisecond)

	var hosts []host.Host
	var nodes []*chord.Chord
	for range 3 {
		h, err := mn.GenPeer()
		if err != nil {
			panic(err)
		}
		c, err := chord.New(h, cfg)
		if err != nil {
			panic(err)
		}
		defer c.Close()
		hosts, nodes = append(hosts, h), append(nodes, c)
	}
	if err := mn.LinkAll(); err != nil {
		panic(err)
	}
	for i, c := range nodes {
		for j, h := range hosts {
			if i != j {
				c.PeerUp(peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
			}
		}
	}

	ctx := context.Background()
	key := routing.ContentKey([]byte("hello"))
	if _, err := nodes[0].Provide(ctx, key); err != nil {
		panic(err)
	}
	providers, trace, err := nodes[2].FindProviders(ctx, key, 10)
	if err != nil {
		panic(err)
	}
	fmt.Println("providers found:", len(providers), providers[0].ID == hosts[0].ID())
	fmt.Println("trace algo:", trace.Algo)
	// Output:
	// providers found: 1 true
	// trace algo: chord
}
