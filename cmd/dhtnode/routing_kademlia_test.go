package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/kademlia"
	"github.com/dhtnode/dhtnode/routing"
)

// TestKademliaRoutingAcrossThreeDaemons: three daemons on 127.0.0.1 meet through
// gossip and run Chord and Kademlia side by side. `lookup --via all` on every node
// gives, for each protocol, the oracle's owner under that protocol's own metric
// (Chord: the key's successor; Kademlia: the XOR-closest node to kademlia.Target);
// a file added on n1 is announced and found through Kademlia alone (Chord never saw
// it) and fetched by `get` on n3; the routing table prints the k-buckets.
func TestKademliaRoutingAcrossThreeDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	base := t.TempDir()
	repos, ids := startRoutingCluster(t, base, "kademlia", "chord", "kademlia")
	seed := ids[0]

	const probe = "dhtnode kademlia probe"
	key := routing.ContentKey([]byte(probe))
	want := map[string]string{
		"chord":    closestPeer(t, ids, func(pk routing.Key) routing.Key { return routing.RingDistance(key, pk) }),
		"kademlia": closestPeer(t, ids, func(pk routing.Key) routing.Key { return pk.XOR(kademlia.Target(key)) }),
	}
	for _, r := range repos {
		waitFor(t, "lookup --via all to reach both oracles on "+filepath.Base(r), 60*time.Second, func() (bool, string) {
			out, errOut, code := cli(t, r, "lookup", probe, "--via", "all", "--format", "json")
			if code != 0 {
				return false, errOut
			}
			var resp client.RoutingResponse
			if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp.Results) != 2 {
				return false, out
			}
			for _, res := range resp.Results {
				if len(res.Peers) == 0 || res.Peers[0].PeerID != want[res.Router] {
					return false, out
				}
			}
			return true, out
		})
	}
	out, errOut, code := cli(t, repos[1], "lookup", probe, "--via", "all", "--trace")
	if code != 0 || !strings.Contains(out, "kademlia:") || !strings.Contains(out, "chord:") {
		t.Fatalf("lookup --via all --trace: code %d\n%s%s", code, out, errOut)
	}
	t.Logf("lookup --via all --trace on n2:\n%s", out)

	// Content: add on n1 announces it through every running router, so n3 finds n1 as
	// provider through Kademlia (the default) and through Chord alike; get with no
	// --from then finds it.
	data, id := addPayload(t, base, repos[0], 13)
	for _, via := range []string{"kademlia", "chord"} {
		waitFor(t, "n3 to find n1 as provider of "+id+" through "+via, 30*time.Second, func() (bool, string) {
			out, errOut, code := cli(t, repos[2], "routing", "findprovs", id, "--via", via)
			return code == 0 && strings.Contains(out, seed.PeerID), out + errOut
		})
	}
	getPayload(t, base, repos[2], id, "kademlia", data)

	out, errOut, code = cli(t, repos[2], "routing", "table", "--via", "kademlia")
	if code != 0 || !strings.Contains(out, "kademlia table") || !strings.Contains(out, "bucket ") || !strings.Contains(out, "2 entries") {
		t.Fatalf("routing table: code %d\n%s%s", code, out, errOut)
	}
	t.Logf("routing table --via kademlia on n3:\n%s", out)
}
