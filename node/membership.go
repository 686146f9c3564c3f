package node

import (
	"log/slog"

	"github.com/dhtnode/dhtnode/gossip"
	"github.com/dhtnode/dhtnode/membership"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// memberFeed runs the node's membership dispatcher on gossip's ordered event
// channel: one goroutine (run) owns delivery, so listeners see events in gossip's
// order, and a listener added later (AddMembershipListener) first gets a replay of
// the alive set, then every event after it (membership.Dispatcher).
type memberFeed struct {
	d *membership.Dispatcher

	cancel func()
	stop   chan struct{}
	done   chan struct{}
}

func newMembership(g *gossip.Gossip, logger *slog.Logger) *memberFeed {
	events, cancel := g.Subscribe()
	return startMembership(events, cancel, g.Members(), g.Local().PeerID, logger)
}

// startMembership is newMembership without the gossip instance, so tests can feed
// events by hand. known are the members gossip already knows (joins before Subscribe).
func startMembership(events <-chan gossip.Event, cancel func(), known []gossip.Member, self peer.ID, logger *slog.Logger) *memberFeed {
	m := &memberFeed{
		d:      membership.New(self, known, logger),
		cancel: cancel,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go func() {
		defer close(m.done)
		m.d.Run(events, m.stop)
	}()
	return m
}

// add registers l and replays the alive set to it, atomically with respect to
// event delivery.
func (m *memberFeed) add(l routing.MembershipListener) { m.d.Add(l) }

// snapshot is the members listeners consider up (excluding self).
func (m *memberFeed) snapshot() []peer.AddrInfo { return m.d.Alive() }

func (m *memberFeed) close() error {
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
