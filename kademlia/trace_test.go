package kademlia

import (
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	lprouting "github.com/libp2p/go-libp2p/core/routing"
)

func ev(typ lprouting.QueryEventType, from peer.ID, heard ...peer.ID) *lprouting.QueryEvent {
	e := &lprouting.QueryEvent{Type: typ, ID: from}
	for _, h := range heard {
		e.Responses = append(e.Responses, &peer.AddrInfo{ID: h})
	}
	return e
}

func TestTraceDepthsAndPath(t *testing.T) {
	t0 := time.Unix(1000, 0)
	target := routing.ContentKey([]byte("k"))
	// seeds a, b (our table); a refers c; c refers d and names seed b (which stays
	// depth 1); b names seed a before a's own request (a stays depth 1).
	b := newTraceBuilder("self", target, t0, []peer.ID{"a", "b"})
	steps := []*lprouting.QueryEvent{
		ev(lprouting.SendingQuery, "b"),
		ev(lprouting.PeerResponse, "b", "a", "self", "e"), // a named before its own request
		ev(lprouting.SendingQuery, "a"),
		ev(lprouting.PeerResponse, "a", "c"),
		ev(lprouting.SendingQuery, "c"),
		ev(lprouting.PeerResponse, "c", "d", "b"),
		ev(lprouting.SendingQuery, "d"),
		ev(lprouting.PeerResponse, "d"),
		ev(lprouting.SendingQuery, "e"),
		{Type: lprouting.QueryError, ID: "e", Extra: "timeout"},
		{Type: lprouting.QueryError, ID: "f", Extra: "dial failed"},                                   // dial failure, no SendingQuery
		{Type: lprouting.QueryError, Extra: "no peers"},                                               // not a request
		{Type: lprouting.QueryError, ID: "g", Extra: "identify failed to complete: context canceled"}, // abandoned dial
	}
	for i, e := range steps {
		b.observe(e, t0.Add(time.Duration(i)*time.Millisecond))
	}
	want := map[peer.ID]int{"a": 1, "b": 1, "c": 2, "d": 3, "e": 2, "f": 1}
	b.resolve()
	if b.abandoned != 1 {
		t.Errorf("abandoned = %d, want 1", b.abandoned)
	}
	for p, d := range want {
		if b.depth[p] != d {
			t.Errorf("depth(%s) = %d, want %d", p, b.depth[p], d)
		}
	}
	if _, ok := b.depth["self"]; ok {
		t.Error("self must never get a depth")
	}
	tr := b.trace("kademlia", target, "d", t0.Add(time.Second))
	if tr.Hops != 3 || tr.RPCs != 6 || tr.Timeouts != 2 || tr.Latency != time.Second {
		t.Fatalf("trace = hops %d rpcs %d timeouts %d latency %v; want 3 6 2 1s", tr.Hops, tr.RPCs, tr.Timeouts, tr.Latency)
	}
	var path []peer.ID
	for _, h := range tr.Path {
		path = append(path, h.Peer)
	}
	if len(path) != 3 || path[0] != "a" || path[1] != "c" || path[2] != "d" {
		t.Fatalf("path = %v, want [a c d]", path)
	}
	if tr.Path[1].RTT != time.Millisecond || tr.Path[1].Depth != 2 {
		t.Fatalf("hop c = %+v, want rtt 1ms depth 2", tr.Path[1])
	}
	if got := tr.Path[2].Distance; got[:4] != "cpl " {
		t.Fatalf("distance %q, want \"cpl N\"", got)
	}
	if local := b.trace("kademlia", target, "self", t0); local.Hops != 0 || len(local.Path) != 0 {
		t.Fatalf("answer by self: hops %d path %v, want 0 []", local.Hops, local.Path)
	}
}

// TestTraceShortestChainWins: a peer's depth is its shortest referral chain, whatever
// order the responses arrived in (on a simulated network that order is scheduling).
func TestTraceShortestChainWins(t *testing.T) {
	target := routing.ContentKey([]byte("k"))
	b := newTraceBuilder("self", target, time.Time{}, []peer.ID{"a", "z"})
	for _, e := range []*lprouting.QueryEvent{
		ev(lprouting.SendingQuery, "a"),
		ev(lprouting.SendingQuery, "z"),
		ev(lprouting.PeerResponse, "a", "c"),
		ev(lprouting.SendingQuery, "c"),
		ev(lprouting.PeerResponse, "c", "d"), // d first heard of at depth 3
		ev(lprouting.SendingQuery, "d"),
		ev(lprouting.PeerResponse, "d", "x"),
		ev(lprouting.PeerResponse, "z", "d"), // the seed z, answering late, names d too
	} {
		b.observe(e, time.Time{})
	}
	tr := b.trace("kademlia", target, "x", time.Time{})
	var path []peer.ID
	for _, h := range tr.Path {
		path = append(path, h.Peer)
	}
	if tr.Hops != 3 || len(path) != 3 || path[0] != "z" || path[1] != "d" || path[2] != "x" {
		t.Fatalf("hops %d path %v, want 3 [z d x]", tr.Hops, path)
	}
}

func TestTraceOutstanding(t *testing.T) {
	b := newTraceBuilder("self", routing.Key{}, time.Time{}, nil)
	b.observe(ev(lprouting.SendingQuery, "a"), time.Time{})
	b.observe(ev(lprouting.SendingQuery, "b"), time.Time{})
	b.observe(ev(lprouting.PeerResponse, "a"), time.Time{})
	out := b.outstanding()
	if len(out) != 1 || out[0] != "b" {
		t.Fatalf("outstanding = %v, want [b]", out)
	}
	// a second request to a peer that already answered, then failing, is one more failure, not a new RPC
	b.observe(ev(lprouting.SendingQuery, "a"), time.Time{})
	b.observe(&lprouting.QueryEvent{Type: lprouting.QueryError, ID: "a"}, time.Time{})
	if b.rpcs != 3 || b.timeouts != 1 {
		t.Fatalf("rpcs %d timeouts %d, want 3 1", b.rpcs, b.timeouts)
	}
}
