package chord

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// inTable reports whether id appears anywhere in t (predecessor, successors, fingers).
func inTable(t routing.Table, id peer.ID) bool {
	for _, s := range t.Sections {
		for _, e := range s.Entries {
			if e.Peer == id {
				return true
			}
		}
	}
	return false
}

// TestMemberFilterKeepsNonMembersOut: two members whose IsMember admits only each
// other, and a rogue Chord node on a third host that joins through one of them (a
// find_successor for its own key, then notifies). The rogue's join fails, its raw
// requests get no answer, it is in neither member's table after many stabilization
// rounds, and no lookup names it; the members still form a ring. Without IsMember
// (the open case) the same rogue joins and enters the ring: the filter is what
// keeps it out.
func TestMemberFilterKeepsNonMembersOut(t *testing.T) {
	for _, filtered := range []bool{true, false} {
		name := "open"
		if filtered {
			name = "members only"
		}
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { memberFilter(t, filtered) })
		})
	}
}

func memberFilter(t *testing.T, filtered bool) {
	mn := mocknet.New()
	defer mn.Close()
	var hosts [3]peer.ID
	var nodes [3]*Chord
	for i := range hosts {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		hosts[i] = h.ID()
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	members := map[peer.ID]bool{hosts[0]: true, hosts[1]: true}
	for i, id := range hosts {
		cfg := DefaultConfig()
		if filtered && i < 2 {
			cfg.IsMember = func(p peer.ID) bool { return members[p] }
		}
		c, err := New(mn.Host(id), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		nodes[i] = c
	}
	a, b, rogue := nodes[0], nodes[1], nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.Join(ctx, peer.AddrInfo{ID: hosts[0]}); err != nil {
		t.Fatalf("member join: %v", err)
	}

	joinErr := rogue.Join(ctx, peer.AddrInfo{ID: hosts[0]})
	_, rawErr := rogue.call(ctx, hosts[1], &message{Type: msgFindSuccessor, Key: rogue.self.Key, HasKey: true})
	time.Sleep(30 * DefaultConfig().StabilizeInterval) // fake time: 30 rounds
	synctest.Wait()

	ringHasRogue := inTable(a.RoutingTable(), hosts[2]) || inTable(b.RoutingTable(), hosts[2])
	owners, _, err := a.Lookup(ctx, rogue.self.Key)
	if err != nil {
		t.Fatalf("lookup of the rogue's key: %v", err)
	}
	if !filtered {
		if joinErr != nil || rawErr != nil || !ringHasRogue || owners[0].ID != hosts[2] {
			t.Fatalf("open ring: join err %v, raw err %v, in ring %v, owner %s; want the rogue in",
				joinErr, rawErr, ringHasRogue, owners[0].ID)
		}
		return
	}
	if joinErr == nil {
		t.Error("a non-member joined through a member")
	}
	if rawErr == nil {
		t.Error("a non-member's find_successor was answered")
	}
	if ringHasRogue {
		t.Errorf("non-member in a member's table:\n%+v\n%+v", a.RoutingTable(), b.RoutingTable())
	}
	for _, o := range owners {
		if o.ID == hosts[2] {
			t.Errorf("lookup named the non-member: %v", owners)
		}
	}
	if !inTable(a.RoutingTable(), hosts[1]) || !inTable(b.RoutingTable(), hosts[0]) {
		t.Errorf("members do not see each other:\n%+v\n%+v", a.RoutingTable(), b.RoutingTable())
	}
}
