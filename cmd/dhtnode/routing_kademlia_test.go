package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/kademlia"
	"github.com/dhtnode/dhtnode/node"
	"github.com/dhtnode/dhtnode/routing"
)

// bothRoutersRepo initialises a repo whose node runs Chord and Kademlia with
// Kademlia as the content router (the shipped default), Chord stabilizing fast
// enough for a test.
func bothRoutersRepo(t *testing.T, repo string) {
	t.Helper()
	if out, errOut, code := cli(t, repo, "init"); code != 0 {
		t.Fatalf("init: %s %s", out, errOut)
	}
	path := filepath.Join(repo, node.ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := node.DecodeConfig(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Routing.Routers = []string{"chord", "kademlia"}
	cfg.Routing.Default = "kademlia"
	cfg.Routing.Chord.StabilizeInterval = node.Duration(200 * time.Millisecond)
	cfg.Routing.Chord.FixFingersInterval = node.Duration(200 * time.Millisecond)
	cfg.Routing.Chord.CheckPredecessorInterval = node.Duration(200 * time.Millisecond)
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

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
	repos := []string{filepath.Join(base, "n1"), filepath.Join(base, "n2"), filepath.Join(base, "n3")}
	for _, r := range repos {
		bothRoutersRepo(t, r)
	}
	d1 := startDaemon(t, repos[0])
	seed := d1.id()
	d2 := startDaemon(t, repos[1], "--join", seed.GossipAddr)
	d3 := startDaemon(t, repos[2], "--join", seed.GossipAddr)
	ids := []node.IDInfo{seed, d2.id(), d3.id()}

	const probe = "dhtnode kademlia probe"
	key := routing.ContentKey([]byte(probe))
	owner := func(dist func(peerKey routing.Key) routing.Key) string {
		best, bestDist := "", routing.Key{}
		for _, id := range ids {
			pk, _ := routing.ParseKey(peerKeyHex(t, id.PeerID))
			if d := dist(pk); best == "" || d.Cmp(bestDist) < 0 {
				best, bestDist = id.PeerID, d
			}
		}
		return best
	}
	want := map[string]string{
		"chord":    owner(func(pk routing.Key) routing.Key { return routing.RingDistance(key, pk) }),
		"kademlia": owner(func(pk routing.Key) routing.Key { return pk.XOR(kademlia.Target(key)) }),
	}
	for _, r := range repos {
		waitFor(t, "lookup --via all to reach both oracles on "+filepath.Base(r), 60*time.Second, func() (bool, string) {
			out, errOut, code := cli(t, r, "lookup", probe, "--via", "all", "--format", "json")
			if code != 0 {
				return false, errOut
			}
			var resp node.RoutingResponse
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

	// Content through Kademlia alone: add on n1 announces it through the default
	// router (Kademlia), get on n3 with no --from finds n1 through it.
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(i * 13)
	}
	file := filepath.Join(base, "payload.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = cli(t, repos[0], "add", "-q", file)
	if code != 0 {
		t.Fatalf("add on n1: %s", errOut)
	}
	id := strings.TrimSpace(out)
	waitFor(t, "n3 to find n1 as provider of "+id+" through kademlia", 30*time.Second, func() (bool, string) {
		out, errOut, code := cli(t, repos[2], "routing", "findprovs", id, "--via", "kademlia")
		return code == 0 && strings.Contains(out, seed.PeerID), out + errOut
	})
	if out, errOut, code := cli(t, repos[2], "routing", "findprovs", id, "--via", "chord"); code == 0 && strings.Contains(out, seed.PeerID) {
		t.Fatalf("chord knows a provider it was never told about:\n%s%s", out, errOut)
	}
	got := filepath.Join(base, "got.bin")
	if out, errOut, code := cli(t, repos[2], "get", id, "-o", got); code != 0 {
		t.Fatalf("get on n3 through kademlia: %s %s", out, errOut)
	}
	if b, err := os.ReadFile(got); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("n3 got different bytes (err %v)", err)
	}

	out, errOut, code = cli(t, repos[2], "routing", "table", "--via", "kademlia")
	if code != 0 || !strings.Contains(out, "kademlia table") || !strings.Contains(out, "bucket ") || !strings.Contains(out, "2 entries") {
		t.Fatalf("routing table: code %d\n%s%s", code, out, errOut)
	}
	t.Logf("routing table --via kademlia on n3:\n%s", out)
}
