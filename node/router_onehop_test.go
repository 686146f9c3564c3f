package node

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	dto "github.com/prometheus/client_model/go"
)

// TestOnehopAcrossThreeNodes: three in-process nodes meet through gossip; every
// lookup through onehop names the oracle's owner in one hop, and a key provided on
// the first node is found from the third, all through the HTTP API.
func TestOnehopAcrossThreeNodes(t *testing.T) {
	var nodes []*Node
	var clients []*Client
	for i := range 3 {
		cfg := testConfig()
		cfg.Routing.Routers = []string{"onehop"}
		cfg.Routing.Default = "onehop"
		if i > 0 {
			cfg.Gossip.Join = []string{nodes[0].Gossip().BoundAddr()}
		}
		n, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
		nodes = append(nodes, n)
		clients = append(clients, NewClient(n.APIAddr()))
	}
	if nodes[0].Router("onehop") == nil {
		t.Fatal("onehop router not running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keys := make([]routing.Key, 0, 3)
	for _, n := range nodes {
		keys = append(keys, routing.PeerKey(n.ID()))
	}
	oracle := func(k routing.Key) routing.Key {
		best := keys[0]
		for _, nk := range keys[1:] {
			if routing.RingDistance(k, nk).Cmp(routing.RingDistance(k, best)) < 0 {
				best = nk
			}
		}
		return best
	}
	// Gossip fills the views within a second or two; poll until every lookup agrees.
	for {
		allRight := true
		for _, c := range clients {
			for _, p := range []string{"a", "b", "c", "d", "e", "f"} {
				resp, err := c.Lookup(ctx, p, "onehop")
				if err != nil {
					t.Fatal(err)
				}
				res := resp.Results[0]
				if res.Error != "" || len(res.Peers) == 0 || res.Peers[0].Key != oracle(resp.Key) || res.Trace.Hops > 1 {
					allRight = false
					if ctx.Err() != nil {
						t.Fatalf("lookup %q never matched the oracle in one hop: %+v", p, res)
					}
				}
			}
		}
		if allRight {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	const content = "onehop content id"
	if prov, err := clients[0].Provide(ctx, content, ""); err != nil || prov.Results[0].Error != "" {
		t.Fatalf("provide: %v %+v", err, prov)
	}
	found, err := clients[2].FindProviders(ctx, content, "onehop", 0)
	if err != nil {
		t.Fatal(err)
	}
	if res := found.Results[0]; res.Error != "" ||
		!slices.ContainsFunc(res.Peers, func(p PeerRef) bool { return p.PeerID == nodes[0].ID().String() }) {
		t.Fatalf("findprovs from node 3 did not find node 1: %+v", res)
	}
	families, err := nodes[1].Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(families, func(f *dto.MetricFamily) bool { return f.GetName() == "dhtnode_onehop_lookup_hops" }) {
		t.Error("onehop metrics are not in the node's registry")
	}
}
