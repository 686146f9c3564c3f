package kademlia_test

import (
	"context"
	"fmt"

	"github.com/dhtnode/dhtnode/kademlia"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// Two routers on a simulated network, told about each other as gossip would.
func Example() {
	mn := mocknet.New()
	defer mn.Close()
	a, _ := mn.GenPeer()
	b, _ := mn.GenPeer()
	_ = mn.LinkAll()

	ra, _ := kademlia.New(a, kademlia.TestConfig())
	defer ra.Close()
	rb, _ := kademlia.New(b, kademlia.TestConfig())
	defer rb.Close()
	ra.PeerUp(peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()})
	rb.PeerUp(peer.AddrInfo{ID: a.ID(), Addrs: a.Addrs()})

	key := routing.ContentKey([]byte("hello"))
	if _, err := rb.Provide(context.Background(), key); err != nil {
		fmt.Println(err)
		return
	}
	provs, trace, err := ra.FindProviders(context.Background(), key, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("provider is b:", provs[0].ID == b.ID())
	fmt.Println("algo:", trace.Algo)
	// Output:
	// provider is b: true
	// algo: kademlia
}
