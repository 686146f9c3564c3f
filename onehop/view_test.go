package onehop

import (
	"math/rand/v2"
	"testing"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// bruteSuccessor is the owner by definition: the member with the smallest clockwise
// distance from the key.
func bruteSuccessor(ms []*member, key routing.Key) *member {
	var best *member
	for _, m := range ms {
		if best == nil || routing.RingDistance(key, m.key).Cmp(routing.RingDistance(key, best.key)) < 0 {
			best = m
		}
	}
	return best
}

func TestViewSuccessorsMatchBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	v := newView()
	var ms []*member
	for i := range 200 {
		id := peer.ID([]byte{0x00, byte(i), byte(i >> 8), byte(rng.Uint32())})
		v.add(peer.AddrInfo{ID: id})
		ms = append(ms, &member{info: peer.AddrInfo{ID: id}, key: routing.PeerKey(id)})
	}
	for range 2000 {
		var key routing.Key
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		if rng.IntN(10) == 0 { // exactly on a member's key
			key = ms[rng.IntN(len(ms))].key
		}
		got := v.successors(key, 3)
		want := bruteSuccessor(ms, key)
		if got[0].info.ID != want.info.ID {
			t.Fatalf("key %s: successor %s, brute force %s", key.Short(), got[0].key.Short(), want.key.Short())
		}
		// The next ones follow clockwise.
		for j := 1; j < len(got); j++ {
			if !routing.InOpen(got[j-1].key, key, got[j].key) && got[j-1].key != key {
				t.Fatalf("successors out of ring order at %d", j)
			}
		}
	}
	// Removal re-sorts.
	v.remove(ms[0].info.ID)
	got := v.successors(ms[0].key, 1)
	if got[0].info.ID == ms[0].info.ID {
		t.Fatal("removed member still owns its key")
	}
	if v.len() != 199 {
		t.Fatalf("len %d, want 199", v.len())
	}
}

func TestViewEmptyAndWrap(t *testing.T) {
	v := newView()
	if got := v.successors(routing.Key{}, 3); got != nil {
		t.Fatalf("empty view gave %v", got)
	}
	v.add(peer.AddrInfo{ID: "a"})
	v.add(peer.AddrInfo{ID: "b"})
	got := v.successors(routing.Key{0xff, 0xff}, 5)
	if len(got) != 2 {
		t.Fatalf("got %d successors of 2 members, want 2", len(got))
	}
}
