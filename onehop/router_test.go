package onehop

import (
	"bufio"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/dhtnode/dhtnode/setting"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	dto "github.com/prometheus/client_model/go"
)

type cluster struct {
	mn      mocknet.Mocknet
	routers []*Router
}

// newCluster starts n routers on a fully linked mocknet, every view complete.
func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	mn := mocknet.New()
	t.Cleanup(func() { _ = mn.Close() })
	c := &cluster{mn: mn}
	for range n {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.RPCTimeout = setting.Duration(5 * time.Second)
		r, err := New(h, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		c.routers = append(c.routers, r)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	for _, a := range c.routers {
		for _, b := range c.routers {
			a.PeerUp(peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()})
		}
	}
	return c
}

func randomKey(rng *rand.Rand) routing.Key {
	var k routing.Key
	for i := range k {
		k[i] = byte(rng.Uint32())
	}
	return k
}

// owner is the oracle: the successor of key among the given live routers.
func owner(live []*Router, key routing.Key) peer.ID {
	var best *Router
	for _, r := range live {
		if best == nil || routing.RingDistance(key, r.self.key).Cmp(routing.RingDistance(key, best.self.key)) < 0 {
			best = r
		}
	}
	return best.h.ID()
}

func TestLookupOneHop(t *testing.T) {
	c := newCluster(t, 16)
	rng := rand.New(rand.NewPCG(3, 4))
	ctx := context.Background()
	for range 300 {
		from := c.routers[rng.IntN(len(c.routers))]
		key := randomKey(rng)
		owners, tr, err := from.Lookup(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		want := owner(c.routers, key)
		if owners[0].ID != want {
			t.Fatalf("owner %s, oracle %s", owners[0].ID, want)
		}
		wantHops := 1
		if want == from.h.ID() {
			wantHops = 0
		}
		if tr.Hops != wantHops || tr.RPCs != wantHops || tr.Timeouts != 0 || len(tr.Path) != wantHops {
			t.Fatalf("trace %+v, want %d hop", tr, wantHops)
		}
		if len(owners) != DefaultConfig().Replicas {
			t.Fatalf("%d owners, want %d", len(owners), DefaultConfig().Replicas)
		}
	}
	if got := c.routers[0].RoutingTable().Entries(); got != 15 {
		t.Fatalf("table entries %d, want 15", got)
	}
}

func TestProvideAndFindFromEveryNode(t *testing.T) {
	c := newCluster(t, 16)
	ctx := context.Background()
	key := routing.ContentKey([]byte("hello"))
	provider := c.routers[5]
	if _, err := provider.Provide(ctx, key); err != nil {
		t.Fatal(err)
	}
	for i, r := range c.routers {
		provs, _, err := r.FindProviders(ctx, key, 0)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		if len(provs) != 1 || provs[0].ID != provider.h.ID() {
			t.Fatalf("node %d found %v", i, provs)
		}
	}
	// The owner dies: a replica still answers.
	own := owner(c.routers, key)
	for _, r := range c.routers {
		if r.h.ID() == own {
			_ = r.h.Close()
			for _, o := range c.routers {
				o.PeerDown(own)
			}
		}
	}
	var asker *Router
	for _, r := range c.routers {
		if r.h.ID() != own {
			asker = r
			break
		}
	}
	provs, _, err := asker.FindProviders(ctx, key, 0)
	if err != nil || len(provs) != 1 {
		t.Fatalf("after owner death: %v %v", provs, err)
	}
}

func TestStaleViewTimeoutAndRedirect(t *testing.T) {
	c := newCluster(t, 12)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	// A dead node that the querier still believes alive: the lookup times out on it
	// and the next member answers.
	dead := c.routers[3]
	var live []*Router
	for _, r := range c.routers {
		if r != dead {
			live = append(live, r)
		}
	}
	// The querier must not be the dead node's live successor: it would then own every
	// key the dead node owned, and no key could lead the lookup to the dead node (the
	// key search below would never end; peer IDs differ from run to run).
	querier := c.routers[0]
	if owner(live, dead.self.key) == querier.h.ID() {
		querier = c.routers[1]
	}
	_ = dead.h.Close()
	_ = c.mn.UnlinkPeers(querier.h.ID(), dead.h.ID())
	for _, r := range live {
		if r != querier {
			r.PeerDown(dead.h.ID())
		}
	}
	var key routing.Key
	for {
		key = randomKey(rng)
		if owner(c.routers, key) == dead.h.ID() && owner(live, key) != querier.h.ID() {
			break
		}
	}
	owners, tr, err := querier.Lookup(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if owners[0].ID != owner(live, key) || tr.Timeouts != 1 || tr.Path[0].Error == "" {
		t.Fatalf("stale lookup: owner %s (want %s), trace %+v", owners[0].ID, owner(live, key), tr)
	}
	// A member the querier doesn't know yet, between the key and the querier's owner:
	// the asked node redirects to it (2 hops).
	newbie := c.routers[7]
	key = newbie.self.key // owned by newbie itself
	var rest []*Router
	for _, r := range live {
		if r != newbie {
			rest = append(rest, r)
		}
	}
	next := owner(rest, key) // the owner in a view without newbie
	var q2 *Router
	for _, r := range rest {
		if r.h.ID() != next && r != querier {
			q2 = r
			break
		}
	}
	q2.PeerDown(newbie.h.ID())
	owners, tr, err = q2.Lookup(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if owners[0].ID != newbie.h.ID() || tr.Hops != 2 || tr.RPCs != 2 {
		t.Fatalf("redirect: owner %s (want %s), trace %+v", owners[0].ID, newbie.h.ID(), tr)
	}
}

func TestMalformedRequestResetsStream(t *testing.T) {
	c := newCluster(t, 2)
	a, b := c.routers[0], c.routers[1]
	s, err := a.h.NewStream(context.Background(), b.h.ID(), protocol.ID(ProtocolID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte{5, 1, 2, 3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	_ = s.CloseWrite()
	if _, err := readMessage(bufio.NewReader(s)); err == nil {
		t.Fatal("malformed request answered")
	}
	// The router still serves good requests.
	if _, _, err := a.Lookup(context.Background(), b.self.key); err != nil {
		t.Fatal(err)
	}
}

// TestDeadOwnerNobodyKnowsYet: the owner crashed and no view has caught up. The
// querier times out on it; the next member still names the dead owner first, and
// the querier, having seen it fail, takes that member as the owner.
func TestDeadOwnerNobodyKnowsYet(t *testing.T) {
	c := newCluster(t, 10)
	rng := rand.New(rand.NewPCG(9, 10))
	dead := c.routers[4]
	_ = dead.h.Close()
	var live []*Router
	for _, r := range c.routers {
		if r != dead {
			live = append(live, r)
			// A closed mocknet host still answers over a link; cut them all.
			_ = c.mn.UnlinkPeers(r.h.ID(), dead.h.ID())
		}
	}
	for range 20 {
		var key routing.Key
		var querier *Router
		for {
			key = randomKey(rng)
			querier = live[rng.IntN(len(live))]
			if owner(c.routers, key) == dead.h.ID() && owner(live, key) != querier.h.ID() {
				break
			}
		}
		owners, tr, err := querier.Lookup(context.Background(), key)
		if err != nil {
			t.Fatalf("%v; trace %+v", err, tr)
		}
		if owners[0].ID != owner(live, key) {
			t.Fatalf("owner %s, want %s; trace %+v", owners[0].ID, owner(live, key), tr)
		}
		for _, o := range owners {
			if o.ID == dead.h.ID() {
				t.Fatalf("dead node among the owners: %v", owners)
			}
		}
	}
}

// TestJoinAnnouncement: a new node that gossip has told about everyone, but nobody yet
// about it, announces itself to its successor; lookups for its keys from elsewhere
// then reach it through that successor's redirect.
func TestJoinAnnouncement(t *testing.T) {
	c := newCluster(t, 8)
	h, err := c.mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	joiner, err := New(h, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = joiner.Close() })
	for _, r := range c.routers {
		joiner.PeerUp(peer.AddrInfo{ID: r.h.ID(), Addrs: r.h.Addrs()})
	}
	querier := c.routers[0]
	if querier.h.ID() == owner(c.routers, joiner.self.key) {
		querier = c.routers[1]
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		owners, tr, err := querier.Lookup(context.Background(), joiner.self.key)
		if err == nil && owners[0].ID == joiner.h.ID() {
			if tr.Hops != 2 {
				t.Fatalf("reached the joiner in %d hops, want 2 (via its successor)", tr.Hops)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("joiner never reachable: owners %v err %v", owners, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSuspectClearedByProofOfLife: a member that failed one request (busy, not dead) is
// left out of lookups only until it shows it is alive, by answering us or by asking us
// something; lookups for its keys then name it again.
func TestSuspectClearedByProofOfLife(t *testing.T) {
	c := newCluster(t, 6)
	rng := rand.New(rand.NewPCG(11, 12))
	a, b := c.routers[0], c.routers[1]
	var key routing.Key
	for {
		key = randomKey(rng)
		if owner(c.routers, key) == b.h.ID() {
			break
		}
	}
	a.recheckAfter = time.Hour // only b's own messages may lift the suspicion here
	a.suspect(b.h.ID())
	owners, _, err := a.Lookup(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if owners[0].ID == b.h.ID() {
		t.Fatal("a suspected member was named owner: the test does not exercise suspicion")
	}
	// b asks a for something: a well-formed request is proof of life.
	if _, err := b.call(context.Background(), a.self.info, &Message{Type: MsgFindOwner, Key: randomKey(rng)}); err != nil {
		t.Fatal(err)
	}
	if a.isSuspect(b.h.ID()) {
		t.Fatal("b is still suspected after sending a request")
	}
	owners, tr, err := a.Lookup(context.Background(), key)
	if err != nil || owners[0].ID != b.h.ID() {
		t.Fatalf("owner %v (err %v), want %s; trace %+v", owners, err, b.h.ID(), tr)
	}
	// An answer to our own request clears it too.
	a.suspect(b.h.ID())
	if _, err := a.call(context.Background(), b.self.info, &Message{Type: MsgFindOwner, Key: key}); err != nil {
		t.Fatal(err)
	}
	if a.isSuspect(b.h.ID()) {
		t.Fatal("b is still suspected after answering a request")
	}
}

// TestSuspectRechecked: a member suspected after one failed request is asked again
// soon; a live one answers and is named owner again well before the suspicion would
// run out, a dead one stays suspected however often it is asked.
func TestSuspectRechecked(t *testing.T) {
	c := newCluster(t, 6)
	a, busy, dead := c.routers[0], c.routers[1], c.routers[2]
	a.recheckAfter = 50 * time.Millisecond
	_ = dead.h.Close()
	_ = c.mn.UnlinkPeers(a.h.ID(), dead.h.ID())

	a.suspect(busy.h.ID())
	a.suspect(dead.h.ID())
	deadline := time.Now().Add(suspectTTL / 2)
	for a.isSuspect(busy.h.ID()) {
		if time.Now().After(deadline) {
			t.Fatal("a live suspect was never rechecked and cleared")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// By now the dead member's recheck has failed at least once (it started at the
	// same time, with the same pause); wait for a few more to be sure it stays out.
	failedRechecks := func() float64 {
		var m dto.Metric
		if err := a.metrics.rpcs.WithLabelValues(MsgFindOwner.String(), "error").Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	failedBefore := failedRechecks()
	for failedRechecks() < failedBefore+2 {
		if time.Now().After(deadline) {
			t.Fatal("the dead suspect was not rechecked again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !a.isSuspect(dead.h.ID()) {
		t.Fatal("a dead member that failed its rechecks is no longer suspected")
	}
}

// TestStopProviding: a provided key is republished until StopProviding drops it.
func TestStopProviding(t *testing.T) {
	c := newCluster(t, 3)
	r := c.routers[0]
	key := randomKey(rand.New(rand.NewPCG(13, 14)))
	if _, err := r.Provide(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	republished := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		_, ok := r.provided[key]
		return ok
	}
	if !republished() {
		t.Fatal("a provided key is not in the republish set")
	}
	r.StopProviding(key)
	if republished() {
		t.Fatal("StopProviding left the key in the republish set")
	}
}
