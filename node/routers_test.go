package node

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	dto "github.com/prometheus/client_model/go"
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
		{hexKey.String(), KeyKindHex, hexKey},
		{c.String(), KeyKindCID, routing.ContentKey([]byte("manifest"))},
		{cid.NewCidV1(0x0200, blakeHash).String(), KeyKindCID, routing.ContentKey(cid.NewCidV1(0x0200, blakeHash).Bytes())},
		{"hello", KeyKindString, routing.ContentKey([]byte("hello"))},
		// 64 characters that are not all hex are text.
		{"zz" + hexKey.String()[2:], KeyKindString, routing.ContentKey([]byte("zz" + hexKey.String()[2:]))},
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
	var nodes []*Node
	var clients []*Client
	for i := range 3 {
		cfg := testConfig()
		cfg.Routing.Routers = []string{"chord"}
		cfg.Routing.Default = "chord"
		cfg.Routing.Chord.StabilizeInterval = Duration(100 * time.Millisecond)
		cfg.Routing.Chord.FixFingersInterval = Duration(100 * time.Millisecond)
		cfg.Routing.Chord.CheckPredecessorInterval = Duration(100 * time.Millisecond)
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
	if nodes[0].DefaultRouter() == nil || nodes[0].Router("chord") == nil || len(nodes[0].Routers()) != 1 {
		t.Fatal("chord router not running")
	}
	if _, err := nodes[0].routersFor("kademlia"); !errors.Is(err, ErrUnknownRouter) {
		t.Fatalf("unknown router: got %v", err)
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
	probes := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for {
		allRight := true
		for i, c := range clients {
			for _, p := range probes {
				resp, err := c.Lookup(ctx, p, "chord")
				if err != nil {
					t.Fatal(err)
				}
				res := resp.Results[0]
				if res.Error != "" || len(res.Peers) == 0 || res.Peers[0].Key != oracle(resp.Key) {
					allRight = false
					if ctx.Err() != nil {
						t.Fatalf("node %d: lookup %q never matched the oracle: %+v", i, p, res)
					}
				}
			}
		}
		if allRight {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	const content = "some content id"
	prov, err := clients[0].Provide(ctx, content, "")
	if err != nil || prov.Results[0].Error != "" {
		t.Fatalf("provide: %v %+v", err, prov)
	}
	found, err := clients[2].FindProviders(ctx, content, "chord", 0)
	if err != nil {
		t.Fatal(err)
	}
	res := found.Results[0]
	if res.Error != "" || !slices.ContainsFunc(res.Peers, func(p PeerRef) bool { return p.PeerID == nodes[0].ID().String() }) {
		t.Fatalf("findprovs from node 3 did not find node 1: %+v", res)
	}

	tables, err := clients[1].RoutingTables(ctx, "all")
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 1 || tables[0].Algo != "chord" || tables[0].Entries() == 0 {
		t.Fatalf("routing table: %+v", tables)
	}
	families, err := nodes[2].Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(families, func(f *dto.MetricFamily) bool { return f.GetName() == "dhtnode_chord_lookup_hops" }) {
		t.Error("chord metrics are not in the node's registry")
	}
	routers, err := clients[1].RoutingRouters(ctx)
	if err != nil || len(routers) != 1 || !routers[0].Default {
		t.Fatalf("routers: %+v %v", routers, err)
	}
}
