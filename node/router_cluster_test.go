package node

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/routing"
	dto "github.com/prometheus/client_model/go"
)

// Shared scaffolding of the tests that run one router across three in-process nodes
// (routers_test.go, router_kademlia_test.go, router_onehop_test.go).

// startRouterCluster starts three in-process nodes from testConfig, adjusted by
// configure (which routers run, their timings); the second and third join through the
// first's gossip address. It returns the nodes and a client of each one's HTTP API;
// the nodes close when the test ends.
func startRouterCluster(t *testing.T, configure func(*Config)) ([]*Node, []*client.Client) {
	t.Helper()
	var nodes []*Node
	var clients []*client.Client
	for i := range 3 {
		cfg := testConfig()
		configure(&cfg)
		if i > 0 {
			cfg.Gossip.Join = []string{nodes[0].Gossip().BoundAddr()}
		}
		n, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
		nodes = append(nodes, n)
		clients = append(clients, client.New(n.APIAddr(), client.WithToken(n.APIToken())))
	}
	return nodes, clients
}

// peerKeys are the nodes' positions in the key space, the input of a lookup oracle.
func peerKeys(nodes []*Node) []routing.Key {
	keys := make([]routing.Key, 0, len(nodes))
	for _, n := range nodes {
		keys = append(keys, routing.PeerKey(n.ID()))
	}
	return keys
}

// ringOwner is the Chord and one-hop oracle: the key's successor among keys, the one at
// the smallest clockwise distance from k.
func ringOwner(keys []routing.Key, k routing.Key) routing.Key {
	best := keys[0]
	for _, nk := range keys[1:] {
		if routing.RingDistance(k, nk).Cmp(routing.RingDistance(k, best)) < 0 {
			best = nk
		}
	}
	return best
}

// waitForLookups looks every probe up through router from every client, again and
// again, until every answer is right (gossip needs a moment to tell everyone about
// everyone); when ctx ends first, it fails the test saying the lookup never did what
// (e.g. "matched the oracle").
func waitForLookups(t *testing.T, ctx context.Context, clients []*client.Client, router string, probes []string,
	what string, right func(key routing.Key, res client.RoutingResult) bool) {
	t.Helper()
	var lastWrong string // the last wrong answer, so a timeout says what was wrong
	for {
		allRight := true
		for i, c := range clients {
			for _, p := range probes {
				resp, err := c.Lookup(ctx, p, router)
				if err != nil {
					if ctx.Err() != nil {
						t.Fatalf("lookups through %s never all %s; last wrong answer: %s", router, what, lastWrong)
					}
					t.Fatal(err)
				}
				res := resp.Results[0]
				if !right(resp.Key, res) {
					allRight = false
					lastWrong = fmt.Sprintf("node %d: lookup %q: %+v", i, p, res)
					if ctx.Err() != nil {
						t.Fatalf("lookups through %s never all %s; last wrong answer: %s", router, what, lastWrong)
					}
				}
			}
		}
		if allRight {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkProvideThenFind provides key from the first node through provideVia and checks
// that the third node finds the first as a provider through findVia.
func checkProvideThenFind(t *testing.T, ctx context.Context, nodes []*Node, clients []*client.Client, key, provideVia, findVia string) {
	t.Helper()
	prov, err := clients[0].Provide(ctx, key, provideVia)
	if err != nil || prov.Results[0].Error != "" {
		t.Fatalf("provide: %v %+v", err, prov)
	}
	found, err := clients[2].FindProviders(ctx, key, findVia, 0)
	if err != nil {
		t.Fatal(err)
	}
	res := found.Results[0]
	if res.Error != "" || !slices.ContainsFunc(res.Peers, func(p client.PeerRef) bool { return p.PeerID == nodes[0].ID().String() }) {
		t.Fatalf("findprovs from node 3 did not find node 1: %+v", res)
	}
}

// checkRouterMetrics checks that router's lookup metrics are in n's registry.
func checkRouterMetrics(t *testing.T, n *Node, router string) {
	t.Helper()
	families, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	name := "dhtnode_" + router + "_lookup_hops"
	if !slices.ContainsFunc(families, func(f *dto.MetricFamily) bool { return f.GetName() == name }) {
		t.Errorf("%s metrics are not in the node's registry", router)
	}
}
