package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/content"
)

// TestGetWaitsForALateAnnounce: a get that starts before any node holds the content
// finds no provider at first, keeps asking the routers for content.find_timeout,
// and fetches the content once another member adds and announces it, as a get
// right after an add on another machine needs.
func TestGetWaitsForALateAnnounce(t *testing.T) {
	a, ca := contentNode(t, nil)
	b, _ := contentNode(t, func(c *Config) {
		c.Gossip.Join = []string{a.Gossip().BoundAddr()}
		c.Content.FindTimeout = Duration(30 * time.Second)
	})
	deadline := time.Now().Add(60 * time.Second)
	for len(a.AlivePeers()) < 1 || len(b.AlivePeers()) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the two nodes never saw each other")
		}
		time.Sleep(50 * time.Millisecond)
	}

	src := filepath.Join(t.TempDir(), "late.txt")
	if err := os.WriteFile(src, []byte(strings.Repeat("announced after the get began\n", 2000)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The ID, computed here without storing anything: nobody provides it yet.
	hashed, err := content.Add(context.Background(), src, content.AddOptions{PieceSize: int64(a.cfg.Content.PieceSize)})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		res GetResult
		err error
	}
	got := make(chan result, 1)
	ctx := ctxFor(t)
	go func() {
		res, err := b.Get(ctx, hashed.ID, GetOptions{})
		got <- result{res, err}
	}()
	// Let the get ask once and find nothing before the content exists.
	select {
	case r := <-got:
		t.Fatalf("the get ended before the content was added: %+v %v", r.res, r.err)
	case <-time.After(time.Second):
	}
	added, err := ca.Add(ctx, client.AddRequest{Path: src}, nil)
	if err != nil || added.ID != hashed.ID.String() {
		t.Fatalf("add: %+v %v, want ID %s", added, err, hashed.ID)
	}
	select {
	case r := <-got:
		if r.err != nil || r.res.Size != added.Size {
			t.Fatalf("get after a late announce: %+v %v", r.res, r.err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the get never ended")
	}
}
