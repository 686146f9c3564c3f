package kademlia

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/routing"
)

// TestStreamPerRequest runs the same lookups and provider records with one stream
// per request: every answer is the oracle's, and once they are done no kad stream
// is left open at either end (kad-dht's own sender keeps one per pair of peers).
func TestStreamPerRequest(t *testing.T) {
	bubble(t, func(t *testing.T) {
		cfg := TestConfig()
		cfg.StreamPerRequest = true
		c := newCluster(t, sized(32), cfg)
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(32, 2))

		s := c.lookups(ctx, rng, lookupCount(300))
		t.Logf("%v", s)
		if s.wrong != 0 || s.rpcs == 0 {
			t.Fatalf("%d of %d lookups missed the closest live peer (%d RPCs)", s.wrong, s.n, s.rpcs)
		}
		key := routing.ContentKey([]byte("provided over one stream per request"))
		provider := c.nodes[rng.IntN(len(c.nodes))]
		if _, err := provider.r.Provide(ctx, key); err != nil {
			t.Fatalf("provide: %v", err)
		}
		c.expectProvider(ctx, key, provider.h.ID())

		open := func() (n int) {
			for _, nd := range c.nodes {
				for _, conn := range nd.h.Network().Conns() {
					for _, st := range conn.GetStreams() {
						if strings.Contains(string(st.Protocol()), "/kad/") {
							n++
						}
					}
				}
			}
			return n
		}
		// The server's handler ends when it reads the end of the stream: poll for it.
		deadline := time.Now().Add(30 * time.Second)
		for open() > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := open(); n != 0 {
			t.Fatalf("%d kad streams still open after the requests were answered", n)
		}
	})
}
