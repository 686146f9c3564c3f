package node

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
)

// TestContentAcrossDifferentDefaultRouters: add announces through every router, and
// get searches the default router first, then the others, so nodes whose default
// routers differ (or that share only some routers) still share content; --via picks
// one, and a search that finds nothing says so in one short line.
func TestContentAcrossDifferentDefaultRouters(t *testing.T) {
	a, ca := contentNode(t, func(c *Config) { c.Routing.Routers = []string{"chord", "kademlia"}; c.Routing.Default = "chord" })
	join := func(routers []string, def string) func(*Config) {
		return func(c *Config) {
			c.Routing.Routers, c.Routing.Default = routers, def
			c.Gossip.Join = []string{a.Gossip().BoundAddr()}
		}
	}
	_, cb := contentNode(t, join([]string{"chord", "kademlia"}, "kademlia"))
	_, cc := contentNode(t, join([]string{"onehop", "chord"}, "onehop"))
	ctx := ctxFor(t)

	src := filepath.Join(t.TempDir(), "shared.txt")
	if err := os.WriteFile(src, []byte(strings.Repeat("shared across routers\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	added, err := ca.Add(ctx, client.AddRequest{Path: src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// B's default (Kademlia) is not A's (Chord); C runs no Kademlia and A no one-hop,
	// so C's default finds nothing and the search goes on to Chord. Routing tables fill
	// from gossip and A re-announces to members as they come, so poll.
	for name, c := range map[string]*client.Client{"B (default kademlia)": cb, "C (default onehop)": cc} {
		var last error
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if _, last = c.Info(ctx, added.ID, nil, ""); last == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if last != nil {
			t.Fatalf("%s never found A's content: %v", name, last)
		}
		res, err := c.Get(ctx, client.GetRequest{ID: added.ID}, nil)
		if err != nil || res.Size != added.Size {
			t.Fatalf("%s: get %+v %v", name, res, err)
		}
	}

	// An ID nobody provides, via one router and via all: one short line naming them.
	unknown := "bagaaieraxwb7vjyvuv4k4ovxz2bt6hltajipgufgalxgvv2u2mbnoedbdkra"
	for _, via := range []string{"onehop", ""} {
		_, err = cc.Info(ctx, unknown, nil, via)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if err == nil || !strings.Contains(msg, "onehop") || len(msg) > 300 || strings.Contains(msg, "\n") {
			t.Errorf("info of an unknown ID via %q: %q; want one short line naming the routers asked", via, msg)
		}
		if via == "" && !strings.Contains(msg, "chord") {
			t.Errorf("info without --via should have asked chord too: %q", msg)
		}
	}
	var api *client.APIError
	if _, err := cc.Info(ctx, unknown, nil, "kademlia"); !errors.As(err, &api) || api.Status != 400 || !strings.Contains(err.Error(), "kademlia") {
		t.Errorf("--via a router C does not run: %v; want 400 naming it", err)
	}
}
