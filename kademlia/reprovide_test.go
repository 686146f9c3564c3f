package kademlia

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/dhtnode/dhtnode/setting"
)

// Provider records expire after ProviderTTL; the reprovide loop keeps them alive.
// Virtual time (synctest) lets the test live through hours.
func TestReprovideOutlivesTTL(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reprovide time.Duration
		wantFound bool
	}{
		{"reprovide", time.Hour, true},
		{"no-reprovide", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			needsFakeTime(t)
			synctest.Test(t, func(t *testing.T) {
				cfg := TestConfig()
				cfg.ProviderTTL = setting.Duration(2 * time.Hour)
				cfg.ReprovideInterval = setting.Duration(tc.reprovide)
				c := newCluster(t, 12, cfg)
				ctx := context.Background()
				key := routing.ContentKey([]byte("long-lived"))
				provider, seeker := c.nodes[0], c.nodes[5]
				if _, err := provider.r.Provide(ctx, key); err != nil {
					t.Fatal(err)
				}
				if got := provider.r.Provided(); len(got) != 1 || got[0] != key {
					t.Fatalf("Provided() = %v", got)
				}
				time.Sleep(5 * time.Hour)
				provs, _, err := seeker.r.FindProviders(ctx, key, 1)
				found := err == nil && len(provs) == 1 && provs[0].ID == provider.h.ID()
				if found != tc.wantFound {
					t.Fatalf("after 5 h (TTL 2 h, reprovide %v): found %v (%v, %v), want %v",
						tc.reprovide, found, provs, err, tc.wantFound)
				}
				if !found && !errors.Is(err, routing.ErrLookupFailed) {
					t.Fatalf("not found should be ErrLookupFailed, got %v", err)
				}
			})
		})
	}
}
