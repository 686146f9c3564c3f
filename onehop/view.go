package onehop

import (
	"slices"
	"sync"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// member is one node in the membership view.
type member struct {
	info peer.AddrInfo
	key  routing.Key
}

// view is a node's picture of the membership: a set of members and, built lazily, the
// ring of their keys in ascending order. Gossip can deliver thousands of PeerUps in a
// burst while lookups are rare, so changes only mark the ring dirty and the next
// reader re-sorts it once (O(n log n)) instead of paying an O(n) insert per event.
type view struct {
	mu      sync.Mutex
	members map[peer.ID]*member
	ring    []*member // sorted by key; rebuilt when dirty
	dirty   bool
}

func newView() *view { return &view{members: make(map[peer.ID]*member)} }

// add inserts or updates a member; it reports whether the member was new.
func (v *view) add(info peer.AddrInfo) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if m, ok := v.members[info.ID]; ok {
		if len(info.Addrs) > 0 {
			m.info.Addrs = info.Addrs
		}
		return false
	}
	v.members[info.ID] = &member{info: info, key: routing.PeerKey(info.ID)}
	v.dirty = true
	return true
}

// remove forgets a member; it reports whether it was known.
func (v *view) remove(id peer.ID) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.members[id]; !ok {
		return false
	}
	delete(v.members, id)
	v.dirty = true
	return true
}

func (v *view) len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.members)
}

func (v *view) get(id peer.ID) (peer.AddrInfo, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	m, ok := v.members[id]
	if !ok {
		return peer.AddrInfo{}, false
	}
	return m.info, true
}

// successors returns up to n members in ring order starting at the key's successor:
// the first member whose key is >= key, wrapping around. The first is the owner.
func (v *view) successors(key routing.Key, n int) []member {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sortLocked()
	return successorsOf(v.ring, key, n)
}

// all returns the members in ring order.
func (v *view) all() []member {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sortLocked()
	out := make([]member, len(v.ring))
	for i, m := range v.ring {
		out[i] = *m
	}
	return out
}

func (v *view) sortLocked() {
	if !v.dirty && len(v.ring) == len(v.members) {
		return
	}
	v.ring = v.ring[:0]
	for _, m := range v.members {
		v.ring = append(v.ring, m)
	}
	slices.SortFunc(v.ring, func(a, b *member) int { return a.key.Cmp(b.key) })
	v.dirty = false
}

// successorsOf is the pure ring rule shared with the tests: binary search for the first
// key >= key in a sorted ring, then walk clockwise.
func successorsOf(ring []*member, key routing.Key, n int) []member {
	if len(ring) == 0 || n <= 0 {
		return nil
	}
	n = min(n, len(ring))
	i, _ := slices.BinarySearchFunc(ring, key, func(m *member, k routing.Key) int { return m.key.Cmp(k) })
	out := make([]member, 0, n)
	for j := 0; j < n; j++ {
		out = append(out, *ring[(i+j)%len(ring)])
	}
	return out
}
