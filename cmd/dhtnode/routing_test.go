package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/routing"
)

// TestChordRoutingAcrossThreeDaemons: three daemons meet through gossip and route
// through Chord alone. Lookups from every node name the oracle's owner (the key's
// successor among the three); a key provided on n1 is found from n3; a file added on
// n1 is fetched by `get` on n3 with no --from, through Chord; the routing table shows
// the ring.
func TestChordRoutingAcrossThreeDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	base := t.TempDir()
	repos, ids := startRoutingCluster(t, base, "chord", "chord")
	seed := ids[0]

	const probe = "dhtnode chord probe"
	key := routing.ContentKey([]byte(probe))
	owner := closestPeer(t, ids, func(pk routing.Key) routing.Key { return routing.RingDistance(key, pk) })
	for _, r := range repos {
		waitFor(t, "chord lookup to reach the oracle's owner on "+filepath.Base(r), 60*time.Second, func() (bool, string) {
			out, errOut, code := cli(t, r, "lookup", probe, "--via", "chord", "--format", "json")
			if code != 0 {
				return false, errOut
			}
			var resp client.RoutingResponse
			if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp.Results) != 1 || len(resp.Results[0].Peers) == 0 {
				return false, out
			}
			return resp.Results[0].Peers[0].PeerID == owner, out
		})
	}
	out, errOut, code := cli(t, repos[1], "lookup", probe, "--via", "chord", "--trace")
	if code != 0 || !strings.Contains(out, "owner    "+owner) {
		t.Fatalf("lookup --trace: code %d\n%s%s", code, out, errOut)
	}
	t.Logf("lookup --trace on n2:\n%s", out)

	if out, errOut, code := cli(t, repos[0], "routing", "provide", "some content", "--via", "chord"); code != 0 {
		t.Fatalf("provide on n1: %s %s", out, errOut)
	}
	waitFor(t, "n3 to find n1 as provider", 30*time.Second, func() (bool, string) {
		out, errOut, code := cli(t, repos[2], "routing", "findprovs", "some content", "--via", "chord")
		return code == 0 && strings.Contains(out, seed.PeerID), out + errOut
	})

	// Content through Chord alone: add on n1 announces it, get on n3 (no --from) finds
	// n1 through Chord and fetches it.
	data, id := addPayload(t, base, repos[0], 7)
	waitFor(t, "n3 to find n1 as provider of "+id, 30*time.Second, func() (bool, string) {
		out, errOut, code := cli(t, repos[2], "routing", "findprovs", id, "--via", "chord")
		return code == 0 && strings.Contains(out, seed.PeerID), out + errOut
	})
	getPayload(t, base, repos[2], id, "chord", data)

	out, errOut, code = cli(t, repos[2], "routing", "table", "--via", "chord")
	if code != 0 || !strings.Contains(out, "successors (2)") || !strings.Contains(out, "fingers") {
		t.Fatalf("routing table: code %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := cli(t, repos[2], "lookup", probe, "--via", "kademlia"); code == 0 || !strings.Contains(errOut, "not running") {
		t.Fatalf("lookup through a router that is not running: code %d, %s", code, errOut)
	}
}
