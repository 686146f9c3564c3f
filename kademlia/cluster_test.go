package kademlia

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/dhtnode/dhtnode/setting"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// cluster is N kad-dht routers on one libp2p mocknet, fed PeerUp/PeerDown the way
// the node feeds them from gossip. Tests run it inside a synctest bubble, so time
// is virtual: no timeout fires because the machine is loaded.
type cluster struct {
	t     testing.TB
	mn    mocknet.Mocknet
	nodes []*clusterNode
}

type clusterNode struct {
	h     host.Host
	r     *Router
	alive bool
}

func newCluster(t testing.TB, n int, cfg Config) *cluster {
	t.Helper()
	c := &cluster{t: t, mn: mocknet.New()}
	for range n {
		h, err := c.mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, &clusterNode{h: h, alive: true})
	}
	if err := c.mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	for _, nd := range c.nodes {
		r, err := New(nd.h, cfg)
		if err != nil {
			t.Fatal(err)
		}
		nd.r = r
	}
	// Gossip: every member hears about every other.
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			if a != b {
				a.r.PeerUp(peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()})
			}
		}
	}
	t.Cleanup(c.close)
	return c
}

func (c *cluster) close() {
	for _, nd := range c.nodes {
		if nd.alive {
			c.stop(nd)
		}
	}
	_ = c.mn.Close()
}

// stop kills a node without a goodbye: its DHT and host go away mid-flight. The
// links go first: a closed mocknet host still accepts new connections and its
// stream handlers still answer, so only unlinking makes it unreachable.
func (c *cluster) stop(nd *clusterNode) {
	nd.alive = false
	for _, o := range c.nodes {
		if o != nd {
			_ = c.mn.UnlinkPeers(nd.h.ID(), o.h.ID())
		}
	}
	_ = nd.r.Close()
	_ = nd.h.Close()
}

func (c *cluster) live() []*clusterNode {
	var out []*clusterNode
	for _, nd := range c.nodes {
		if nd.alive {
			out = append(out, nd)
		}
	}
	return out
}

// oracle is the live node closest to Target(key) by XOR.
func (c *cluster) oracle(key routing.Key) peer.ID {
	target := Target(key)
	var best peer.ID
	var bestDist routing.Key
	for _, nd := range c.live() {
		d := routing.PeerKey(nd.h.ID()).XOR(target)
		if best == "" || d.Cmp(bestDist) < 0 {
			best, bestDist = nd.h.ID(), d
		}
	}
	return best
}

func randomKey(r *rand.Rand) routing.Key {
	var k routing.Key
	for i := range k {
		k[i] = byte(r.Uint32())
	}
	return k
}

type lookupStats struct {
	n, wrong             int
	hops, rpcs, timeouts int
}

// lookups runs n lookups from random live nodes and checks each against the oracle
// and the XOR order of the answer.
func (c *cluster) lookups(ctx context.Context, rng *rand.Rand, n int) lookupStats {
	c.t.Helper()
	live := c.live()
	var s lookupStats
	for range n {
		key := randomKey(rng)
		from := live[rng.IntN(len(live))]
		owners, tr, err := from.r.Lookup(ctx, key)
		if err != nil {
			c.t.Fatalf("lookup %s from %s: %v", key.Short(), from.h.ID(), err)
		}
		s.n++
		s.hops += tr.Hops
		s.rpcs += tr.RPCs
		s.timeouts += tr.Timeouts
		if want := c.oracle(key); len(owners) == 0 || owners[0].ID != want {
			s.wrong++
			continue
		}
		target := Target(key)
		if !slices.IsSortedFunc(owners, func(a, b peer.AddrInfo) int {
			return routing.PeerKey(a.ID).XOR(target).Cmp(routing.PeerKey(b.ID).XOR(target))
		}) {
			c.t.Fatalf("lookup %s: owners not in XOR order", key.Short())
		}
		if tr.Hops != len(tr.Path) || tr.Algo != Name || tr.Key != key {
			c.t.Fatalf("lookup %s: trace hops %d path %d algo %q", key.Short(), tr.Hops, len(tr.Path), tr.Algo)
		}
		if tr.Hops > 0 && tr.Path[len(tr.Path)-1].Peer != owners[0].ID {
			c.t.Fatalf("lookup %s: path ends at %s, answer %s", key.Short(), tr.Path[len(tr.Path)-1].Peer, owners[0].ID)
		}
	}
	return s
}

func (s lookupStats) String() string {
	f := func(x int) float64 { return float64(x) / float64(max(s.n, 1)) }
	return "lookups " + itoa(s.n) + ", wrong " + itoa(s.wrong) +
		", mean hops " + ftoa(f(s.hops)) + ", mean rpcs " + ftoa(f(s.rpcs)) + ", mean timeouts " + ftoa(f(s.timeouts))
}

// bubble runs f in a testing/synctest bubble (fake time: exact, and fast however loaded
// the machine is), or on the real clock under the race detector, whose instrumented
// runtime crashes (SIGSEGV in timer.maybeRunChan) on mocknet's stream timers inside a
// bubble. The tests it runs wait for outcomes, not for time to pass.
func bubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	if raceEnabled {
		f(t)
		return
	}
	synctest.Test(t, f)
}

// needsFakeTime skips, under the race detector only, a test that waits out hours or
// minutes of protocol time and so can run only in a synctest bubble (see bubble).
func needsFakeTime(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("waits out protocol time, which only a synctest bubble can fake; the race runtime crashes in bubbles with mocknet")
	}
}

// sized is the cluster size a test asks for, or at most 24 under the race detector: the
// instrumented 64-node cluster takes about nine minutes of a loaded machine's CPU.
func sized(n int) int {
	if raceEnabled {
		return min(n, 24)
	}
	return n
}

// lookupCount is the number of oracle-checked lookups a test asks for, or a fifth of it
// under the race detector.
func lookupCount(n int) int {
	if raceEnabled {
		return n / 5
	}
	return n
}

func TestClusterLookupsProvidersAndFailures(t *testing.T) {
	bubble(t, func(t *testing.T) {
		n := sized(64)
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(64, 1))
		c := newCluster(t, n, TestConfig())

		s := c.lookups(ctx, rng, lookupCount(1000))
		t.Logf("N=%d: %v", n, s)
		if s.wrong != 0 {
			t.Fatalf("%d of %d lookups missed the closest live peer", s.wrong, s.n)
		}

		// One node provides a key; every node finds it.
		key := routing.ContentKey([]byte("a provided key"))
		provider := c.nodes[rng.IntN(n)]
		if _, err := provider.r.Provide(ctx, key); err != nil {
			t.Fatalf("provide: %v", err)
		}
		c.expectProvider(ctx, key, provider.h.ID())

		// Kill 25% at once, including the 8 nodes closest to the key (the provider
		// record's primary holders), with no goodbye.
		target := Target(key)
		order := slices.Clone(c.nodes)
		slices.SortFunc(order, func(a, b *clusterNode) int {
			return routing.PeerKey(a.h.ID()).XOR(target).Cmp(routing.PeerKey(b.h.ID()).XOR(target))
		})
		var victims []*clusterNode
		for _, nd := range order {
			if nd != provider && len(victims) < 8 {
				victims = append(victims, nd)
			}
		}
		for _, i := range rng.Perm(n) {
			if nd := c.nodes[i]; len(victims) < n/4 && nd != provider && !slices.Contains(victims, nd) {
				victims = append(victims, nd)
			}
		}
		for _, v := range victims {
			c.stop(v)
		}

		// Before gossip reports them, lookups run into the dead and count it.
		before := c.lookups(ctx, rng, 50)
		t.Logf("after killing %d, before PeerDown: %v", len(victims), before)
		if before.timeouts == 0 {
			t.Error("no timeouts recorded while dead peers were still in the tables")
		}

		// Gossip reports them failed: every live node forgets them.
		for _, nd := range c.live() {
			for _, v := range victims {
				nd.r.PeerDown(v.h.ID())
			}
		}
		after := c.lookups(ctx, rng, lookupCount(500))
		t.Logf("after PeerDown: %v", after)
		if after.wrong != 0 {
			t.Fatalf("%d of %d lookups missed the closest live peer after PeerDown", after.wrong, after.n)
		}
		if after.timeouts != 0 {
			t.Errorf("%d timeouts after every dead peer was removed", after.timeouts)
		}
		c.expectProvider(ctx, key, provider.h.ID())
	})
}

func (c *cluster) expectProvider(ctx context.Context, key routing.Key, want peer.ID) {
	c.t.Helper()
	hops := 0
	live := c.live()
	for _, nd := range live {
		provs, tr, err := nd.r.FindProviders(ctx, key, 1)
		if err != nil {
			c.t.Fatalf("findprovs from %s: %v", nd.h.ID(), err)
		}
		if !slices.ContainsFunc(provs, func(ai peer.AddrInfo) bool { return ai.ID == want }) {
			c.t.Fatalf("findprovs from %s: %v, want %s", nd.h.ID(), provs, want)
		}
		hops += tr.Hops
	}
	c.t.Logf("findprovs from %d nodes: mean hops %.2f", len(live), float64(hops)/float64(len(live)))
}

func TestGossipFillsNewNodeTable(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 16, TestConfig())
		// A node joining later: gossip tells it about everyone, and everyone about it.
		h, err := c.mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.mn.LinkAll(); err != nil {
			t.Fatal(err)
		}
		r, err := New(h, TestConfig())
		if err != nil {
			t.Fatal(err)
		}
		nd := &clusterNode{h: h, r: r, alive: true}
		c.nodes = append(c.nodes, nd)
		for _, o := range c.nodes[:16] {
			r.PeerUp(peer.AddrInfo{ID: o.h.ID(), Addrs: o.h.Addrs()})
			o.r.PeerUp(peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
		}
		// No refresh ran (auto-refresh is off, no time passed): the table is gossip's.
		if got := r.RoutingTable().Entries(); got != 16 {
			t.Fatalf("new node's table has %d peers, want 16", got)
		}
		tbl := r.RoutingTable()
		for _, sec := range tbl.Sections {
			for _, e := range sec.Entries {
				if routing.CommonPrefixLen(tbl.Self.Key, e.Key) != e.Index {
					t.Fatalf("entry %s in %s has cpl %d", e.Peer, sec.Name, routing.CommonPrefixLen(tbl.Self.Key, e.Key))
				}
			}
		}
		rng := rand.New(rand.NewPCG(7, 7))
		if s := c.lookups(context.Background(), rng, 100); s.wrong != 0 {
			t.Fatalf("%v", s)
		}
		r.PeerDown(c.nodes[0].h.ID())
		if got := r.RoutingTable().Entries(); got != 15 {
			t.Fatalf("after PeerDown the table has %d peers, want 15", got)
		}
		// A cancelled search ends with ctx's error, not a hang or a spin.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := r.FindProviders(ctx, routing.ContentKey([]byte("nobody")), 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled findprovs: %v", err)
		}
		if _, _, err := r.Lookup(ctx, routing.ContentKey([]byte("nobody"))); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled lookup: %v", err)
		}
		// Unknown key: every node asked, nobody has it.
		if _, tr, err := r.FindProviders(context.Background(), routing.ContentKey([]byte("nobody")), 0); !errors.Is(err, routing.ErrLookupFailed) || tr.RPCs == 0 {
			t.Fatalf("findprovs of an unprovided key: %v (rpcs %d), want ErrLookupFailed", err, tr.RPCs)
		}
	})
}

func TestLoneNodeOwnsEverything(t *testing.T) {
	bubble(t, func(t *testing.T) {
		c := newCluster(t, 1, TestConfig())
		self := c.nodes[0]
		owners, tr, err := self.r.Lookup(context.Background(), routing.ContentKey([]byte("x")))
		if err != nil || len(owners) != 1 || owners[0].ID != self.h.ID() || tr.Hops != 0 {
			t.Fatalf("lone lookup: %v %+v %v", owners, tr, err)
		}
		if _, err := self.r.Provide(context.Background(), routing.ContentKey([]byte("x"))); !errors.Is(err, routing.ErrNoPeers) {
			t.Fatalf("lone provide: %v, want ErrNoPeers", err)
		}
		provs, tr, err := self.r.FindProviders(context.Background(), routing.ContentKey([]byte("x")), 0)
		if err != nil || len(provs) != 1 || provs[0].ID != self.h.ID() || tr.Hops != 0 {
			t.Fatalf("lone findprovs: %v %+v %v", provs, tr, err)
		}
	})
}

// TestConfigValidate checks that each documented bound is enforced.
func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(*Config){
		func(c *Config) { c.ProtocolPrefix = "dhtnode" },
		func(c *Config) { c.BucketSize = 0 },
		func(c *Config) { c.ProtocolPrefix = IPFSProtocolPrefix; c.BucketSize = 8 },
		func(c *Config) { c.Concurrency = 0 },
		func(c *Config) { c.Resiliency = 21 },
		func(c *Config) { c.IPDiversity = "maybe" },
		func(c *Config) { c.PeerAddrTTL = 0 },
		func(c *Config) { c.RefreshInterval = 0 },
	}
	for i, mutate := range bad {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("case %d: Validate() = %v, want ErrBadConfig", i, err)
		}
	}
	_ = time.Second
}

// Without gossip, the Kademlia join (bootstrap peer, self lookup, bucket refresh)
// still gives every node a table good enough for correct lookups.
func TestJoinWithoutGossip(t *testing.T) {
	bubble(t, func(t *testing.T) {
		const n = 24
		mn := mocknet.New()
		defer mn.Close()
		c := &cluster{t: t, mn: mn}
		for range n {
			h, err := mn.GenPeer()
			if err != nil {
				t.Fatal(err)
			}
			c.nodes = append(c.nodes, &clusterNode{h: h, alive: true})
		}
		if err := mn.LinkAll(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.close)
		ctx := context.Background()
		first := peer.AddrInfo{ID: c.nodes[0].h.ID(), Addrs: c.nodes[0].h.Addrs()}
		for i, nd := range c.nodes {
			r, err := New(nd.h, TestConfig())
			if err != nil {
				t.Fatal(err)
			}
			nd.r = r
			if i > 0 {
				if err := r.Join(ctx, first); err != nil {
					t.Fatalf("node %d join: %v", i, err)
				}
			}
		}
		// Late joiners are known to early ones only through lookups; one more round
		// of refreshes (what periodic refresh does) settles the tables.
		for _, nd := range c.nodes {
			if err := <-nd.r.DHT().ForceRefresh(); err != nil {
				t.Fatal(err)
			}
		}
		rng := rand.New(rand.NewPCG(24, 24))
		if s := c.lookups(ctx, rng, 200); s.wrong != 0 {
			t.Fatalf("without gossip: %v", s)
		}
		if err := c.nodes[1].r.Join(ctx, peer.AddrInfo{ID: c.nodes[1].h.ID()}); !errors.Is(err, routing.ErrNoPeers) {
			t.Fatalf("join with only self: %v, want ErrNoPeers", err)
		}
	})
}

// The /ipfs prefix passes kad-dht's own Amino checks (k = 20, provider and value
// records on, the pk and ipns validators) and speaks /ipfs/kad/1.0.0.
func TestIPFSPrefix(t *testing.T) {
	bubble(t, func(t *testing.T) {
		mn := mocknet.New()
		defer mn.Close()
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		cfg := TestConfig()
		cfg.ProtocolPrefix = IPFSProtocolPrefix
		r, err := New(h, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.Protocol() != "/ipfs/kad/1.0.0" || !slices.Contains(h.Mux().Protocols(), r.Protocol()) {
			t.Fatalf("protocol %s, host handles %v", r.Protocol(), h.Mux().Protocols())
		}
	})
}

// kad-dht drops a peer from its table after one failed request; gossip still says it
// is alive, so the re-offer loop puts it back.
func TestReofferRestoresDroppedMember(t *testing.T) {
	needsFakeTime(t)
	synctest.Test(t, func(t *testing.T) {
		cfg := TestConfig()
		cfg.ReofferInterval = setting.Duration(time.Minute)
		c := newCluster(t, 8, cfg)
		r := c.nodes[0].r
		victim := c.nodes[3].h.ID()
		r.DHT().RoutingTable().RemovePeer(victim) // as after a transient failure
		if r.DHT().RoutingTable().Find(victim) != "" {
			t.Fatal("peer still in the table")
		}
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		if r.DHT().RoutingTable().Find(victim) == "" {
			t.Fatal("gossip member not re-offered after the interval")
		}
		// A member gossip reported down stays out.
		r.PeerDown(victim)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if r.DHT().RoutingTable().Find(victim) != "" {
			t.Fatal("a member reported down came back")
		}
	})
}
