package node_test

import (
	"fmt"
	"time"

	"github.com/dhtnode/dhtnode/node"
)

// Two embedded nodes on loopback, without repos or APIs: the second joins the
// first through its gossip address and both see the other alive.
func ExampleNew() {
	cfg := node.DefaultConfig()
	cfg.Addresses.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Addresses.Gossip = "127.0.0.1:0"
	cfg.Addresses.API = "" // no HTTP API
	cfg.Gossip.Profile = "local"

	a, err := node.New(cfg, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	b, err := node.New(cfg, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()

	if _, err := b.Join([]string{a.IDInfo().GossipAddr}); err != nil {
		fmt.Println(err)
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(a.AlivePeers()) < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("a sees b:", len(a.AlivePeers()) == 1 && a.AlivePeers()[0].ID == b.ID())
	// Output: a sees b: true
}
