package chord

import (
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// randomPeers makes n peers with identities drawn from a seeded generator, so every run
// sees the same ring.
func randomPeers(t testing.TB, n int) []Peer {
	t.Helper()
	ps := make([]Peer, n)
	seed := [32]byte{byte(n), byte(n >> 8), 'c', 'h', 'o', 'r', 'd'}
	src := mrand.NewChaCha8(seed)
	for i := range ps {
		_, pub, err := crypto.GenerateEd25519Key(src)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		ps[i] = NewPeer(id)
	}
	return ps
}

// linearSuccessor is the oracle: the first peer at or after key, scanning the sorted ring.
func linearSuccessor(sorted []Peer, key routing.Key) Peer {
	for _, p := range sorted {
		if p.Key.Cmp(key) >= 0 {
			return p
		}
	}
	return sorted[0]
}

// searchSuccessor is linearSuccessor by binary search, to build big tables quickly; the
// checks use the linear scan.
func searchSuccessor(sorted []Peer, key routing.Key) Peer {
	i, _ := slices.BinarySearchFunc(sorted, key, func(p Peer, k routing.Key) int { return p.Key.Cmp(k) })
	if i == len(sorted) {
		return sorted[0]
	}
	return sorted[i]
}

// simRing is the STYLE.md test network: one pure ring per node and a loop that delivers
// find_successor steps, with no goroutines or sockets.
type simRing struct {
	sorted []Peer
	rings  map[peer.ID]*ring
	dead   map[peer.ID]bool
}

// newSimRing builds correct tables from the oracle; fingerKeep is the chance each
// distinct finger is known (1 = the full table).
func newSimRing(peers []Peer, r int, fingerKeep float64, rng *mrand.Rand) *simRing {
	sorted := slices.Clone(peers)
	slices.SortFunc(sorted, func(a, b Peer) int { return a.Key.Cmp(b.Key) })
	s := &simRing{sorted: sorted, rings: map[peer.ID]*ring{}, dead: map[peer.ID]bool{}}
	for i, p := range sorted {
		rg := newRing(p, r)
		var succs []Peer
		for j := 1; j <= r && j < len(sorted); j++ {
			succs = append(succs, sorted[(i+j)%len(sorted)])
		}
		if len(succs) > 0 {
			rg.setSuccessors(succs[0], succs[1:])
		}
		rg.pred = sorted[(i+len(sorted)-1)%len(sorted)]
		for f := 0; f < routing.KeyBits; {
			start := p.Key.Add(routing.PowerOfTwo(f))
			owner := searchSuccessor(sorted, start)
			rg.setFinger(f, owner)
			next := rg.nextFinger
			if rng.Float64() >= fingerKeep {
				for j := f; j < routing.KeyBits && (next == 0 || j < next); j++ {
					rg.fingers[j] = Peer{}
				}
			}
			if next <= f {
				break
			}
			f = next
		}
		// Successors always repair the lowest fingers.
		if len(succs) > 0 {
			rg.fillFingersUpTo(succs[0])
		}
		s.rings[p.ID] = rg
	}
	return s
}

// lookup runs the iterative lookup from `from` by delivering steps in a loop; with
// confirm, the owner found is asked for its neighbours as Chord.confirmOwner does.
func (s *simRing) lookup(from Peer, key routing.Key, confirm bool) (owner Peer, hops int, rpcs int, ok bool) {
	q := s.rings[from.ID]
	if q.owns(key) {
		return from, 0, 0, true
	}
	ls := newLookupState(key, nil, 1000)
	found, succs, next := q.step(key, 0)
	if found {
		if !confirm {
			return succs[0], 0, 0, true
		}
		ls.found(candidate{Peer: from}, succs)
	} else {
		ls = newLookupState(key, next, 1000)
		ls.referred(candidate{Peer: from}, nil, q.successorList())
	}
	for {
		c, more := ls.next()
		if !more && ls.done && confirm {
			o := ls.owner[0]
			if o.ID != from.ID {
				ls.rpcs++
			}
			if s.dead[o.ID] {
				ls.ownerDead(o)
				continue
			}
			if !ls.ownerAnswered(o, s.rings[o.ID].pred, s.rings[o.ID].successorList()) {
				continue
			}
		}
		if ls.done {
			return ls.owner[0], ls.depth, ls.rpcs, true
		}
		if !more {
			return Peer{}, 0, ls.rpcs, false
		}
		if s.dead[c.ID] {
			ls.failed(c)
			continue
		}
		found, succs, next := s.rings[c.ID].step(key, 3)
		if found {
			ls.found(c, succs)
			continue
		}
		ls.referred(c, next, s.rings[c.ID].successorList())
	}
}

func TestLookupRoutesAroundDeadNodes(t *testing.T) {
	for _, repaired := range []bool{false, true} {
		for _, confirm := range []bool{false, true} {
			t.Run(fmt.Sprintf("successors-repaired=%v/confirm=%v", repaired, confirm), func(t *testing.T) {
				lookupAroundDeadNodes(t, repaired, confirm)
			})
		}
	}
}

// lookupAroundDeadNodes kills a quarter of a ring whose tables do not know it yet.
// Unrepaired, every table is stale: lookups must step over dead fingers and dead
// successors (through the responders' successor lists). Repaired, successor lists are
// fixed (one stabilize round) but fingers stay stale. With confirm, not even a stale
// successor list may name a dead owner.
func lookupAroundDeadNodes(t *testing.T, repaired, confirm bool) {
	rng := mrand.New(mrand.NewPCG(9, 10))
	peers := randomPeers(t, 128)
	sim := newSimRing(peers, 8, 1, rng)
	var live []Peer
	for i, p := range sim.sorted {
		if i%4 == 0 || (i%4 == 1 && i%8 == 1) {
			sim.dead[p.ID] = true // some runs of two dead nodes in a row
		} else {
			live = append(live, p)
		}
	}
	for _, p := range live {
		if !repaired {
			break
		}
		rg := sim.rings[p.ID]
		var succs []Peer
		for _, s := range rg.succ {
			if !sim.dead[s.ID] {
				succs = append(succs, s)
			}
		}
		rg.setSuccessors(succs[0], succs[1:])
		if sim.dead[rg.pred.ID] {
			rg.pred = Peer{}
		}
	}
	for range 500 {
		var key routing.Key
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		from := live[rng.IntN(len(live))]
		got, _, _, ok := sim.lookup(from, key, confirm)
		want := linearSuccessor(live, key)
		if !repaired && !confirm && ok && sim.dead[got.ID] && routing.InOpen(got.Key, key, want.Key) {
			// A stale successor list can still name a dead owner just before the true
			// one; the lookup did not fail, and stabilization fixes the list.
			continue
		}
		if !ok || got.ID != want.ID {
			t.Fatalf("lookup(%s) = %s (ok %v), want %s", key.Short(), got.Key.Short(), ok, want.Key.Short())
		}
	}
}

// TestConfirmFindsNewlyJoinedOwner joins nodes that only their successors know of (they
// notified them, nobody stabilized since): every other table still names the old owner of
// the keys the newcomers took over. A confirmed lookup asks that old owner, learns its new
// predecessor and returns the newcomer; an unconfirmed one returns the old owner.
func TestConfirmFindsNewlyJoinedOwner(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(11, 12))
	peers := randomPeers(t, 192)
	sim := newSimRing(peers[:128], 8, 1, rng)
	all := slices.Clone(sim.sorted)
	taken := map[peer.ID]bool{}
	for _, j := range peers[128:] {
		succ := linearSuccessor(sim.sorted, j.Key)
		if taken[succ.ID] {
			continue // one newcomer per old arc, so the old owner knows the new one
		}
		taken[succ.ID] = true
		rg := newRing(j, 8)
		rg.setSuccessors(succ, nil)
		rg.pred = sim.rings[succ.ID].pred
		sim.rings[j.ID] = rg
		sim.rings[succ.ID].pred = j // as notify leaves it
		all = append(all, j)
	}
	slices.SortFunc(all, func(a, b Peer) int { return a.Key.Cmp(b.Key) })
	stale := 0
	for range 500 {
		var key routing.Key
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		from := sim.sorted[rng.IntN(len(sim.sorted))]
		want := linearSuccessor(all, key)
		if got, _, _, ok := sim.lookup(from, key, false); ok && got.ID != want.ID {
			stale++
		}
		if sim.rings[from.ID].owns(key) {
			continue // we answer from our own view, which notify keeps current
		}
		got, _, _, ok := sim.lookup(from, key, true)
		if !ok || got.ID != want.ID {
			t.Fatalf("confirmed lookup(%s) = %s (ok %v), want %s", key.Short(), got.Key.Short(), ok, want.Key.Short())
		}
	}
	if stale == 0 {
		t.Fatal("no unconfirmed lookup named a stale owner: the test does not exercise confirmation")
	}
	t.Logf("unconfirmed lookups named a stale owner %d times of 500", stale)
}

func TestOfferBuildsExactFingers(t *testing.T) {
	peers := randomPeers(t, 50)
	sorted := slices.Clone(peers)
	slices.SortFunc(sorted, func(a, b Peer) int { return a.Key.Cmp(b.Key) })
	self := peers[0]
	rg := newRing(self, 8)
	rng := mrand.New(mrand.NewPCG(1, 1))
	for _, i := range rng.Perm(len(peers)) {
		rg.offer(peers[i])
	}
	others := slices.DeleteFunc(slices.Clone(sorted), func(p Peer) bool { return p.ID == self.ID })
	for i := range routing.KeyBits {
		want := linearSuccessor(others, self.Key.Add(routing.PowerOfTwo(i)))
		// A finger whose start is past the last node before self wraps to a node behind
		// the start; offer leaves those unknown, which only costs routing a shortcut.
		if routing.InOpen(want.Key, self.Key, self.Key.Add(routing.PowerOfTwo(i))) {
			continue
		}
		if rg.fingers[i].ID != want.ID {
			t.Fatalf("finger %d = %s, want %s", i, rg.fingers[i].Key.Short(), want.Key.Short())
		}
	}
	idx := slices.IndexFunc(sorted, func(p Peer) bool { return p.ID == self.ID })
	for j, s := range rg.succ {
		if want := sorted[(idx+1+j)%len(sorted)]; s.ID != want.ID {
			t.Fatalf("successor %d = %s, want %s", j, s.Key.Short(), want.Key.Short())
		}
	}
	if len(rg.succ) != 8 {
		t.Fatalf("successor list has %d entries, want 8", len(rg.succ))
	}
}

func TestRemoveFallsBack(t *testing.T) {
	peers := randomPeers(t, 20)
	rng := mrand.New(mrand.NewPCG(2, 2))
	sim := newSimRing(peers, 4, 1, rng)
	self := sim.sorted[0]
	rg := sim.rings[self.ID]
	victim := rg.succ[0]
	var pointed []int
	for i, f := range rg.fingers {
		if f.ID == victim.ID {
			pointed = append(pointed, i)
		}
	}
	if !rg.remove(victim.ID) {
		t.Fatal("remove reported unknown successor")
	}
	for _, p := range rg.known() {
		if p.ID == victim.ID {
			t.Fatal("removed peer still in table")
		}
	}
	if rg.succ[0].ID != sim.sorted[2].ID {
		t.Fatalf("successor after removal = %s, want the next one", rg.succ[0].Key.Short())
	}
	for _, i := range pointed {
		if f := rg.fingers[i]; f.isZero() || routing.InOpen(f.Key, self.Key, self.Key.Add(routing.PowerOfTwo(i))) {
			t.Fatalf("finger %d is empty or points before its start after removal", i)
		}
	}
}

func TestNotifyAndTwoNodeRing(t *testing.T) {
	ps := randomPeers(t, 2)
	a, b := newRing(ps[0], 8), newRing(ps[1], 8)
	if !a.alone() || !a.owns(ps[1].Key) {
		t.Fatal("a lone node owns everything")
	}
	// b joins through a: a answers find_successor(b) with itself.
	found, succs, _ := a.step(ps[1].Key, 3)
	if !found || succs[0].ID != ps[0].ID {
		t.Fatal("lone node should answer with itself")
	}
	b.setSuccessors(succs[0], succs[1:])
	if old, changed := a.notify(ps[1]); !changed || !old.isZero() {
		t.Fatal("first notify should set the predecessor")
	}
	if a.successor().ID != ps[1].ID {
		t.Fatal("a lone node adopts its first predecessor as successor")
	}
	b.notify(ps[0])
	for _, k := range []routing.Key{ps[0].Key, ps[1].Key, ps[0].Key.Add(routing.PowerOfTwo(3))} {
		sorted := slices.Clone(ps)
		slices.SortFunc(sorted, func(x, y Peer) int { return x.Key.Cmp(y.Key) })
		want := linearSuccessor(sorted, k)
		for _, rg := range []*ring{a, b} {
			var got Peer
			if rg.owns(k) {
				got = rg.self
			} else if f, s, _ := rg.step(k, 3); f {
				got = s[0]
			}
			if got.ID != want.ID {
				t.Fatalf("two-node ring: %s says owner of %s is %s, want %s", rg.self.Key.Short(), k.Short(), got.Key.Short(), want.Key.Short())
			}
		}
	}
}
