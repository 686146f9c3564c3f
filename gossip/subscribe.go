package gossip

import (
	"sync"
)

// Subscribe returns a channel of membership events and a cancel function.
// The channel first receives a join event for every other member currently
// alive or suspect, then every change in the order this node saw it. Each
// subscriber has its own unbounded queue drained by its own goroutine, so a slow
// reader delays only itself and never memberlist. The channel is closed by
// cancel or Shutdown; events still queued then are dropped.
func (g *Gossip) Subscribe() (<-chan Event, func()) {
	s := newSubscriber()
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		s.close()
		return s.out, func() {}
	}
	for name, r := range g.members {
		if name != g.name && (r.State == StateAlive || r.State == StateSuspect) {
			s.push(Event{Type: EventJoin, Member: r.snapshot()})
		}
	}
	g.subs[s] = struct{}{}
	g.mu.Unlock()
	cancel := func() {
		g.mu.Lock()
		delete(g.subs, s)
		g.mu.Unlock()
		s.close()
	}
	return s.out, cancel
}

// emitLocked queues ev for every subscriber. g.mu held; never blocks.
func (g *Gossip) emitLocked(ev Event) {
	g.metrics.event(ev.Type)
	g.logger.Info("member "+string(ev.Type), "member", ev.Member.Name, "addr", ev.Member.Addr, "peer", ev.Member.PeerID)
	for s := range g.subs {
		s.push(ev)
	}
}

type subscriber struct {
	mu     sync.Mutex
	queue  []Event
	wake   chan struct{} // capacity 1: "the queue is not empty"
	out    chan Event
	done   chan struct{}
	closed sync.Once
}

func newSubscriber() *subscriber {
	s := &subscriber{wake: make(chan struct{}, 1), out: make(chan Event), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *subscriber) push(ev Event) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) run() {
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.done:
				return
			}
		}
		ev := s.queue[0]
		s.queue[0] = Event{}
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.out <- ev:
		case <-s.done:
			return
		}
	}
}

func (s *subscriber) close() { s.closed.Do(func() { close(s.done) }) }
