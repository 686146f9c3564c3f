package compare

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/routing"
)

func paperConfig(t *testing.T, paper string, nodes ...int) Config {
	cfg := DefaultConfig()
	cfg.Paper = paper
	cfg.Nodes = nodes
	cfg.Protocols = []string{ProtoChord}
	cfg.Feed = FeedNone
	cfg.Lookups = 300
	cfg.Settle = 10 * time.Second
	cfg.WarmupMax = 2 * time.Minute
	cfg.Out = t.TempDir()
	return cfg
}

// TestPaperFig10Small: the Fig. 10 experiment at small N answers every lookup
// correctly, with mean path length near the perfect-finger value, and writes its
// CSV, JSON and both plots.
func TestPaperFig10Small(t *testing.T) {
	cfg := paperConfig(t, PaperChordFig10, 16, 64)
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Fig10) != 2 {
		t.Fatalf("%d points, want 2", len(rep.Fig10))
	}
	for _, x := range rep.Fig10 {
		t.Logf("N=%d: %d/%d correct, mean %.2f (p1 %.0f, p99 %.0f), perfect fingers %.2f", x.N, x.Correct, x.Lookups, x.Mean, x.P1, x.P99, x.PerfectRef)
		if x.Correct != x.Lookups {
			t.Errorf("N=%d: %d of %d lookups correct", x.N, x.Correct, x.Lookups)
		}
		if math.Abs(x.Mean-x.PerfectRef) > 0.5+0.15*x.PerfectRef {
			t.Errorf("N=%d: mean %.2f far from perfect fingers' %.2f", x.N, x.Mean, x.PerfectRef)
		}
		sum := 0.0
		for _, v := range x.PDF {
			sum += v
		}
		if math.Abs(sum-1) > 1e-9 || x.P1 > x.Mean || x.P99 < x.Mean {
			t.Errorf("N=%d: PDF sums to %v, p1 %v mean %v p99 %v", x.N, sum, x.P1, x.Mean, x.P99)
		}
	}
	for _, name := range []string{"chord_fig10.csv", "results.json", PlotFig10a + ".png", PlotFig10b + ".svg"} {
		if st, err := os.Stat(filepath.Join(cfg.Out, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestPaperFig11Small: after half the nodes fail at once, lookups still reach the
// key's live successor, and about half of them miss the key's original owner (it
// died with its keys), as in the paper without replication.
func TestPaperFig11Small(t *testing.T) {
	cfg := paperConfig(t, PaperChordFig11, 64)
	cfg.FailFractions = []float64{0, 0.5}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Fig11) != 2 {
		t.Fatalf("%d points, want 2", len(rep.Fig11))
	}
	for _, x := range rep.Fig11 {
		t.Logf("p=%.1f: %d failed, owner missed %.1f%%, live successor missed %.1f%%, %.3f timeouts/lookup",
			x.P, x.Failed, x.OwnerFailedPct, x.SuccessorFailedPct, x.TimeoutsPerLookup)
	}
	if x := rep.Fig11[0]; x.OwnerFailedPct != 0 || x.SuccessorFailedPct != 0 || x.Failed != 0 {
		t.Errorf("p=0: %+v, want no failures", x)
	}
	x := rep.Fig11[1]
	if x.Failed != 32 || x.OwnerFailedPct < 30 || x.OwnerFailedPct > 70 {
		t.Errorf("p=0.5: %d failed, owner missed %.1f%%, want 32 and about 50%%", x.Failed, x.OwnerFailedPct)
	}
	if x.SuccessorFailedPct > 5 {
		t.Errorf("p=0.5: live successor missed by %.1f%% of lookups", x.SuccessorFailedPct)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, PlotFig11+".png")); err != nil {
		t.Error(err)
	}
}

// TestPerfectFingerHops checks the reference against a ring small enough to reason
// about: on 2^k evenly spaced nodes every lookup halves the distance.
func TestPerfectFingerHops(t *testing.T) {
	const k = 4
	var ring []routing.Key
	for i := range 1 << k {
		var key routing.Key
		key[0] = byte(i << (8 - k))
		ring = append(ring, key)
	}
	if !slices.IsSortedFunc(ring, routing.Key.Cmp) {
		t.Fatal("ring not sorted")
	}
	// The farthest key from node 0 that it does not own, just after node 14 (node 15
	// owns it): nodes 8, 12 and 14 are asked, the last one answers at depth k-1.
	var far routing.Key
	far[0] = 0xe0
	far[31] = 1
	if got := PerfectFingerHops(ring, 0, far); got != k-1 {
		t.Errorf("farthest key: %d hops, want %d", got, k-1)
	}
	var own routing.Key // node 0's own key: it owns it
	if got := PerfectFingerHops(ring, 0, own); got != 0 {
		t.Errorf("own key: %d hops, want 0", got)
	}
	var next routing.Key
	next[0] = 0x08 // in (node 0, node 1]: the querier's successor owns it
	if got := PerfectFingerHops(ring, 0, next); got != 0 {
		t.Errorf("successor's key: %d hops, want 0", got)
	}
}
