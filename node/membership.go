package node

import (
	"log/slog"
	"sync"

	"github.com/dhtnode/dhtnode/gossip"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// membership turns gossip events into routing.MembershipListener calls.
//
// One goroutine (run) owns delivery: it reads gossip's ordered event channel and
// calls every listener in turn while holding mu, so listeners see events in gossip's
// order and a listener added later (AddMembershipListener) first gets a replay of the
// alive set, then every event after it, with nothing lost or duplicated in between.
type membership struct {
	logger *slog.Logger

	mu        sync.Mutex
	alive     map[peer.ID]peer.AddrInfo // who is up now, as listeners were told
	listeners []routing.MembershipListener

	cancel func()
	stop   chan struct{}
	done   chan struct{}
}

func newMembership(g *gossip.Gossip, logger *slog.Logger) *membership {
	events, cancel := g.Subscribe()
	return startMembership(events, cancel, g.Members(), g.Local().PeerID, logger)
}

// startMembership is newMembership without the gossip instance, so tests can feed
// events by hand.
func startMembership(events <-chan gossip.Event, cancel func(), known []gossip.Member, self peer.ID, logger *slog.Logger) *membership {
	m := &membership{
		logger: logger,
		alive:  make(map[peer.ID]peer.AddrInfo),
		cancel: cancel,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	// Seed with members gossip already knows (joins before Subscribe).
	for _, mem := range known {
		if mem.State == gossip.StateAlive && mem.PeerID != self && mem.PeerID != "" {
			m.alive[mem.PeerID] = mem.AddrInfo()
		}
	}
	go m.run(events, self)
	return m
}

func (m *membership) run(events <-chan gossip.Event, self peer.ID) {
	defer close(m.done)
	for {
		var ev gossip.Event
		var ok bool
		select {
		case ev, ok = <-events:
			if !ok {
				return
			}
		case <-m.stop:
			return
		}
		if ev.Member.PeerID == "" || ev.Member.PeerID == self {
			continue
		}
		m.logger.Debug("member event", "type", ev.Type, "name", ev.Member.Name, "addr", ev.Member.Addr, "state", ev.Member.State)
		m.deliver(ev)
	}
}

func (m *membership) deliver(ev gossip.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := ev.Member.PeerID
	switch ev.Type {
	case gossip.EventJoin, gossip.EventUpdate:
		if ev.Member.State != "" && ev.Member.State != gossip.StateAlive {
			return
		}
		info := ev.Member.AddrInfo()
		m.alive[id] = info
		for _, l := range m.listeners {
			l.PeerUp(info)
		}
	case gossip.EventLeave, gossip.EventFailed:
		if _, ok := m.alive[id]; !ok {
			return
		}
		delete(m.alive, id)
		for _, l := range m.listeners {
			l.PeerDown(id)
		}
	}
}

// add registers l and replays the alive set to it, atomically with respect to
// event delivery.
func (m *membership) add(l routing.MembershipListener) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, info := range m.alive {
		l.PeerUp(info)
	}
	m.listeners = append(m.listeners, l)
}

// Alive is a snapshot of the members listeners consider up (excluding self).
func (m *membership) snapshot() []peer.AddrInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]peer.AddrInfo, 0, len(m.alive))
	for _, info := range m.alive {
		out = append(out, info)
	}
	return out
}

func (m *membership) close() error {
	close(m.stop)
	<-m.done
	m.cancel()
	return nil
}

// AddMembershipListener feeds l every membership change from now on, after first
// calling l.PeerUp for each member that is alive now (the node itself excluded).
// Calls come from one goroutine, in gossip's order; l must not block for long and
// must not call AddMembershipListener from inside a callback.
func (n *Node) AddMembershipListener(l routing.MembershipListener) { n.members.add(l) }

// AlivePeers is the set of other members currently alive, as the listeners see it.
func (n *Node) AlivePeers() []peer.AddrInfo { return n.members.snapshot() }
