package node

import (
	"context"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/routing"
)

// TestOnehopAcrossThreeNodes: three in-process nodes meet through gossip; every
// lookup through onehop names the oracle's owner in one hop, and a key provided on
// the first node is found from the third, all through the HTTP API.
func TestOnehopAcrossThreeNodes(t *testing.T) {
	nodes, clients := startRouterCluster(t, func(cfg *Config) {
		cfg.Routing.Routers = []string{"onehop"}
		cfg.Routing.Default = "onehop"
	})
	if nodes[0].Router("onehop") == nil {
		t.Fatal("onehop router not running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keys := peerKeys(nodes)
	// Gossip fills the views within a second or two; poll until every lookup agrees.
	waitForLookups(t, ctx, clients, "onehop", []string{"a", "b", "c", "d", "e", "f"}, "matched the oracle in one hop",
		func(key routing.Key, res client.RoutingResult) bool {
			return res.Error == "" && len(res.Peers) > 0 && res.Peers[0].Key == ringOwner(keys, key) && res.Trace.Hops <= 1
		})
	checkProvideThenFind(t, ctx, nodes, clients, "onehop content id", "", "onehop")
	checkRouterMetrics(t, nodes[1], "onehop")
}
