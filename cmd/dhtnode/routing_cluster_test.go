package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/node"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Shared scaffolding of the routing tests that drive three daemons through the CLI
// (routing_test.go, routing_kademlia_test.go).

// initRoutingRepo runs `dhtnode init` on repo, then rewrites its config so that the
// node runs routers with defaultRouter as the default, Chord (when it runs)
// stabilizing fast enough for a test.
func initRoutingRepo(t *testing.T, repo, defaultRouter string, routers ...string) {
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
	cfg.Routing.Routers = routers
	cfg.Routing.Default = defaultRouter
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

// startRoutingCluster starts three daemons on repos n1, n2, n3 under base, each made
// by initRoutingRepo(defaultRouter, routers); n2 and n3 join through n1's gossip
// address. It returns the repos and the daemons' identities, in that order.
func startRoutingCluster(t *testing.T, base, defaultRouter string, routers ...string) ([]string, []client.IDInfo) {
	t.Helper()
	repos := []string{filepath.Join(base, "n1"), filepath.Join(base, "n2"), filepath.Join(base, "n3")}
	for _, r := range repos {
		initRoutingRepo(t, r, defaultRouter, routers...)
	}
	d1 := startDaemon(t, repos[0])
	seed := d1.id()
	d2 := startDaemon(t, repos[1], "--join", seed.GossipAddr)
	d3 := startDaemon(t, repos[2], "--join", seed.GossipAddr)
	return repos, []client.IDInfo{seed, d2.id(), d3.id()}
}

// closestPeer is the oracle of a lookup: the peer among ids whose key is at the
// smallest distance, dist(its key), under a router's metric.
func closestPeer(t *testing.T, ids []client.IDInfo, dist func(peerKey routing.Key) routing.Key) string {
	t.Helper()
	best, bestDist := "", routing.Key{}
	for _, id := range ids {
		if d := dist(peerKey(t, id.PeerID)); best == "" || d.Cmp(bestDist) < 0 {
			best, bestDist = id.PeerID, d
		}
	}
	return best
}

// peerKey is the key-space position of a peer ID string.
func peerKey(t *testing.T, id string) routing.Key {
	t.Helper()
	pid, err := peer.Decode(id)
	if err != nil {
		t.Fatal(err)
	}
	return routing.PeerKey(pid)
}

// addPayload writes a 300 KiB file under dir whose byte i is byte(i*step) and adds it
// on repo (n1); it returns the bytes and the content ID.
func addPayload(t *testing.T, dir, repo string, step int) ([]byte, string) {
	t.Helper()
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(i * step)
	}
	file := filepath.Join(dir, "payload.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := cli(t, repo, "add", "-q", file)
	if code != 0 {
		t.Fatalf("add on n1: %s", errOut)
	}
	return data, strings.TrimSpace(out)
}

// getPayload runs `get` with no --from on repo (n3), so its providers come from the
// default router (named by router in the failure message), and checks the bytes.
func getPayload(t *testing.T, dir, repo, id, router string, want []byte) {
	t.Helper()
	got := filepath.Join(dir, "got.bin")
	if out, errOut, code := cli(t, repo, "get", id, "-o", got); code != 0 {
		t.Fatalf("get on n3 through %s: %s %s", router, out, errOut)
	}
	if b, err := os.ReadFile(got); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("n3 got different bytes (err %v)", err)
	}
}
