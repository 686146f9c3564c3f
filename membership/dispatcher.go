package membership

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/dhtnode/dhtnode/gossip"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Dispatcher keeps the set of members it has reported alive and calls its listeners
// for every change of that set.
//
// The filtering is what keeps listeners consistent: events about the node itself or
// about a member without a peer ID are dropped; a join or update whose member is not
// alive (gossip's replay of a suspect member) is no PeerUp; a leave or failure of a
// member never reported up is no PeerDown, so a listener sees PeerDown only for a
// peer it was told about. Every join or update of an alive member is passed on, even
// when the member was up already: an update can carry new addresses.
//
// Listeners are called while the dispatcher's lock is held, so they see events in
// the order Handle was called, and a listener added later gets a replay of the alive
// set followed by every later event, with nothing lost or duplicated in between.
type Dispatcher struct {
	self   peer.ID
	logger *slog.Logger

	mu        sync.Mutex
	alive     map[peer.ID]peer.AddrInfo
	listeners []routing.MembershipListener
	// up mirrors len(alive) for readers that poll it (compare's convergence check)
	// without waiting behind a listener call.
	up atomic.Int64
}

// New returns a dispatcher for the node self. known seeds the alive set with the
// members gossip knew before its events were subscribed to (only the alive ones
// count); logger, when not nil, gets a debug line per event passed on.
func New(self peer.ID, known []gossip.Member, logger *slog.Logger) *Dispatcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{self: self, logger: logger, alive: make(map[peer.ID]peer.AddrInfo)}
	for _, mem := range known {
		if mem.State == gossip.StateAlive && d.relevant(mem) {
			d.alive[mem.PeerID] = mem.AddrInfo()
		}
	}
	d.up.Store(int64(len(d.alive)))
	return d
}

// relevant reports whether events about mem concern the listeners at all.
func (d *Dispatcher) relevant(mem gossip.Member) bool {
	return mem.PeerID != "" && mem.PeerID != d.self
}

// Add registers l and first calls l.PeerUp for every member alive now, atomically
// with respect to Handle. l must not call back into the dispatcher.
func (d *Dispatcher) Add(l routing.MembershipListener) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, info := range d.alive {
		l.PeerUp(info)
	}
	d.listeners = append(d.listeners, l)
}

// Handle applies one gossip event: it updates the alive set and calls the listeners,
// or drops the event as the type's comment describes.
func (d *Dispatcher) Handle(ev gossip.Event) {
	if !d.relevant(ev.Member) {
		return
	}
	d.logger.Debug("member event", "type", ev.Type, "name", ev.Member.Name, "addr", ev.Member.Addr, "state", ev.Member.State)
	d.mu.Lock()
	defer d.mu.Unlock()
	id := ev.Member.PeerID
	switch ev.Type {
	case gossip.EventJoin, gossip.EventUpdate:
		if ev.Member.State != "" && ev.Member.State != gossip.StateAlive {
			return
		}
		info := ev.Member.AddrInfo()
		d.alive[id] = info
		d.up.Store(int64(len(d.alive)))
		for _, l := range d.listeners {
			l.PeerUp(info)
		}
	case gossip.EventLeave, gossip.EventFailed:
		if _, ok := d.alive[id]; !ok {
			return
		}
		delete(d.alive, id)
		d.up.Store(int64(len(d.alive)))
		for _, l := range d.listeners {
			l.PeerDown(id)
		}
	}
}

// Run handles events in order until the channel closes or stop does (stop may be
// nil: then only the channel's closing ends it). It is meant to be the one goroutine
// that reads a gossip subscription.
func (d *Dispatcher) Run(events <-chan gossip.Event, stop <-chan struct{}) {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			d.Handle(ev)
		case <-stop:
			return
		}
	}
}

// Alive is a snapshot of the members the listeners were last told are up, in no
// particular order.
func (d *Dispatcher) Alive() []peer.AddrInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]peer.AddrInfo, 0, len(d.alive))
	for _, info := range d.alive {
		out = append(out, info)
	}
	return out
}

// Up is how many members are alive as far as the listeners know. It does not wait
// for a listener call in progress.
func (d *Dispatcher) Up() int { return int(d.up.Load()) }
