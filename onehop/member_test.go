package onehop

import (
	"context"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/setting"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// TestMemberFilterKeepsNonMembersOut: three members whose IsMember admits only each
// other, and a rogue one-hop router on a fourth host that announces itself (a
// find_owner for its own key, as a joiner does) to every member and asks them for
// providers. Every rogue request fails, no member's view takes it in, no lookup
// names it, and the members still route among themselves. Without IsMember (the
// open case) the same requests are answered and put the rogue into the views.
func TestMemberFilterKeepsNonMembersOut(t *testing.T) {
	for _, filtered := range []bool{true, false} {
		name := "open"
		if filtered {
			name = "members only"
		}
		t.Run(name, func(t *testing.T) { memberFilter(t, filtered) })
	}
}

func memberFilter(t *testing.T, filtered bool) {
	mn := mocknet.New()
	t.Cleanup(func() { _ = mn.Close() })
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
		cfg := DefaultConfig()
		cfg.RPCTimeout = setting.Duration(5 * time.Second)
		if filtered && i < 3 {
			cfg.IsMember = func(p peer.ID) bool { return members[p] }
		}
		r, err := New(mn.Host(id), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		routers = append(routers, r)
	}
	memberRouters, rogue := routers[:3], routers[3]
	for _, a := range memberRouters {
		for _, b := range memberRouters {
			a.PeerUp(peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()})
		}
		rogue.PeerUp(peer.AddrInfo{ID: a.h.ID(), Addrs: a.h.Addrs()})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	answered := 0
	for _, m := range memberRouters {
		to := peer.AddrInfo{ID: m.h.ID()}
		if _, err := rogue.call(ctx, to, &Message{Type: MsgFindOwner, Key: rogue.self.key}); err == nil {
			answered++
		}
		if _, err := rogue.call(ctx, to, &Message{Type: MsgGetProviders, Key: rogue.self.key}); err == nil {
			answered++
		}
	}
	inView := 0
	for _, m := range memberRouters {
		if _, ok := m.view.get(rogue.h.ID()); ok {
			inView++
		}
	}
	if !filtered {
		if answered != 6 || inView != 3 {
			t.Fatalf("open: %d of 6 rogue requests answered, rogue in %d of 3 views; want all", answered, inView)
		}
		return
	}
	if answered != 0 || inView != 0 {
		t.Fatalf("%d rogue requests answered, rogue in %d member views; want none", answered, inView)
	}
	for _, m := range memberRouters {
		owners, _, err := m.Lookup(ctx, rogue.self.key)
		if err != nil {
			t.Fatalf("member lookup: %v", err)
		}
		for _, o := range owners {
			if !members[o.ID] {
				t.Fatalf("lookup named the non-member: %v", owners)
			}
		}
		if want := owner(memberRouters, rogue.self.key); owners[0].ID != want {
			t.Fatalf("lookup named %s, want the member %s", owners[0].ID, want)
		}
	}
}
