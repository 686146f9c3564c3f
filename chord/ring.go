package chord

import (
	"slices"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Peer is a ring member: its libp2p ID and its position, PeerKey(ID).
type Peer struct {
	ID  peer.ID
	Key routing.Key
}

// NewPeer places id on the ring.
func NewPeer(id peer.ID) Peer { return Peer{ID: id, Key: routing.PeerKey(id)} }

func (p Peer) isZero() bool { return p.ID == "" }

// ring is one node's view of the Chord ring: predecessor, successor list and finger table.
// It is pure state: no clock, no I/O, no locking (the driver holds a mutex around it).
// Every method keeps these invariants: self never appears in succ or fingers; succ is
// sorted clockwise from self without duplicates and holds at most r entries.
type ring struct {
	self Peer
	r    int
	pred Peer
	succ []Peer
	// fingers[i] is the first known node at or after self + 2^i; zero when unknown.
	fingers [routing.KeyBits]Peer
	// nextFinger is the index the next fix-fingers round refreshes.
	nextFinger int
	// routeViaSuccessors lets lookups jump along the whole successor list, not only the
	// fingers and the first successor (see Config.RouteViaSuccessors).
	routeViaSuccessors bool
	// joining is set while the node's own join lookup is out: a notifier is then not
	// taken as the successor of a lone node (see notify).
	joining bool
}

func newRing(self Peer, r int) *ring {
	if r < 1 {
		r = 1
	}
	return &ring{self: self, r: r}
}

// alone reports whether the node knows no other member: it then owns the whole ring.
func (t *ring) alone() bool { return len(t.succ) == 0 }

// successor is the first successor, or self when alone.
func (t *ring) successor() Peer {
	if len(t.succ) == 0 {
		return t.self
	}
	return t.succ[0]
}

// successorList is the answer a node gives when the key falls between it and its
// successor: its successors, or itself when alone (then it is the owner).
func (t *ring) successorList() []Peer {
	if len(t.succ) == 0 {
		return []Peer{t.self}
	}
	return slices.Clone(t.succ)
}

// owns reports whether key lies in (pred, self]: this node is responsible for it.
// Without a predecessor only a lone node can be sure.
func (t *ring) owns(key routing.Key) bool {
	if t.alone() {
		return true
	}
	if t.pred.isZero() {
		return key == t.self.Key
	}
	return routing.InOpenClosed(key, t.pred.Key, t.self.Key)
}

// step is what this node answers to find_successor(key) (Stoica et al., Fig. 5, made
// iterative): found with its successor list when key is in (self, successor], otherwise
// up to width referrals, the known nodes closest before key, best first.
func (t *ring) step(key routing.Key, width int) (found bool, succs []Peer, next []Peer) {
	if t.alone() || routing.InOpenClosed(key, t.self.Key, t.succ[0].Key) {
		return true, t.successorList(), nil
	}
	return false, nil, t.closestPreceding(key, width)
}

// closestPreceding returns up to n distinct known nodes in (self, key), closest to key
// first (n <= 0: all). The fingers and the first successor are the candidates, as in the
// paper's closest_preceding_node, so when a finger dies the next best finger or the
// successor is the fallback; with routeViaSuccessors the whole successor list counts.
func (t *ring) closestPreceding(key routing.Key, n int) []Peer {
	var out []Peer
	consider := func(p Peer) {
		if p.isZero() || !routing.InOpen(p.Key, t.self.Key, key) {
			return
		}
		for _, q := range out {
			if q.ID == p.ID {
				return
			}
		}
		out = append(out, p)
	}
	var prev peer.ID
	for i := range t.fingers {
		if f := t.fingers[i]; f.ID != prev {
			consider(f)
			prev = f.ID
		}
	}
	for i, s := range t.succ {
		if i > 0 && !t.routeViaSuccessors {
			break
		}
		consider(s)
	}
	sortTowards(out, key)
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// sortTowards orders peers by their clockwise distance to key, smallest first.
func sortTowards(ps []Peer, key routing.Key) {
	slices.SortFunc(ps, func(a, b Peer) int {
		return routing.RingDistance(a.Key, key).Cmp(routing.RingDistance(b.Key, key))
	})
}

// sortFrom orders peers clockwise from origin (the successor-list order).
func sortFrom(ps []Peer, origin routing.Key) {
	slices.SortFunc(ps, func(a, b Peer) int {
		return routing.RingDistance(origin, a.Key).Cmp(routing.RingDistance(origin, b.Key))
	})
}

// known returns every distinct peer in the table (predecessor, successors, fingers).
func (t *ring) known() []Peer {
	seen := map[peer.ID]bool{}
	var out []Peer
	add := func(p Peer) {
		if !p.isZero() && !seen[p.ID] {
			seen[p.ID] = true
			out = append(out, p)
		}
	}
	add(t.pred)
	for _, s := range t.succ {
		add(s)
	}
	for _, f := range t.fingers {
		add(f)
	}
	return out
}

// setSuccessors replaces the successor list by first followed by rest (the successor's
// own list, as stabilization learns it), dropping self, duplicates and anything past r.
// The list stops where it would wrap around to self.
func (t *ring) setSuccessors(first Peer, rest []Peer) {
	list := make([]Peer, 0, t.r)
	seen := map[peer.ID]bool{t.self.ID: true}
	for _, p := range append([]Peer{first}, rest...) {
		if len(list) == t.r {
			break
		}
		if p.isZero() || seen[p.ID] {
			if p.ID == t.self.ID {
				break
			}
			continue
		}
		seen[p.ID] = true
		list = append(list, p)
	}
	sortFrom(list, t.self.Key)
	t.succ = list
	if len(list) > 0 {
		t.fillFingersUpTo(list[0])
	}
}

// mergeSuccessors sets the successor list to the r peers of ps closest after self
// (zero peers, self and duplicates dropped): what stabilization does when answers are
// checked against a membership and may only add to what the node knows.
func (t *ring) mergeSuccessors(ps []Peer) {
	list := make([]Peer, 0, len(ps))
	for _, p := range ps {
		if !p.isZero() && p.ID != t.self.ID && !slices.ContainsFunc(list, func(q Peer) bool { return q.ID == p.ID }) {
			list = append(list, p)
		}
	}
	if len(list) == 0 {
		return
	}
	sortFrom(list, t.self.Key)
	t.setSuccessors(list[0], list[1:])
}

// fillFingersUpTo points every finger whose start lies in (self, p] at p when p is
// closer than what the finger holds: p is then the finger's correct successor.
func (t *ring) fillFingersUpTo(p Peer) {
	d := routing.RingDistance(t.self.Key, p.Key)
	for i := range t.fingers {
		if routing.PowerOfTwo(i).Cmp(d) > 0 {
			break
		}
		t.fingers[i] = p
	}
}

// offer considers a peer that gossip (or any message) says is alive: it becomes a
// successor if it falls between self and the current successors, and a finger wherever it is closer to the finger's start than the
// current entry. It reports whether the successor list changed.
func (t *ring) offer(p Peer) bool {
	if p.isZero() || p.ID == t.self.ID {
		return false
	}
	changed := false
	if !slices.ContainsFunc(t.succ, func(s Peer) bool { return s.ID == p.ID }) {
		if len(t.succ) < t.r || routing.InOpen(p.Key, t.self.Key, t.succ[len(t.succ)-1].Key) {
			t.setSuccessors(p, t.succ)
			changed = true
		}
	}
	for i := range t.fingers {
		start := t.self.Key.Add(routing.PowerOfTwo(i))
		f := t.fingers[i]
		// p is a better finger when it lies in [start, f): at or after start, before f.
		if f.isZero() {
			if p.Key == start || routing.InOpen(p.Key, start, t.self.Key) {
				t.fingers[i] = p
			}
			continue
		}
		if p.Key == start || routing.InOpen(p.Key, start, f.Key) {
			t.fingers[i] = p
		}
	}
	return changed
}

// notify is Chord's notify(p): p thinks it might be our predecessor. It returns the old
// predecessor and whether p replaced it.
func (t *ring) notify(p Peer) (old Peer, changed bool) {
	if p.isZero() || p.ID == t.self.ID {
		return t.pred, false
	}
	old = t.pred
	if t.pred.isZero() || routing.InOpen(p.Key, t.pred.Key, t.self.Key) {
		t.pred = p
		if t.alone() && !t.joining {
			// A lone node's first contact is also its successor: the two-node ring.
			// Not while the node is joining: then the notifier was sent to it by a
			// node that offered it early (serve's offer of a joiner), the ring has
			// more members, and the notifier may lie anywhere, even just behind it.
			// Taking it as successor would claim (self, notifier], nearly the whole
			// ring, for it: lookups ending there make loops of successor pointers
			// that stabilization never undoes. The join lookup brings the real
			// successors.
			t.setSuccessors(p, nil)
		}
		return old, t.pred.ID != old.ID
	}
	return old, false
}

// remove forgets a peer everywhere at once (gossip said it failed or left, or an RPC to
// it failed). A finger that pointed at it falls back to the next finger up, which is
// still a live node after the finger's start. It reports whether the peer was known.
func (t *ring) remove(id peer.ID) bool {
	if id == t.self.ID || id == "" {
		return false
	}
	found := false
	if t.pred.ID == id {
		t.pred = Peer{}
		found = true
	}
	if i := slices.IndexFunc(t.succ, func(s Peer) bool { return s.ID == id }); i >= 0 {
		t.succ = slices.Delete(t.succ, i, i+1)
		found = true
	}
	for i := len(t.fingers) - 1; i >= 0; i-- {
		if t.fingers[i].ID != id {
			continue
		}
		found = true
		t.fingers[i] = Peer{}
		if i+1 < len(t.fingers) {
			t.fingers[i] = t.fingers[i+1]
		}
	}
	if len(t.succ) == 0 {
		// The closest finger is the best successor we know; stabilization refines it.
		for _, f := range t.fingers {
			if !f.isZero() {
				t.succ = []Peer{f}
				break
			}
		}
	}
	return found
}

// fingerToFix returns the finger index the next fix-fingers round refreshes and the key
// to look up: self + 2^i.
func (t *ring) fingerToFix() (int, routing.Key) {
	i := t.nextFinger
	return i, t.self.Key.Add(routing.PowerOfTwo(i))
}

// setFinger records p = successor(self + 2^i). Every later finger whose start also lies
// in (self, p] has the same successor, so they are set too and skipped by the sweep;
// a full sweep therefore costs about log2 N lookups, not 256.
func (t *ring) setFinger(i int, p Peer) {
	if i < 0 || i >= len(t.fingers) {
		return
	}
	if p.ID == t.self.ID {
		// Nothing between self + 2^i and self: fingers from i up are unknown.
		for j := i; j < len(t.fingers); j++ {
			t.fingers[j] = Peer{}
		}
		t.nextFinger = 0
		return
	}
	d := routing.RingDistance(t.self.Key, p.Key)
	j := i
	for ; j < len(t.fingers); j++ {
		if j > i && routing.PowerOfTwo(j).Cmp(d) > 0 {
			break
		}
		t.fingers[j] = p
	}
	t.nextFinger = j % len(t.fingers)
}

// distinctFingers lists the finger table's distinct entries with the first index that
// holds each, in index order.
func (t *ring) distinctFingers() (idx []int, peers []Peer) {
	var prev peer.ID
	for i, f := range t.fingers {
		if f.isZero() || f.ID == prev {
			continue
		}
		prev = f.ID
		idx = append(idx, i)
		peers = append(peers, f)
	}
	return idx, peers
}
