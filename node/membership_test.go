package node

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/gossip"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// recorder is a MembershipListener that logs calls as "up X" / "down X".
type recorder struct {
	mu    sync.Mutex
	calls []string
}

var _ routing.MembershipListener = (*recorder)(nil)

func (r *recorder) PeerUp(info peer.AddrInfo) { r.add("up " + string(info.ID)) }
func (r *recorder) PeerDown(id peer.ID)       { r.add("down " + string(id)) }
func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}
func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func waitCalls(t *testing.T, r *recorder, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c := r.get(); len(c) >= n {
			return c
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("want %d listener calls, got %v", n, r.get())
	return nil
}

func member(id string, state gossip.State) gossip.Member {
	return gossip.Member{Name: id, PeerID: peer.ID(id), State: state}
}

func TestMembershipDeliversInOrderAndReplays(t *testing.T) {
	events := make(chan gossip.Event)
	known := []gossip.Member{member("self", gossip.StateAlive), member("a", gossip.StateAlive), member("gone", gossip.StateDead)}
	m := startMembership(events, func() {}, known, "self", slog.New(slog.DiscardHandler))
	defer m.close()

	first := &recorder{}
	m.add(first)
	if got := first.get(); fmt.Sprint(got) != "[up a]" {
		t.Fatalf("replay = %v, want only the alive non-self member", got)
	}
	events <- gossip.Event{Type: gossip.EventJoin, Member: member("b", gossip.StateAlive)}
	events <- gossip.Event{Type: gossip.EventJoin, Member: member("self", gossip.StateAlive)} // self: ignored
	events <- gossip.Event{Type: gossip.EventFailed, Member: member("a", gossip.StateDead)}
	events <- gossip.Event{Type: gossip.EventLeave, Member: member("never-seen", gossip.StateLeft)} // unknown: no PeerDown
	events <- gossip.Event{Type: gossip.EventUpdate, Member: member("b", gossip.StateAlive)}
	events <- gossip.Event{Type: gossip.EventJoin, Member: member("a", gossip.StateAlive)}
	calls := waitCalls(t, first, 5)
	want := "[up a up b down a up b up a]"
	if fmt.Sprint(calls) != want {
		t.Errorf("calls = %v, want %s", calls, want)
	}

	// A listener added later sees exactly the current alive set, then new events.
	late := &recorder{}
	m.add(late)
	events <- gossip.Event{Type: gossip.EventLeave, Member: member("b", gossip.StateLeft)}
	lc := waitCalls(t, late, 3)
	if len(lc) != 3 || lc[2] != "down b" {
		t.Errorf("late listener calls = %v, want two ups then down b", lc)
	}
	if got := len(m.snapshot()); got != 1 {
		t.Errorf("alive snapshot has %d peers, want 1", got)
	}
}

func TestMembershipCloseWithoutChannelClose(t *testing.T) {
	events := make(chan gossip.Event)
	cancelled := false
	m := startMembership(events, func() { cancelled = true }, nil, "self", slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() { m.close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("close hung while gossip's channel stayed open")
	}
	if !cancelled {
		t.Error("close did not cancel the gossip subscription")
	}
}
