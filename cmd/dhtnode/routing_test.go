package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/node"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// chordOnlyRepo initialises a repo whose node routes through Chord alone, with
// stabilization fast enough for a test.
func chordOnlyRepo(t *testing.T, repo string) {
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
	cfg.Routing.Routers = []string{"chord"}
	cfg.Routing.Default = "chord"
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
	repos := []string{filepath.Join(base, "n1"), filepath.Join(base, "n2"), filepath.Join(base, "n3")}
	for _, r := range repos {
		chordOnlyRepo(t, r)
	}
	d1 := startDaemon(t, repos[0])
	seed := d1.id()
	d2 := startDaemon(t, repos[1], "--join", seed.GossipAddr)
	d3 := startDaemon(t, repos[2], "--join", seed.GossipAddr)
	ids := []node.IDInfo{seed, d2.id(), d3.id()}

	const probe = "dhtnode chord probe"
	owner := func() string {
		key := routing.ContentKey([]byte(probe))
		best, bestDist := "", routing.Key{}
		for _, id := range ids {
			pk, _ := routing.ParseKey(peerKeyHex(t, id.PeerID))
			if d := routing.RingDistance(key, pk); best == "" || d.Cmp(bestDist) < 0 {
				best, bestDist = id.PeerID, d
			}
		}
		return best
	}()
	for _, r := range repos {
		waitFor(t, "chord lookup to reach the oracle's owner on "+filepath.Base(r), 60*time.Second, func() (bool, string) {
			out, errOut, code := cli(t, r, "lookup", probe, "--via", "chord", "--format", "json")
			if code != 0 {
				return false, errOut
			}
			var resp node.RoutingResponse
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
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(i * 7)
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
	waitFor(t, "n3 to find n1 as provider of "+id, 30*time.Second, func() (bool, string) {
		out, errOut, code := cli(t, repos[2], "routing", "findprovs", id, "--via", "chord")
		return code == 0 && strings.Contains(out, seed.PeerID), out + errOut
	})
	got := filepath.Join(base, "got.bin")
	if out, errOut, code := cli(t, repos[2], "get", id, "-o", got); code != 0 {
		t.Fatalf("get on n3 through chord: %s %s", out, errOut)
	}
	if b, err := os.ReadFile(got); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("n3 got different bytes (err %v)", err)
	}

	out, errOut, code = cli(t, repos[2], "routing", "table", "--via", "chord")
	if code != 0 || !strings.Contains(out, "successors (2)") || !strings.Contains(out, "fingers") {
		t.Fatalf("routing table: code %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := cli(t, repos[2], "lookup", probe, "--via", "kademlia"); code == 0 || !strings.Contains(errOut, "not running") {
		t.Fatalf("lookup through a router that is not running: code %d, %s", code, errOut)
	}
}

// peerKeyHex is the ring position of a peer ID string.
func peerKeyHex(t *testing.T, id string) string {
	t.Helper()
	pid, err := peer.Decode(id)
	if err != nil {
		t.Fatal(err)
	}
	return routing.PeerKey(pid).String()
}
