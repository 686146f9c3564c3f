package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

func TestParseRoutingKey(t *testing.T) {
	hexKey := routing.ContentKey([]byte("x"))
	mh, _ := multihash.Sum([]byte("manifest"), multihash.SHA2_256, -1)
	c := cid.NewCidV1(0x0200, mh)
	blakeHash, _ := multihash.Sum([]byte("manifest"), multihash.BLAKE2B_MIN+31, -1)
	for _, tc := range []struct {
		in   string
		kind string
		want routing.Key
	}{
		{hexKey.String(), client.KeyKindHex, hexKey},
		{c.String(), client.KeyKindCID, routing.ContentKey([]byte("manifest"))},
		{cid.NewCidV1(0x0200, blakeHash).String(), client.KeyKindCID, routing.ContentKey(cid.NewCidV1(0x0200, blakeHash).Bytes())},
		{"hello", client.KeyKindString, routing.ContentKey([]byte("hello"))},
		// 64 characters that are not all hex are text.
		{"zz" + hexKey.String()[2:], client.KeyKindString, routing.ContentKey([]byte("zz" + hexKey.String()[2:]))},
	} {
		got, kind, err := ParseRoutingKey(tc.in)
		if err != nil || kind != tc.kind || got != tc.want {
			t.Errorf("ParseRoutingKey(%q) = %s, %q, %v; want %s, %q", tc.in, got.Short(), kind, err, tc.want.Short(), tc.kind)
		}
	}
	if _, _, err := ParseRoutingKey(""); err == nil {
		t.Error("empty key accepted")
	}
}

func TestRoutingConfigValidate(t *testing.T) {
	cfg := DefaultRoutingConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Routers = []string{"chord", "chord"}
	cfg.Default = "chord"
	if err := cfg.Validate(); err == nil {
		t.Error("duplicate router accepted")
	}
	cfg = DefaultRoutingConfig()
	cfg.Chord.Successors = 0
	if err := cfg.Validate(); err == nil {
		t.Error("chord.successors 0 accepted")
	}
}

// TestChordAcrossThreeNodes starts three in-process nodes that meet through gossip and
// route through Chord alone: lookups agree with the oracle, and a key provided on the
// first node is found from the third, all through the HTTP API.
func TestChordAcrossThreeNodes(t *testing.T) {
	nodes, clients := startRouterCluster(t, func(cfg *Config) {
		cfg.Routing.Routers = []string{"chord"}
		cfg.Routing.Default = "chord"
		cfg.Routing.Chord.StabilizeInterval = Duration(100 * time.Millisecond)
		cfg.Routing.Chord.FixFingersInterval = Duration(100 * time.Millisecond)
		cfg.Routing.Chord.CheckPredecessorInterval = Duration(100 * time.Millisecond)
	})
	if nodes[0].DefaultRouter() == nil || nodes[0].Router("chord") == nil || len(nodes[0].Routers()) != 1 {
		t.Fatal("chord router not running")
	}
	if _, err := nodes[0].routersFor("kademlia"); !errors.Is(err, ErrUnknownRouter) {
		t.Fatalf("unknown router: got %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keys := peerKeys(nodes)
	waitForLookups(t, ctx, clients, "chord", []string{"a", "b", "c", "d", "e", "f", "g", "h"}, "matched the oracle",
		func(key routing.Key, res client.RoutingResult) bool {
			return res.Error == "" && len(res.Peers) > 0 && res.Peers[0].Key == ringOwner(keys, key)
		})

	checkProvideThenFind(t, ctx, nodes, clients, "some content id", "", "chord")

	tables, err := clients[1].RoutingTables(ctx, "all")
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 1 || tables[0].Algo != "chord" || tables[0].Entries() == 0 {
		t.Fatalf("routing table: %+v", tables)
	}
	checkRouterMetrics(t, nodes[2], "chord")
	routers, err := clients[1].RoutingRouters(ctx)
	if err != nil || len(routers) != 1 || !routers[0].Default {
		t.Fatalf("routers: %+v %v", routers, err)
	}
}
