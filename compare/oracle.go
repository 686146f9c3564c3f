package compare

import (
	"slices"
	"sync"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Oracle knows the live set and answers, for any key, who owns it under each metric:
// the successor on the ring (Chord, one-hop) and the XOR-closest node (Kademlia).
// compare asks it at the moment each lookup is issued. Safe for concurrent use.
type Oracle struct {
	mu    sync.Mutex
	live  map[peer.ID]routing.Key
	ring  []oracleEntry // sorted by key, rebuilt lazily
	dirty bool
}

type oracleEntry struct {
	key routing.Key
	id  peer.ID
}

// NewOracle returns an empty oracle.
func NewOracle() *Oracle { return &Oracle{live: make(map[peer.ID]routing.Key)} }

// Add marks id live.
func (o *Oracle) Add(id peer.ID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.live[id] = routing.PeerKey(id)
	o.dirty = true
}

// Remove marks id dead.
func (o *Oracle) Remove(id peer.ID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.live, id)
	o.dirty = true
}

// Len is the number of live nodes.
func (o *Oracle) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.live)
}

// IsLive reports whether id is live.
func (o *Oracle) IsLive(id peer.ID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.live[id]
	return ok
}

func (o *Oracle) sorted() []oracleEntry {
	if o.dirty || len(o.ring) != len(o.live) {
		o.ring = o.ring[:0]
		for id, k := range o.live {
			o.ring = append(o.ring, oracleEntry{key: k, id: id})
		}
		slices.SortFunc(o.ring, func(a, b oracleEntry) int { return a.key.Cmp(b.key) })
		o.dirty = false
	}
	return o.ring
}

// Successor returns the live node whose key is the first at or after key, clockwise
// (wrapping), or "" when no node is live.
func (o *Oracle) Successor(key routing.Key) peer.ID {
	o.mu.Lock()
	defer o.mu.Unlock()
	ring := o.sorted()
	if len(ring) == 0 {
		return ""
	}
	i, _ := slices.BinarySearchFunc(ring, key, func(e oracleEntry, k routing.Key) int { return e.key.Cmp(k) })
	return ring[i%len(ring)].id
}

// ClosestXOR returns the live node whose key has the smallest XOR distance to target,
// or "" when no node is live. It walks the sorted ring like a binary trie: at each bit
// it keeps the sub-range that agrees with target if that range is not empty.
func (o *Oracle) ClosestXOR(target routing.Key) peer.ID {
	o.mu.Lock()
	defer o.mu.Unlock()
	ring := o.sorted()
	if len(ring) == 0 {
		return ""
	}
	lo, hi := 0, len(ring)
	for bit := 0; bit < routing.KeyBits && hi-lo > 1; bit++ {
		byteIdx, mask := bit/8, byte(0x80>>(bit%8))
		// Entries in [lo,hi) share the first `bit` bits, so those with this bit
		// clear come first.
		m := lo + sortSearch(hi-lo, func(i int) bool { return ring[lo+i].key[byteIdx]&mask != 0 })
		if target[byteIdx]&mask == 0 {
			if m > lo {
				hi = m
			}
		} else if m < hi {
			lo = m
		}
	}
	return ring[lo].id
}

func sortSearch(n int, f func(int) bool) int {
	i, j := 0, n
	for i < j {
		h := int(uint(i+j) >> 1)
		if !f(h) {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}
