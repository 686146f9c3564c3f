package membership

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/gossip"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// recorder is a listener that logs calls as "up X" / "down X".
type recorder struct {
	mu    sync.Mutex
	calls []string
	addrs map[peer.ID][]ma.Multiaddr
}

var _ routing.MembershipListener = (*recorder)(nil)

func (r *recorder) PeerUp(info peer.AddrInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "up "+string(info.ID))
	if r.addrs == nil {
		r.addrs = make(map[peer.ID][]ma.Multiaddr)
	}
	r.addrs[info.ID] = info.Addrs
}

func (r *recorder) PeerDown(id peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "down "+string(id))
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func member(id string, state gossip.State, addrs ...string) gossip.Member {
	m := gossip.Member{Name: id, PeerID: peer.ID(id), State: state}
	for _, a := range addrs {
		m.Addrs = append(m.Addrs, ma.StringCast(a))
	}
	return m
}

func ev(typ gossip.EventType, m gossip.Member) gossip.Event {
	return gossip.Event{Type: typ, Member: m}
}

func TestJoinLeaveUpdate(t *testing.T) {
	d := New("self", nil, nil)
	r := &recorder{}
	d.Add(r)
	d.Handle(ev(gossip.EventJoin, member("a", gossip.StateAlive, "/ip4/10.0.0.1/tcp/1")))
	d.Handle(ev(gossip.EventJoin, member("b", gossip.StateAlive)))
	if d.Up() != 2 {
		t.Errorf("Up = %d after two joins, want 2", d.Up())
	}
	// An update of a member already up is passed on: it may carry new addresses.
	d.Handle(ev(gossip.EventUpdate, member("a", gossip.StateAlive, "/ip4/10.0.0.2/tcp/1")))
	d.Handle(ev(gossip.EventFailed, member("a", gossip.StateDead)))
	d.Handle(ev(gossip.EventLeave, member("b", gossip.StateLeft)))
	// A member that comes back is up again.
	d.Handle(ev(gossip.EventJoin, member("a", gossip.StateAlive)))

	want := "[up a up b up a down a down b up a]"
	if got := fmt.Sprint(r.get()); got != want {
		t.Errorf("calls = %s, want %s", got, want)
	}
	if d.Up() != 1 {
		t.Errorf("Up = %d, want 1", d.Up())
	}
	if alive := d.Alive(); len(alive) != 1 || alive[0].ID != "a" {
		t.Errorf("Alive = %v, want only a", alive)
	}
}

func TestUpdateCarriesNewAddresses(t *testing.T) {
	d := New("self", nil, nil)
	r := &recorder{}
	d.Add(r)
	d.Handle(ev(gossip.EventJoin, member("a", gossip.StateAlive, "/ip4/10.0.0.1/tcp/1")))
	d.Handle(ev(gossip.EventUpdate, member("a", gossip.StateAlive, "/ip4/10.0.0.2/tcp/1")))
	if got := fmt.Sprint(r.addrs["a"]); got != "[/ip4/10.0.0.2/tcp/1]" {
		t.Errorf("listener has a at %s, want the updated address", got)
	}
	if got := fmt.Sprint(d.Alive()[0].Addrs); got != "[/ip4/10.0.0.2/tcp/1]" {
		t.Errorf("Alive has a at %s, want the updated address", got)
	}
}

func TestFiltersWhatIsNoChange(t *testing.T) {
	d := New("self", nil, nil)
	r := &recorder{}
	d.Add(r)
	for _, e := range []gossip.Event{
		ev(gossip.EventJoin, member("self", gossip.StateAlive)),                      // the node itself
		ev(gossip.EventJoin, gossip.Member{Name: "no-id", State: gossip.StateAlive}), // no peer ID
		ev(gossip.EventJoin, member("s", gossip.StateSuspect)),                       // replay of a suspect member
		ev(gossip.EventUpdate, member("d", gossip.StateDead)),                        // not alive
		ev(gossip.EventLeave, member("never-up", gossip.StateLeft)),                  // never reported up
		ev(gossip.EventFailed, member("never-up", gossip.StateDead)),                 // never reported up
		ev(gossip.EventFailed, member("self", gossip.StateDead)),                     // the node itself
	} {
		d.Handle(e)
	}
	if c := r.get(); len(c) != 0 {
		t.Errorf("filtered events reached the listener: %v", c)
	}
	if d.Up() != 0 {
		t.Errorf("Up = %d, want 0", d.Up())
	}
	// A second failure of a member that is already down is no second PeerDown.
	d.Handle(ev(gossip.EventJoin, member("a", gossip.StateAlive)))
	d.Handle(ev(gossip.EventFailed, member("a", gossip.StateDead)))
	d.Handle(ev(gossip.EventLeave, member("a", gossip.StateLeft)))
	if got := fmt.Sprint(r.get()); got != "[up a down a]" {
		t.Errorf("calls = %s, want [up a down a]", got)
	}
	// A state left empty (an event built by hand) counts as alive.
	d.Handle(ev(gossip.EventJoin, member("e", "")))
	if d.Up() != 1 {
		t.Errorf("a join without state was not taken as alive")
	}
}

func TestKnownMembersAndLateListener(t *testing.T) {
	known := []gossip.Member{member("self", gossip.StateAlive), member("a", gossip.StateAlive), member("gone", gossip.StateDead), member("s", gossip.StateSuspect)}
	d := New("self", known, nil)
	if d.Up() != 1 {
		t.Fatalf("Up = %d from known members, want 1 (only a)", d.Up())
	}
	first := &recorder{}
	d.Add(first)
	d.Handle(ev(gossip.EventJoin, member("b", gossip.StateAlive)))
	late := &recorder{}
	d.Add(late)
	d.Handle(ev(gossip.EventLeave, member("a", gossip.StateLeft)))

	if got := fmt.Sprint(first.get()); got != "[up a up b down a]" {
		t.Errorf("first listener: %s, want [up a up b down a]", got)
	}
	lc := late.get()
	slices.Sort(lc[:2]) // the replay is in map order
	if got := fmt.Sprint(lc); got != "[up a up b down a]" {
		t.Errorf("late listener: %s, want the replay of a and b, then down a", got)
	}
}

func TestRunStopsOnCloseOrStop(t *testing.T) {
	d := New("self", nil, nil)
	r := &recorder{}
	d.Add(r)

	events := make(chan gossip.Event)
	done := make(chan struct{})
	go func() { d.Run(events, nil); close(done) }()
	events <- ev(gossip.EventJoin, member("a", gossip.StateAlive))
	close(events)
	waitClosed(t, done, "Run did not return when the channel closed")
	if got := fmt.Sprint(r.get()); got != "[up a]" {
		t.Errorf("calls = %s, want [up a]", got)
	}

	open := make(chan gossip.Event)
	stop := make(chan struct{})
	done = make(chan struct{})
	go func() { d.Run(open, stop); close(done) }()
	close(stop)
	waitClosed(t, done, "Run did not return on stop while the channel stayed open")
}

func waitClosed(t *testing.T, done <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal(msg)
	}
}
