package compare

import (
	"math/rand/v2"
	"testing"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestOracleMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	o := NewOracle()
	live := map[peer.ID]bool{}
	var all []peer.ID
	for i := range 300 {
		id, err := peer.IDFromPrivateKey(nodeKey(1, i, 0))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, id)
	}
	randKey := func() routing.Key {
		var k routing.Key
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
		return k
	}
	for step := range 3000 {
		// Churn the live set a little every step.
		id := all[rng.IntN(len(all))]
		if live[id] {
			o.Remove(id)
			delete(live, id)
		} else {
			o.Add(id)
			live[id] = true
		}
		if len(live) == 0 {
			continue
		}
		key := randKey()
		if step%7 == 0 { // exactly on a node's key
			key = routing.PeerKey(all[rng.IntN(len(all))])
		}
		var succ, closest peer.ID
		for id := range live {
			k := routing.PeerKey(id)
			if succ == "" || routing.RingDistance(key, k).Cmp(routing.RingDistance(key, routing.PeerKey(succ))) < 0 {
				succ = id
			}
			if closest == "" || k.XOR(key).Cmp(routing.PeerKey(closest).XOR(key)) < 0 {
				closest = id
			}
		}
		if got := o.Successor(key); got != succ {
			t.Fatalf("step %d: Successor %s, brute force %s", step, got, succ)
		}
		if got := o.ClosestXOR(key); got != closest {
			t.Fatalf("step %d: ClosestXOR %s, brute force %s", step, got, closest)
		}
	}
	if o.Len() != len(live) {
		t.Fatalf("Len %d, want %d", o.Len(), len(live))
	}
	empty := NewOracle()
	if empty.Successor(routing.Key{}) != "" || empty.ClosestXOR(routing.Key{}) != "" {
		t.Fatal("empty oracle named an owner")
	}
}
