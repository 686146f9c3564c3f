package gossip_test

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/dhtnode/dhtnode/gossip"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// Two members on an in-memory network: the second joins the first, and both
// see each other with the libp2p peer ID each proved it owns.
func Example() {
	network := gossip.NewMemNetwork()
	start := func() *gossip.Gossip {
		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		tr, _ := network.NewTransport("")
		cfg := gossip.DefaultConfig()
		cfg.Transport = tr
		g, err := gossip.New(cfg, key, nil)
		if err != nil {
			panic(err)
		}
		return g
	}
	seed, joiner := start(), start()
	defer seed.Shutdown()
	defer joiner.Shutdown()

	events, cancel := seed.Subscribe()
	defer cancel()
	if _, err := joiner.Join([]string{seed.BoundAddr()}); err != nil {
		panic(err)
	}
	select {
	case ev := <-events:
		fmt.Println(ev.Type, ev.Member.PeerID == joiner.Local().PeerID, ev.Member.State)
	case <-time.After(10 * time.Second):
		fmt.Println("timeout")
	}
	// Output: join true alive
}
