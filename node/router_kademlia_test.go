package node

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/kademlia"
	"github.com/dhtnode/dhtnode/routing"
)

// TestKademliaAcrossThreeNodes starts three in-process nodes on loopback that meet
// through gossip and route through Kademlia alone (with the default IP-diversity
// setting, which must admit loopback peers): lookups agree with the XOR oracle at
// kademlia.Target, a key provided on the first node is found from the third, and the
// routing table shows the other two nodes in their k-buckets, all through the HTTP API.
func TestKademliaAcrossThreeNodes(t *testing.T) {
	nodes, clients := startRouterCluster(t, func(cfg *Config) {
		cfg.Routing.Routers = []string{"kademlia"}
		cfg.Routing.Default = "kademlia"
	})
	if nodes[0].Router("kademlia") == nil || nodes[0].DefaultRouter() != nodes[0].Router("kademlia") {
		t.Fatal("kademlia router not running as the default")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keys := peerKeys(nodes)
	oracle := func(k routing.Key) routing.Key {
		target := kademlia.Target(k)
		return slices.MinFunc(keys, func(a, b routing.Key) int { return a.XOR(target).Cmp(b.XOR(target)) })
	}
	waitForLookups(t, ctx, clients, "kademlia", []string{"a", "b", "c", "d", "e", "f", "g", "h"}, "matched the oracle",
		func(key routing.Key, res client.RoutingResult) bool {
			return res.Error == "" && len(res.Peers) == 3 && res.Peers[0].Key == oracle(key)
		})

	checkProvideThenFind(t, ctx, nodes, clients, "some content id", "kademlia", "kademlia")

	tbl := nodes[1].Router("kademlia").(routing.TableReporter).RoutingTable()
	if tbl.Algo != "kademlia" || tbl.Entries() != 2 || !strings.HasPrefix(tbl.Sections[0].Name, "bucket ") {
		t.Fatalf("routing table: %+v", tbl)
	}
}

func TestKademliaConfigSection(t *testing.T) {
	in := `{"routing": {"routers": ["kademlia"], "default": "kademlia",
	  "kademlia": {"concurrency": 3, "ip_diversity": "off", "reprovide_interval": "0s", "reoffer_interval": "30s",
	    "bootstrap": ["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK"]}}}`
	cfg, err := DecodeConfig(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	kc := cfg.Routing.Kademlia
	// Given keys are taken, missing ones keep their defaults.
	if kc.Concurrency != 3 || kc.IPDiversity != kademlia.DiversityOff || kc.ReprovideInterval != 0 || kc.ReofferInterval.Std() != 30*time.Second ||
		kc.BucketSize != 20 || kc.ProtocolPrefix != "/dhtnode" || !kc.AutoRefresh || len(kc.BootstrapPeers) != 1 {
		t.Fatalf("decoded %+v", kc)
	}
	for _, bad := range []string{
		`{"routing": {"kademlia": {"ip_diversity": "maybe"}}}`,
		`{"routing": {"kademlia": {"bootstrap": ["/ip4/127.0.0.1/tcp/4001"]}}}`,
		`{"routing": {"kademlia": {"protocol_prefix": "/ipfs", "bucket_size": 8}}}`,
		`{"routing": {"kademlia": {"alpha": 3}}}`,
	} {
		if _, err := DecodeConfig(strings.NewReader(bad)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: got %v, want ErrInvalidConfig", bad, err)
		}
	}
	// The default section survives a round trip through the file format.
	var buf bytes.Buffer
	if err := EncodeConfig(&buf, DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	back, err := DecodeConfig(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Routing.Kademlia.BootstrapPeers) != len(kademlia.DefaultConfig().BootstrapPeers) ||
		back.Routing.Kademlia.RefreshInterval != kademlia.DefaultConfig().RefreshInterval {
		t.Fatalf("round trip: %+v", back.Routing.Kademlia)
	}
}
