package node

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/kademlia"
)

// TestStoredContentAnnouncedAfterRestart: provider records live in memory, here and on
// the other nodes, so a node that restarts must announce what it stores again or nobody
// finds it. A adds a file, restarts alone, then B and C join it; C must find A as a
// provider through the DHT without anyone adding anything again.
func TestStoredContentAnnouncedAfterRestart(t *testing.T) {
	cfg := testConfig()
	cfg.Addresses.API = ""
	cfg.Content.NoSync = true
	repoDir := filepath.Join(t.TempDir(), "a")
	repo, err := InitRepo(repoDir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, repo)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(src, []byte("stored before the restart"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := a.Add(context.Background(), src, AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := content.ParseID(res.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	if repo, err = OpenRepo(repoDir); err != nil {
		t.Fatal(err)
	}
	a, err = New(cfg, repo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	var c *Node
	for range 2 {
		ccfg := testConfig()
		ccfg.Addresses.API = ""
		ccfg.Gossip.Join = []string{a.Gossip().BoundAddr()}
		n, err := New(ccfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
		c = n
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		provs, err := c.providers(ctx, id, nil, "")
		if err == nil && slices.ContainsFunc(provs, func(p peer.AddrInfo) bool { return p.ID == a.ID() }) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the restarted node's content was never found through the DHT: %v %v", provs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestGCStopsAnnouncing: content removed by repo gc is no longer re-announced (a getter
// would find this node and be told it lacks the content).
func TestGCStopsAnnouncing(t *testing.T) {
	n, _ := contentNode(t, nil)
	kad, ok := n.DefaultRouter().(*kademlia.Router)
	if !ok {
		t.Fatalf("default router %T, want kademlia", n.DefaultRouter())
	}
	src := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(src, []byte("soon collected"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	res, err := n.Add(ctx, src, AddOptions{NoPin: true})
	if err != nil {
		t.Fatal(err)
	}
	id, err := content.ParseID(res.ID)
	if err != nil {
		t.Fatal(err)
	}
	for !slices.Contains(kad.Provided(), id.Key()) {
		if ctx.Err() != nil {
			t.Fatal("added content never entered the router's re-announce set")
		}
		time.Sleep(10 * time.Millisecond)
	}
	gc, err := n.RepoGC(ctx)
	if err != nil || gc.RemovedContents != 1 {
		t.Fatalf("gc: %+v %v", gc, err)
	}
	if slices.Contains(kad.Provided(), id.Key()) {
		t.Fatal("content removed by gc is still re-announced")
	}
}
