package chord

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// counterValue reads a counter without a registry.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

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
// requests get no answer (each refusal counted), it is in neither member's table after
// many stabilization rounds, and no lookup names it; the members still form a ring.
// With ServeNonMembers (an open cluster) the rogue's requests are answered, and still
// it enters no table. Without IsMember (no membership at all) the same rogue joins and
// enters the ring: the filter is what keeps it out.
func TestMemberFilterKeepsNonMembersOut(t *testing.T) {
	for _, mode := range []filterMode{unfiltered, membersOnly, servingNonMembers} {
		t.Run(mode.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { memberFilter(t, mode) })
		})
	}
}

// filterMode is how TestMemberFilterKeepsNonMembersOut's members treat non-members.
type filterMode int

const (
	unfiltered        filterMode = iota // IsMember nil
	membersOnly                         // IsMember set
	servingNonMembers                   // IsMember and ServeNonMembers set
)

func (m filterMode) String() string {
	return [...]string{"no membership", "members only", "members only, answering others"}[m]
}

func memberFilter(t *testing.T, mode filterMode) {
	filtered := mode != unfiltered
	hs := memHosts(t, 3)
	var hosts [3]peer.ID
	var nodes [3]*Chord
	for i, h := range hs {
		hosts[i] = h.ID()
	}
	members := map[peer.ID]bool{hosts[0]: true, hosts[1]: true}
	for i := range hosts {
		cfg := DefaultConfig()
		if filtered && i < 2 {
			cfg.IsMember = func(p peer.ID) bool { return members[p] }
			cfg.ServeNonMembers = mode == servingNonMembers
		}
		c, err := New(hs[i], cfg)
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
	time.Sleep(30 * DefaultConfig().StabilizeInterval.Std()) // fake time: 30 rounds
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
	refused := counterValue(t, a.m.refused) + counterValue(t, b.m.refused)
	if mode == servingNonMembers {
		if rawErr != nil {
			t.Errorf("a non-member's find_successor was not answered: %v", rawErr)
		}
		if refused != 0 {
			t.Errorf("%v requests counted refused while answering non-members", refused)
		}
	} else {
		if joinErr == nil {
			t.Error("a non-member joined through a member")
		}
		if rawErr == nil {
			t.Error("a non-member's find_successor was answered")
		}
		if refused < 2 {
			t.Errorf("refused requests counted %v, want at least the join and the raw request", refused)
		}
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

// TestNewMemberNamedEarlyIsNoLie: an honest member may name a peer that joined a moment
// ago, before gossip has told this node about it. That is no lie: the node holds it as
// a suspicion and drops it when the peer shows up as a member within lieGrace. Only a
// peer that is still no member after lieGrace counts against the node that named it
// (the control case, where the peer never shows up).
func TestNewMemberNamedEarlyIsNoLie(t *testing.T) {
	for _, showsUp := range []bool{true, false} {
		t.Run(map[bool]string{true: "member shows up", false: "never a member"}[showsUp], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { namedEarly(t, showsUp) })
		})
	}
}

func namedEarly(t *testing.T, showsUp bool) {
	hs := memHosts(t, 3)
	var ids [3]peer.ID
	for i, h := range hs {
		ids[i] = h.ID()
	}
	var known atomic.Bool // whether a's gossip has told it about c yet
	var nodes [3]*Chord
	for i := range ids {
		cfg := DefaultConfig()
		cfg.IsMember = func(p peer.ID) bool { return true }
		if i == 0 {
			cfg.IsMember = func(p peer.ID) bool { return p != ids[2] || known.Load() }
		}
		c, err := New(hs[i], cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		nodes[i] = c
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	up := func(n *Chord, id peer.ID) { n.PeerUp(peer.AddrInfo{ID: id}) }
	up(b, ids[0])
	up(b, ids[2])
	up(c, ids[0])
	up(c, ids[1])
	up(a, ids[1]) // a hears of b only; b names c in every answer about its neighbours
	time.Sleep(3 * a.cfg.StabilizeInterval.Std())
	synctest.Wait()
	a.mu.Lock()
	suspected := len(a.view.suspicions)
	a.mu.Unlock()
	if suspected == 0 {
		t.Fatal("b's answers named c, which a does not know yet, and a suspected nothing")
	}
	if showsUp {
		known.Store(true)
		up(a, ids[2])
	}
	time.Sleep(3 * a.lieGrace())
	synctest.Wait()
	switch lies := a.LiesDetected(); {
	case showsUp && lies != 0:
		t.Errorf("%d lies counted against honest nodes for naming a member a's gossip announced late", lies)
	case !showsUp && lies == 0:
		t.Error("a peer that never became a member was named, and no lie counted")
	}
	if showsUp && (!inTable(a.RoutingTable(), ids[2]) || !inTable(a.RoutingTable(), ids[1])) {
		t.Errorf("a's table lacks a member: %+v", a.RoutingTable())
	}
}

// TestNoPredecessorIsNoLie: a neighbours answer from a node that has no predecessor
// yet carries an empty peer in the predecessor's place. That is how honest nodes
// answer while the ring forms; it must not be held against them as naming a
// non-member (three such "lies" would ban an honest member). A peer that really is
// no member, in the same answer, still is suspected: the control.
func TestNoPredecessorIsNoLie(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := memHosts(t, 2)
		a, b := hs[0], hs[1]
		cfg := DefaultConfig()
		cfg.IsMember = func(p peer.ID) bool { return p == a.ID() || p == b.ID() }
		c, err := New(a, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.PeerUp(peer.AddrInfo{ID: b.ID()})

		if got := c.vet(b.ID(), []Peer{{}}); len(got) != 0 {
			t.Errorf("vet kept the empty predecessor: %v", got)
		}
		c.mu.Lock()
		suspected := len(c.view.suspicions)
		c.mu.Unlock()
		if suspected != 0 {
			t.Fatalf("an empty predecessor was suspected as a non-member (%d suspicions)", suspected)
		}
		time.Sleep(3 * c.lieGrace())
		synctest.Wait()
		if lies := c.LiesDetected(); lies != 0 {
			t.Fatalf("%d lies counted for answering without a predecessor", lies)
		}

		stranger := NewPeer(peer.ID("not-a-member"))
		if got := c.vet(b.ID(), []Peer{{}, stranger, NewPeer(b.ID())}); len(got) != 1 || got[0].ID != b.ID() {
			t.Errorf("vet = %v, want only the member", got)
		}
		time.Sleep(3 * c.lieGrace())
		synctest.Wait()
		if lies := c.LiesDetected(); lies != 1 {
			t.Errorf("naming a peer that never was a member counted %d lies, want 1", lies)
		}
	})
}
