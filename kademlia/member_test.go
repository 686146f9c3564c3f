package kademlia

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// TestMemberFilterKeepsNonMembersOut: three members whose IsMember admits only each
// other, and a rogue kad-dht router on a fourth host that knows them all (the way an
// outsider who learned their addresses would), connects and looks keys up through
// them. Its lookups and provides get no answer, it never enters a member's k-buckets
// (kad-dht otherwise adds any peer identify shows speaking the DHT protocol), and
// member lookups never name it. Without IsMember (the open case) the rogue's lookups
// are answered and it enters the members' tables.
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
	var ids []peer.ID
	for range 4 {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, h.ID())
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	members := map[peer.ID]bool{ids[0]: true, ids[1]: true, ids[2]: true}
	var routers []*Router
	for i, id := range ids {
		cfg := TestConfig()
		if filtered && i < 3 {
			cfg.IsMember = func(p peer.ID) bool { return members[p] }
		}
		r, err := New(mn.Host(id), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		routers = append(routers, r)
	}
	memberRouters, rogue := routers[:3], routers[3]
	for _, a := range memberRouters {
		for _, b := range memberRouters {
			if a != b {
				a.PeerUp(peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()})
			}
		}
		rogue.PeerUp(peer.AddrInfo{ID: a.h.ID(), Addrs: a.h.Addrs()})
		if err := rogue.h.Connect(context.Background(), peer.AddrInfo{ID: a.h.ID()}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rogueKey := routing.PeerKey(rogue.h.ID())
	// Lookup keeps only peers that answered; the rogue itself is always among them.
	found, _, lookupErr := rogue.Lookup(ctx, routing.Key{7})
	answeredBy := 0
	for _, o := range found {
		if members[o.ID] {
			answeredBy++
		}
	}
	_, provideErr := rogue.Provide(ctx, rogueKey)
	time.Sleep(10 * time.Second) // fake time: identify and kad-dht's table loop settle
	synctest.Wait()

	inTables := 0
	for _, m := range memberRouters {
		if m.dht.RoutingTable().Find(rogue.h.ID()) != "" {
			inTables++
		}
	}
	if !filtered {
		if lookupErr != nil || answeredBy == 0 || inTables == 0 {
			t.Fatalf("open: rogue lookup err %v, answered by %d members, rogue in %d of 3 tables; want answered and in",
				lookupErr, answeredBy, inTables)
		}
		return
	}
	if answeredBy != 0 {
		t.Errorf("%d members answered a non-member's lookup", answeredBy)
	}
	if provideErr == nil {
		t.Error("members stored a non-member's provider record")
	}
	if inTables != 0 {
		t.Errorf("non-member in %d member k-bucket tables", inTables)
	}
	for _, m := range memberRouters {
		owners, _, err := m.Lookup(ctx, rogueKey)
		if err != nil {
			t.Fatalf("member lookup: %v", err)
		}
		for _, o := range owners {
			if !members[o.ID] {
				t.Fatalf("member lookup named the non-member: %v", owners)
			}
		}
		if len(owners) != 3 { // every member, this one included
			t.Errorf("member lookup found %d owners, want the 3 members: %v", len(owners), owners)
		}
	}
}
