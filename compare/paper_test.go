package compare

import (
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
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

// TestPaperFig10JoinStorm: at N = 512 the nodes join four at a time within a second or
// two, far faster than one stabilization round, which is when a node still joining gets
// asked by others. Every lookup must still be correct and the mean path within 10 % of
// perfect fingers (a ring broken into loops of successor pointers fails both).
func TestPaperFig10JoinStorm(t *testing.T) {
	cfg := paperConfig(t, PaperChordFig10, 512)
	cfg.Lookups = 1000
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Fig10) != 1 {
		t.Fatalf("%d points, want 1", len(rep.Fig10))
	}
	x := rep.Fig10[0]
	t.Logf("N=%d: %d/%d correct, mean %.3f, perfect fingers %.3f", x.N, x.Correct, x.Lookups, x.Mean, x.PerfectRef)
	if x.Correct != x.Lookups {
		t.Errorf("%d of %d lookups correct", x.Correct, x.Lookups)
	}
	if math.Abs(x.Mean-x.PerfectRef) > 0.10*x.PerfectRef {
		t.Errorf("mean %.3f hops, more than 10%% from perfect fingers' %.3f", x.Mean, x.PerfectRef)
	}
}

// TestChordJoinStormRing: 256 Chord nodes joining four at a time on the in-memory
// network, far faster than one stabilization round, so that joiners are asked by
// others while their own join is still out. The ring must come out as one ring with
// every successor right (not interleaved loops that stabilization never merges), and
// then every lookup correct with hops within 10 % of perfect fingers.
func TestChordJoinStormRing(t *testing.T) {
	const n = 256
	cfg := DefaultConfig()
	cfg.Protocols = []string{ProtoChord}
	cfg.Feed = FeedNone
	cfg.WarmupMax = 2 * time.Minute
	cfg.Logger = slog.New(slog.DiscardHandler)
	model, err := NewLatencyModel("none")
	if err != nil {
		t.Fatal(err)
	}
	s := newSimNet(cfg, n, model)
	s.startWorkers = 4
	ctx := context.Background()
	if err := s.startInitial(ctx, cfg.Logger); err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if c := successorCycles(s); c != 1 {
		t.Errorf("successor pointers form %d cycles right after the joins, want one ring", c)
	}
	if err := s.waitChordRing(ctx, cfg.Logger, time.Now().Add(cfg.WarmupMax)); err != nil {
		t.Fatal(err)
	}
	// Then fix-fingers completes the tables (a sweep is about log2 N rounds; rounds
	// run late on a loaded machine, so poll rather than guess how long).
	rng := stream(cfg.Seed, "storm-test", 0, 0)
	var specs []LookupSpec
	for range 500 {
		var k routing.Key
		for j := range k {
			k[j] = byte(rng.Uint32())
		}
		specs = append(specs, LookupSpec{Slot: rng.IntN(n), Key: k})
	}
	perfect := s.perfectFingerMean(specs)
	deadline := time.Now().Add(cfg.WarmupMax)
	for {
		res := s.runLookups(ctx, specs, false)[ProtoChord]
		var hops float64
		wrong := 0
		for _, r := range res {
			if !r.ok {
				wrong++
			}
			hops += float64(r.hops)
		}
		hops /= float64(len(res))
		if wrong == 0 && math.Abs(hops-perfect) <= 0.10*perfect {
			t.Logf("mean %.3f hops, perfect fingers %.3f", hops, perfect)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d of %d lookups wrong, mean %.3f hops vs perfect fingers' %.3f",
				cfg.WarmupMax, wrong, len(res), hops, perfect)
		}
		time.Sleep(2 * time.Second)
	}
}

// successorCycles follows every live node's Chord successor and counts the distinct
// cycles the pointers form (nodes on a path into a cycle belong to none).
func successorCycles(s *simNet) int {
	succ := map[peer.ID]peer.ID{}
	for _, nd := range s.liveNodes() {
		succ[nd.id] = nd.routers[ProtoChord].(interface{ Successor() peer.ID }).Successor()
	}
	cycleOf := map[peer.ID]int{} // 0: visited, on no cycle
	cycles := 0
	for start := range succ {
		path := map[peer.ID]bool{}
		p := start
		for {
			if _, done := cycleOf[p]; done || path[p] {
				break
			}
			path[p] = true
			p = succ[p]
		}
		if path[p] { // a new cycle through p
			cycles++
			for q := p; ; {
				cycleOf[q] = cycles
				if q = succ[q]; q == p {
					break
				}
			}
		}
		for q := range path {
			if _, ok := cycleOf[q]; !ok {
				cycleOf[q] = 0
			}
		}
	}
	return cycles
}
