package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/chord/chordtest"
	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The daemon-level test of Chord under lying members: ten real nodes (libp2p on
// loopback, gossip, HTTP API, blockstore), two of them correctly signed gossip members
// whose Chord handler lies in every answer (chord.NewAdversary with every lie: referrals
// to invented peers at loopback addresses that accept TCP and never answer, itself as
// the owner of every key, a fake predecessor and successors in neighbours answers,
// provider records acknowledged and dropped).

// withChordStarter makes New build the node's Chord router with start.
func withChordStarter(start chordStarter) Option {
	return func(o *options) { o.newChord = start }
}

// keptLogs is a slog handler that keeps the records whose message is in keep, with
// their attributes (the logger's own included), for tests that wait on a log line.
type keptLogs struct {
	keep  map[string]bool
	mu    *sync.Mutex
	recs  *[]map[string]string
	attrs []slog.Attr
}

func newKeptLogs(msgs ...string) keptLogs {
	keep := map[string]bool{}
	for _, m := range msgs {
		keep[m] = true
	}
	return keptLogs{keep: keep, mu: &sync.Mutex{}, recs: &[]map[string]string{}}
}

func (k keptLogs) Enabled(context.Context, slog.Level) bool { return true }

func (k keptLogs) Handle(_ context.Context, r slog.Record) error {
	if !k.keep[r.Message] {
		return nil
	}
	rec := map[string]string{"msg": r.Message}
	for _, a := range k.attrs {
		rec[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { rec[a.Key] = a.Value.String(); return true })
	k.mu.Lock()
	*k.recs = append(*k.recs, rec)
	k.mu.Unlock()
	return nil
}

func (k keptLogs) WithAttrs(as []slog.Attr) slog.Handler {
	k.attrs = append(slices.Clone(k.attrs), as...)
	return k
}

func (k keptLogs) WithGroup(string) slog.Handler { return k }

// has reports whether a kept record has every attribute of want.
func (k keptLogs) has(want map[string]string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, rec := range *k.recs {
		match := true
		for key, v := range want {
			match = match && rec[key] == v
		}
		if match {
			return true
		}
	}
	return false
}

// liarCluster is ten daemons, some of them lying Chord members.
type liarCluster struct {
	nodes   []*Node
	clients []*client.Client // nil for liars
	logs    []keptLogs
	liar    []bool
	keys    []routing.Key
	members map[peer.ID]bool
}

func (c *liarCluster) honest() []int {
	var out []int
	for i := range c.nodes {
		if !c.liar[i] {
			out = append(out, i)
		}
	}
	return out
}

func (c *liarCluster) chordOf(i int) *chord.Chord { return c.nodes[i].Router("chord").(*chord.Chord) }

// ownerIndex is the oracle: the index of the node that owns key (its successor among
// the members' keys).
func (c *liarCluster) ownerIndex(key routing.Key) int {
	return slices.Index(c.keys, ringOwner(c.keys, key))
}

// liarClusterSize is how many daemons a liarCluster runs.
const liarClusterSize = 10

// startLiarCluster starts ten nodes running Chord only, sharing secret ("" for an open
// cluster), liars of them lying and naming silent as their invented peers; it waits
// until every node sees the nine others alive in gossip. The liars are the nodes that
// own the largest arcs of the ring (node 0, which the others join through, excepted),
// so that a good share of keys, files' among them, are theirs.
func startLiarCluster(t *testing.T, secret string, liars int, silent []peer.AddrInfo) *liarCluster {
	t.Helper()
	c := &liarCluster{members: map[peer.ID]bool{}}
	cfg := testConfig()
	cfg.Content.NoSync = true
	cfg.Gossip.Secret = secret
	cfg.Routing.Routers = []string{"chord"}
	cfg.Routing.Default = "chord"
	var repos []*Repo
	var ids []peer.ID
	for range liarClusterSize {
		repo, err := InitRepo(filepath.Join(t.TempDir(), "repo"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		key, err := repo.Identity()
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		repos, ids = append(repos, repo), append(ids, id)
	}
	liarIdx := largestArcs(ids, liars)
	for i := range liarClusterSize {
		cfg := cfg
		if i > 0 {
			cfg.Gossip.Join = []string{c.nodes[0].Gossip().BoundAddr()}
		}
		repo := repos[i]
		logs := newKeptLogs("announced content", "chord peer lied")
		opts := []Option{WithLogger(slog.New(logs))}
		lying := slices.Contains(liarIdx, i)
		if lying {
			opts = append(opts, withChordStarter(func(h host.Host, cfg chord.Config) (*chord.Chord, error) {
				return chord.NewAdversary(h, cfg, chord.AllLies(), silent)
			}))
		}
		n, err := New(cfg, repo, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
		c.nodes = append(c.nodes, n)
		c.logs = append(c.logs, logs)
		c.liar = append(c.liar, lying)
		c.members[n.ID()] = true
		var cl *client.Client
		if !lying {
			cl = client.New(n.APIAddr(), client.WithToken(n.APIToken()))
		}
		c.clients = append(c.clients, cl)
	}
	c.keys = peerKeys(c.nodes)
	deadline := time.Now().Add(90 * time.Second)
	for _, n := range c.nodes {
		for len(n.AlivePeers()) < liarClusterSize-1 {
			if time.Now().After(deadline) {
				t.Fatalf("gossip never showed %d members to %s: %d", liarClusterSize, n.ID(), len(n.AlivePeers()))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// largestArcs returns the indices of the n peers of ids, index 0 excepted, that own the
// largest arcs of the ring (the keys from their predecessor's, exclusive, to their own).
func largestArcs(ids []peer.ID, n int) []int {
	keys := make([]routing.Key, len(ids))
	for i, id := range ids {
		keys[i] = routing.PeerKey(id)
	}
	// i's arc is as long as the clockwise distance from its predecessor, the peer
	// closest before it.
	arc := func(i int) routing.Key {
		var arc routing.Key
		for j, k := range keys {
			if d := routing.RingDistance(k, keys[i]); j != i && (arc == (routing.Key{}) || d.Cmp(arc) < 0) {
				arc = d
			}
		}
		return arc
	}
	idx := make([]int, 0, len(ids)-1)
	for i := 1; i < len(ids); i++ {
		idx = append(idx, i)
	}
	slices.SortFunc(idx, func(a, b int) int { return arc(b).Cmp(arc(a)) })
	return idx[:min(n, len(idx))]
}

// liarLookupBound bounds every lookup: without the defences one that follows invented
// peers takes 2 s per referral, up to 32 of them.
const liarLookupBound = 5 * time.Second

// lookupStats sums lookups of honest-owned keys from honest nodes.
type lookupStats struct {
	lookups, correct, failed int
	latencies                []time.Duration
	firstWrong               string
}

func (s lookupStats) p95() time.Duration {
	l := slices.Clone(s.latencies)
	slices.Sort(l)
	if len(l) == 0 {
		return 0
	}
	return l[(len(l)*95+99)/100-1]
}

func (s lookupStats) max() time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	return slices.Max(s.latencies)
}

// honestLookups runs n lookups of random keys that honest nodes own, from random honest
// nodes, each within liarLookupBound, and checks each owner against the oracle.
func (c *liarCluster) honestLookups(ctx context.Context, rng *mrand.Rand, n int) lookupStats {
	var s lookupStats
	honest := c.honest()
	for s.lookups < n && ctx.Err() == nil {
		var key routing.Key
		for i := range key {
			key[i] = byte(rng.UintN(256))
		}
		want := c.ownerIndex(key)
		if c.liar[want] {
			continue
		}
		from := honest[rng.IntN(len(honest))]
		lctx, cancel := context.WithTimeout(ctx, liarLookupBound)
		start := time.Now()
		owners, _, err := c.nodes[from].Router("chord").Lookup(lctx, key)
		s.latencies = append(s.latencies, time.Since(start))
		cancel()
		s.lookups++
		switch {
		case err != nil:
			s.failed++
			if s.firstWrong == "" {
				s.firstWrong = fmt.Sprintf("node %d, key %s: %v", from, key.Short(), err)
			}
		case len(owners) > 0 && owners[0].ID == c.nodes[want].ID():
			s.correct++
		case s.firstWrong == "":
			s.firstWrong = fmt.Sprintf("node %d, key %s: got %v, oracle node %d", from, key.Short(), owners, want)
		}
	}
	return s
}

// waitConverged polls batches of honest lookups until one is entirely right: gossip
// has told everyone about everyone, and stabilization has settled the ring.
func (c *liarCluster) waitConverged(t *testing.T, ctx context.Context, rng *mrand.Rand) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		s := c.honestLookups(ctx, rng, 40)
		if s.lookups > 0 && s.correct == s.lookups {
			return time.Since(start)
		}
		if ctx.Err() != nil {
			t.Fatalf("honest lookups never all right: %d/%d, first wrong: %s", s.correct, s.lookups, s.firstWrong)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestChordDaemonsWithLyingMembers is the target on real daemons, open and with
// a cluster secret: with 2 of 10 members lying in every Chord answer, at least 99 % of
// lookups for honest-owned keys name the right owner, every one ends within
// liarLookupBound with p95 latency within twice an all-honest cluster's, files added
// on honest nodes are fetched through Chord from every other honest node at the first
// attempt, no honest node ever dials an invented peer or holds a non-member in its
// Chord tables, and the lies are caught and logged naming the liar.
func TestChordDaemonsWithLyingMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 30 daemons")
	}
	rng := mrand.New(mrand.NewPCG(18, 20))
	var baseline lookupStats
	t.Run("honest baseline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		c := startLiarCluster(t, "", 0, nil)
		took := c.waitConverged(t, ctx, rng)
		baseline = c.honestLookups(ctx, rng, 200)
		t.Logf("converged after %v; %d lookups, %d correct, %d failed, p95 %v, max %v",
			took.Round(time.Millisecond), baseline.lookups, baseline.correct, baseline.failed, baseline.p95(), baseline.max())
	})
	for _, tc := range []struct{ name, secret string }{{"open", ""}, {"secret", newSecret(t)}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			silent, err := chordtest.ListenSilent(16)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = silent.Close() })
			start := time.Now()
			c := startLiarCluster(t, tc.secret, 2, silent.Peers)
			took := c.waitConverged(t, ctx, rng)

			s := c.honestLookups(ctx, rng, 200)
			t.Logf("converged after %v; 20%% liars: %d lookups, %d correct (%.1f%%), %d failed, p95 %v (honest %v), max %v",
				took.Round(time.Millisecond), s.lookups, s.correct, 100*float64(s.correct)/float64(max(s.lookups, 1)),
				s.failed, s.p95(), baseline.p95(), s.max())
			if s.lookups < 200 {
				t.Fatalf("only %d lookups before the deadline", s.lookups)
			}
			if s.failed > 0 {
				t.Errorf("%d lookups did not end with an owner within %v; first: %s", s.failed, liarLookupBound, s.firstWrong)
			}
			if float64(s.correct) < 0.99*float64(s.lookups) {
				t.Errorf("%d of %d correct, want >= 99%%; first wrong: %s", s.correct, s.lookups, s.firstWrong)
			}
			if p, b := s.p95(), baseline.p95(); b > 0 && p > 2*b && p > b+100*time.Millisecond {
				t.Errorf("p95 latency %v, honest baseline %v", p, b)
			}

			files, gets, liarOwned := c.addAndFetch(t, ctx, 5)
			t.Logf("%d files, %d of their keys owned by a liar: %d gets through chord (each failure reported above)", files, liarOwned, gets)

			if n := silent.Accepted(); n > 0 {
				t.Errorf("an honest node dialled the liars' invented peers %d times", n)
			}
			for _, i := range c.honest() {
				for _, sec := range c.chordOf(i).RoutingTable().Sections {
					for _, e := range sec.Entries {
						if !c.members[e.Peer] {
							t.Errorf("node %d holds non-member %s in its chord %s", i, e.Peer, sec.Name)
						}
					}
				}
			}
			// A claim is judged a lie once the membership it contradicts has stood for
			// ten stabilize rounds (a new member may not have reached every view yet),
			// so the lies of the first seconds are counted a little later.
			var lies uint64
			for logged := false; !logged || lies == 0; {
				if ctx.Err() != nil {
					t.Fatalf("no honest node caught and logged a lie naming a liar: %d lies, logged %v", lies, logged)
				}
				time.Sleep(100 * time.Millisecond)
				lies = 0
				for _, i := range c.honest() {
					lies += c.chordOf(i).LiesDetected()
					for l, lying := range c.liar {
						logged = logged || lying && c.logs[i].has(map[string]string{"msg": "chord peer lied", "peer": c.nodes[l].ID().String()})
					}
				}
			}
			var metricLies float64
			for _, i := range c.honest() {
				// A referral dropped for naming a non-member is a lie, not a refused
				// connection; and the lie metric has no per-peer series.
				if got := refused(t, c.nodes[i], "chord"); got != 0 {
					t.Errorf("node %d counted %v refused chord requests from non-members", i, got)
				}
				families, err := c.nodes[i].Gatherer().Gather()
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range families {
					if f.GetName() != "dhtnode_chord_lies_detected_total" {
						continue
					}
					for _, m := range f.GetMetric() {
						metricLies += m.GetCounter().GetValue()
						for _, l := range m.GetLabel() {
							if l.GetName() == "peer" {
								t.Errorf("node %d: lie metric labelled by peer", i)
							}
						}
					}
				}
			}
			// Read after LiesDetected, and lies go on being caught meanwhile: at least.
			if metricLies < float64(lies) || metricLies == 0 {
				t.Errorf("dhtnode_chord_lies_detected_total sums to %v over the honest nodes, they had caught %d", metricLies, lies)
			}
			t.Logf("honest nodes caught %d lies after %v", lies, time.Since(start).Round(time.Second))
		})
	}
}

// addAndFetch adds at least files files of random bytes, each on another honest node,
// and more until two of their keys are owned by liars (which acknowledge provider
// records and drop them); it waits until each adding node has announced its file
// through Chord, then gets every file through Chord from every other honest node, once
// each: every get must succeed with the same bytes. It returns the number of files, of
// gets, and of file keys a liar owns.
func (c *liarCluster) addAndFetch(t *testing.T, ctx context.Context, files int) (added, gets, liarOwned int) {
	t.Helper()
	const maxFiles = 30
	honest := c.honest()
	dir := t.TempDir()
	type file struct {
		by   int
		id   string
		data []byte
	}
	var all []file
	for f := 0; (f < files || liarOwned < 2) && f < maxFiles; f++ {
		by := honest[f%len(honest)]
		data := make([]byte, 100<<10+f*4099)
		_, _ = rand.Read(data)
		src := filepath.Join(dir, fmt.Sprintf("file%d.bin", f))
		if err := os.WriteFile(src, data, 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := c.clients[by].Add(ctx, client.AddRequest{Path: src}, nil)
		if err != nil {
			t.Fatalf("add on node %d: %v", by, err)
		}
		id, err := content.ParseID(res.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.liar[c.ownerIndex(id.Key())] {
			liarOwned++
		}
		all = append(all, file{by: by, id: res.ID, data: data})
	}
	if liarOwned < 2 {
		t.Fatalf("only %d of %d file keys owned by a liar", liarOwned, len(all))
	}
	for _, a := range all {
		for !c.logs[a.by].has(map[string]string{"msg": "announced content", "id": a.id, "router": "chord"}) {
			if ctx.Err() != nil {
				t.Fatalf("node %d never announced %s through chord", a.by, a.id)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, a := range all {
		for _, i := range honest {
			if i == a.by {
				continue
			}
			out := filepath.Join(dir, fmt.Sprintf("get-%d-%s", i, a.id))
			res, err := c.clients[i].Get(ctx, client.GetRequest{ID: a.id, Output: out, Via: "chord"}, nil)
			gets++
			if err != nil {
				t.Errorf("node %d: get %s (added on node %d) through chord: %v", i, a.id, a.by, err)
				continue
			}
			got, err := os.ReadFile(out)
			if err != nil || !bytes.Equal(got, a.data) || res.Size != int64(len(a.data)) {
				t.Errorf("node %d: get %s: %d bytes (%v), want the %d added", i, a.id, len(got), err, len(a.data))
			}
		}
	}
	return len(all), gets, liarOwned
}
