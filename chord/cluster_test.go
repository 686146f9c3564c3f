package chord_test

import (
	"context"
	"math"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/chord/chordtest"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/dhtnode/dhtnode/setting"
	"github.com/libp2p/go-libp2p/core/peer"
)

// testConfig uses short intervals so a test runs many stabilization rounds in little time.
func testConfig(period time.Duration) chord.Config {
	cfg := chord.DefaultConfig()
	cfg.StabilizeInterval = setting.Duration(period)
	cfg.FixFingersInterval = setting.Duration(period)
	cfg.CheckPredecessorInterval = setting.Duration(period)
	cfg.RPCTimeout = setting.Duration(2 * time.Second)
	return cfg
}

// bubble runs f in a testing/synctest bubble: mocknet, timers and Chord's maintenance all
// run on fake time, so stabilization periods are exact and a test of minutes of protocol
// time takes seconds, however loaded the machine is.
//
// Under the race detector (see race_on_test.go) f runs on the real clock instead, with
// clusterConfig's shorter periods.
func bubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	if raceEnabled {
		f(t)
		return
	}
	synctest.Test(t, f)
}

// clusterConfig is the configuration of the bubble tests: the LAN defaults on fake time,
// or 100 ms periods on the real clock under the race detector.
func clusterConfig() chord.Config {
	if raceEnabled {
		return testConfig(100 * time.Millisecond)
	}
	return chord.DefaultConfig()
}

// sized is the cluster size a test asks for, or at most 8 under the race detector: a
// 64-node mocknet ring runs more goroutines than the detector's limit of 8128, and the
// instrumented real-clock ring is slow on a loaded machine.
func sized(n int) int {
	if raceEnabled {
		return min(n, 8)
	}
	return n
}

// lookups is the number of oracle-checked lookups a test asks for, or a fifth of it under
// the race detector, whose instrumented lookups would not fit the tests' one-minute budget.
func lookups(n int) int {
	if raceEnabled {
		return n / 5
	}
	return n
}

func startCluster(t *testing.T, n int, opts chordtest.Options) *chordtest.Cluster {
	t.Helper()
	c := chordtest.New(opts)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Start(ctx, n); err != nil {
		t.Fatal(err)
	}
	took, err := c.WaitConverged(ctx, 200)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("N=%d converged %v after the last start", n, took.Round(time.Millisecond))
	return c
}

func checkHops(t *testing.T, n int, s chordtest.LookupStats) {
	t.Helper()
	half := 0.5 * math.Log2(float64(n))
	t.Logf("N=%d: %d lookups, %.1f%% correct, mean hops %.2f (½·log2 N = %.2f), mean RPCs %.2f, hop histogram %v",
		n, s.Lookups, 100*s.Success(), s.MeanHops(), half, s.MeanRPCs(), s.HopCounts)
	if s.Correct != s.Lookups {
		t.Fatalf("%d of %d lookups wrong or failed; first: %s", s.Lookups-s.Correct, s.Lookups, s.FirstWrong)
	}
	if m := s.MeanHops(); m < half-0.5 || m > half+1.5 {
		t.Fatalf("mean hops %.2f outside [%.2f, %.2f]", m, half-0.5, half+1.5)
	}
}

func TestClusterLookupsMatchOracle(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		gossip bool
	}{{"N=64/gossip-fed", 64, true}, {"N=64/join-only", 64, false}} {
		t.Run(tc.name, func(t *testing.T) {
			bubble(t, func(t *testing.T) {
				n := sized(tc.n)
				c := startCluster(t, n, chordtest.Options{Config: clusterConfig(), Gossip: tc.gossip, Seed: 1})
				// Let fix-fingers finish sweeps: hops depend on complete fingers, not correctness.
				waitRounds(t, c, 20)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				checkHops(t, n, c.CheckLookups(ctx, lookups(1000)))
			})
		})
	}
}

// TestClusterRealTime runs a ring on the real clock with short periods, outside any
// synctest bubble, so timer races the bubble cannot show still get exercised.
func TestClusterRealTime(t *testing.T) {
	n := sized(32)
	c := startCluster(t, n, chordtest.Options{Config: testConfig(50 * time.Millisecond), Gossip: false, Seed: 6})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := c.CheckLookups(ctx, 300)
	if s.Correct != s.Lookups {
		t.Fatalf("%d of %d wrong; first: %s", s.Lookups-s.Correct, s.Lookups, s.FirstWrong)
	}
	c.Kill(c.RandomPerm()[0])
	if _, err := c.WaitConverged(ctx, 100); err != nil {
		t.Fatal(err)
	}
}

// waitRounds waits until every live node has run at least `rounds` more stabilization
// rounds, so assertions count protocol rounds rather than wall time on a loaded machine.
func waitRounds(t *testing.T, c *chordtest.Cluster, rounds uint64) {
	t.Helper()
	live := c.Live()
	base := make([]uint64, len(live))
	for i, n := range live {
		base[i] = n.Chord.StabilizeRounds()
	}
	deadline := time.Now().Add(60 * time.Second)
	for i, n := range live {
		for n.Chord.StabilizeRounds() < base[i]+rounds {
			if time.Now().After(deadline) {
				t.Fatalf("node %d ran %d rounds in 60 s, want %d", n.Index, n.Chord.StabilizeRounds()-base[i], rounds)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestClusterSurvivesQuarterKilled(t *testing.T) {
	for _, feedDown := range []bool{false, true} {
		name := "no-gossip-down"
		if feedDown {
			name = "gossip-reports-down"
		}
		t.Run(name, func(t *testing.T) {
			bubble(t, func(t *testing.T) { quarterKilled(t, feedDown) })
		})
	}
}

// quarterKilled kills 25% of 64 nodes at once, the owner of a provided key among them,
// and checks that within 10 stabilization periods every lookup is right again and the
// record is still found. With feedDown, gossip's PeerDown reaches every node as well.
func quarterKilled(t *testing.T, feedDown bool) {
	n := sized(64)
	cfg := clusterConfig()
	c := startCluster(t, n, chordtest.Options{Config: cfg, Gossip: true, Seed: 2})
	waitRounds(t, c, 20)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	provider := c.Nodes()[0]
	var key routing.Key
	var owner *chordtest.Node
	for {
		key = c.RandomKey()
		owner = c.Oracle(key)
		if owner.ID != provider.ID {
			break
		}
	}
	if _, err := provider.Chord.Provide(ctx, key); err != nil {
		t.Fatal(err)
	}

	victims := []int{owner.Index}
	for _, i := range c.RandomPerm() {
		if len(victims) == n/4 {
			break
		}
		if i != owner.Index && i != provider.Index && !slices.Contains(victims, i) {
			victims = append(victims, i)
		}
	}
	killedAt := time.Now()
	for _, i := range victims {
		c.Kill(i)
	}
	if feedDown {
		for _, i := range victims {
			c.ReportDown(i)
		}
	}
	took, err := c.WaitConverged(ctx, 200)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("PeerDown fed: %v: 100%% of probe lookups correct %v after killing 25%% (%.1f stabilization periods)",
		feedDown, took, float64(took)/float64(cfg.StabilizeInterval.Std()))
	if raceEnabled {
		// Real clock on a loaded machine: the probes themselves take time, so count
		// protocol rounds instead.
		waitRounds(t, c, 10)
	} else {
		// Fake time: lookups take none, so this is recovery in exact periods.
		if took > 10*cfg.StabilizeInterval.Std() {
			t.Fatalf("recovery took %v, more than 10 stabilization periods", took)
		}
		if wait := time.Until(killedAt.Add(10 * cfg.StabilizeInterval.Std())); wait > 0 {
			time.Sleep(wait) // exactly 10 periods after the kill
		}
	}
	s := c.CheckLookups(ctx, lookups(1000))
	t.Logf("10 periods after the kill: %d/%d correct, mean hops %.2f, RPCs/lookup %.2f, timeouts/lookup %.3f",
		s.Correct, s.Lookups, s.MeanHops(), s.MeanRPCs(), float64(s.Timeouts)/float64(s.Lookups))
	if s.Correct != s.Lookups {
		t.Fatalf("not all lookups correct 10 stabilization periods after the kill; first: %s", s.FirstWrong)
	}

	asker := c.RandomLive()
	for asker.ID == provider.ID {
		asker = c.RandomLive()
	}
	provs, trace, err := asker.Chord.FindProviders(ctx, key, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(provs, func(ai peer.AddrInfo) bool { return ai.ID == provider.ID }) {
		t.Fatalf("provider not found after its owner died: got %v (trace %+v)", provs, trace)
	}
}

func TestClusterJoinMovesRecords(t *testing.T) {
	bubble(t, joinMovesRecords)
}

func joinMovesRecords(t *testing.T) {
	const n = 16
	c := startCluster(t, n, chordtest.Options{Config: clusterConfig(), Gossip: true, Seed: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Pick an owner O and its predecessor P; a new node N will join in (P, O) and the key
	// sits just before N, so N becomes its owner.
	live := c.Live()
	slices.SortFunc(live, func(a, b *chordtest.Node) int { return a.Key.Cmp(b.Key) })
	owner, pred := live[1], live[0]
	priv, err := chordtest.NewIdentityBetween(pred.Key, owner.Key)
	if err != nil {
		t.Fatal(err)
	}
	newID, _ := peer.IDFromPrivateKey(priv)
	key := routing.PeerKey(newID).Sub(routing.PowerOfTwo(0))
	if c.Oracle(key).ID != owner.ID {
		t.Fatal("test setup: key should belong to the owner before the join")
	}
	provider := live[5]
	// Provide succeeds once any of the owner and its replicas stored the record; on a ring
	// that converged a moment ago the lookup may still end short of the owner. This test
	// is about the handoff at a join, so it provides until the owner holds the record.
	for {
		if _, err := provider.Chord.Provide(ctx, key); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(owner.Chord.StoredProviders(key), provider.ID) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("owner did not store the record")
		}
		time.Sleep(20 * time.Millisecond)
	}

	joined, err := c.Add(ctx, priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitConverged(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if c.Oracle(key).ID != joined.ID {
		t.Fatal("test setup: the new node should own the key")
	}
	// The old owner hands the record to the new one when it learns its new predecessor.
	for !slices.Contains(joined.Chord.StoredProviders(key), provider.ID) {
		if ctx.Err() != nil {
			t.Fatal("record was not handed to the new owner")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, asker := range c.Live() {
		provs, trace, err := asker.Chord.FindProviders(ctx, key, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(provs, func(ai peer.AddrInfo) bool { return ai.ID == provider.ID }) {
			t.Fatalf("findprovs from %s after the join: %v", asker.Key.Short(), provs)
		}
		if asker.ID != joined.ID && trace.Hops > 0 && trace.Path[len(trace.Path)-1].Peer != joined.ID {
			t.Fatalf("providers should come from the new owner, came from %s", trace.Path[len(trace.Path)-1].Peer)
		}
	}
}

func TestClusterRestart(t *testing.T) {
	bubble(t, restart)
}

func restart(t *testing.T) {
	n := sized(24)
	c := startCluster(t, n, chordtest.Options{Config: clusterConfig(), Gossip: false, Seed: 5})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	victims := c.RandomPerm()[:6]
	for _, i := range victims {
		c.Kill(i)
		c.ReportDown(i)
	}
	if _, err := c.WaitConverged(ctx, 100); err != nil {
		t.Fatal(err)
	}
	for _, i := range victims {
		if err := c.Restart(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.WaitConverged(ctx, 200); err != nil {
		t.Fatal(err)
	}
	if got := len(c.Live()); got != n {
		t.Fatalf("%d live after restart, want %d", got, n)
	}
}

// TestClusterRepublishRestoresRecords: when every holder of a record dies at once, the
// provider's periodic republish stores it on the new owner.
func TestClusterRepublishRestoresRecords(t *testing.T) {
	bubble(t, func(t *testing.T) {
		cfg := clusterConfig()
		cfg.Successors = 2
		cfg.RepublishInterval = setting.Duration(60 * cfg.StabilizeInterval.Std())
		c := startCluster(t, 16, chordtest.Options{Config: cfg, Gossip: true, Seed: 7})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		provider := c.Nodes()[0]
		var key routing.Key
		for {
			key = c.RandomKey()
			if _, err := provider.Chord.Provide(ctx, key); err != nil {
				t.Fatal(err)
			}
			// Use a key whose record the provider does not hold itself.
			if len(provider.Chord.StoredProviders(key)) == 0 {
				break
			}
		}
		// Kill every node holding the record.
		var holders []int
		for _, n := range c.Live() {
			if n.ID != provider.ID && slices.Contains(n.Chord.StoredProviders(key), provider.ID) {
				holders = append(holders, n.Index)
			}
		}
		if len(holders) == 0 {
			t.Fatal("no node stored the record")
		}
		for _, i := range holders {
			c.Kill(i)
			c.ReportDown(i)
		}
		asker := c.RandomLive()
		for asker.ID == provider.ID {
			asker = c.RandomLive()
		}
		if provs, _, _ := asker.Chord.FindProviders(ctx, key, 0); len(provs) != 0 {
			t.Fatalf("record still found right after all %d holders died: %v", len(holders), provs)
		}
		killed := time.Now()
		for {
			provs, _, err := asker.Chord.FindProviders(ctx, key, 0)
			if err == nil && slices.ContainsFunc(provs, func(ai peer.AddrInfo) bool { return ai.ID == provider.ID }) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("record not restored by republishing (killed %d holders)", len(holders))
			}
			time.Sleep(5 * cfg.StabilizeInterval.Std())
		}
		if took := time.Since(killed); took > 2*cfg.RepublishInterval.Std() {
			t.Fatalf("restored after %v, want within two republish intervals", took)
		}
	})
}

// TestLookupFallsBackAroundDeadHops kills a quarter of the ring and looks up at once,
// before any stabilization round (on fake time nothing runs in between): lookups whose
// best hop is dead fall back to the next best finger or successor, and the trace records
// each failed request as a timeout with its error on the path.
func TestLookupFallsBackAroundDeadHops(t *testing.T) {
	bubble(t, func(t *testing.T) {
		n := sized(64)
		c := startCluster(t, n, chordtest.Options{Config: clusterConfig(), Gossip: true, Seed: 8})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for _, i := range c.RandomPerm()[:n/4] {
			c.Kill(i)
		}
		withTimeouts, failed, correct, rpcs, timeouts := 0, 0, 0, 0, 0
		for range 300 {
			from := c.RandomLive()
			key := c.RandomKey()
			owners, trace, err := from.Chord.Lookup(ctx, key)
			rpcs += trace.RPCs
			timeouts += trace.Timeouts
			if err == nil && owners[0].ID == c.Oracle(key).ID {
				correct++
			}
			if err != nil {
				if failed == 0 {
					t.Logf("first failure: %v; path %+v", err, trace.Path)
				}
				failed++
				continue
			}
			if trace.Timeouts > 0 {
				withTimeouts++
				errs := 0
				for _, h := range trace.Path {
					if h.Error != "" {
						errs++
					}
				}
				if errs != trace.Timeouts || trace.RPCs != len(trace.Path) {
					t.Fatalf("trace: %d timeouts, %d RPCs, but path %+v", trace.Timeouts, trace.RPCs, trace.Path)
				}
			}
		}
		t.Logf("right after killing 25%%: %d of 300 lookups met dead hops and fell back, %d failed, %d named the oracle's owner (the rest a dead one from a stale list); %.2f RPCs and %.2f timeouts per lookup",
			withTimeouts, failed, correct, float64(rpcs)/300, float64(timeouts)/300)
		if withTimeouts == 0 {
			t.Fatal("no lookup met a dead hop; the test proves nothing")
		}
		if failed > 0 {
			t.Fatalf("%d lookups failed instead of falling back", failed)
		}
	})
}
