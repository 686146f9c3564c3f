package kademlia

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	lprouting "github.com/libp2p/go-libp2p/core/routing"
)

// traceBuilder turns kad-dht's query events into a routing.Trace. It is pure state
// (no goroutines, no clock: callers pass the time of each event), so it is tested
// with hand-made event sequences.
//
// Depth is the shortest referral chain from the querier's own table: a peer of the
// table (the lookup's seeds, or a peer queried or failing before anyone named it)
// has depth 1; a peer named in a response from X has depth depth(X)+1 for the X of
// least depth that named it. The shortest chain, not the first referral to arrive:
// with α requests in flight, which response arrives first is a matter of this
// machine's scheduling (on an in-memory network nearly every answer is
// instantaneous), and a first-arrival depth made the mean hop count of the same
// lookups differ by 12 % between two simulated transports.
type traceBuilder struct {
	self   peer.ID
	target routing.Key
	start  time.Time

	// roots are the peers of depth 1; named lists, per responder, the peers its
	// response named, and responders the order of first responses.
	roots      map[peer.ID]bool
	named      map[peer.ID][]peer.ID
	responders []peer.ID
	seen       map[peer.ID]bool // roots and every peer named
	// depth and referrer are computed from the above by resolve, when stale.
	depth    map[peer.ID]int
	referrer map[peer.ID]peer.ID
	stale    bool

	sentAt   map[peer.ID]time.Time
	rtt      map[peer.ID]time.Duration
	failed   map[peer.ID]string
	pending  map[peer.ID]int // requests sent and not yet answered or failed
	answered map[peer.ID]bool

	rpcs, timeouts int
	abandoned      int // dials cut off by the lookup's own end; not counted
}

func newTraceBuilder(self peer.ID, target routing.Key, start time.Time, seeds []peer.ID) *traceBuilder {
	b := &traceBuilder{
		self: self, target: target, start: start,
		roots:    make(map[peer.ID]bool),
		named:    make(map[peer.ID][]peer.ID),
		seen:     make(map[peer.ID]bool),
		sentAt:   make(map[peer.ID]time.Time),
		rtt:      make(map[peer.ID]time.Duration),
		failed:   make(map[peer.ID]string),
		pending:  make(map[peer.ID]int),
		answered: make(map[peer.ID]bool),
	}
	for _, p := range seeds {
		if p != self {
			b.roots[p] = true
			b.seen[p] = true
		}
	}
	b.stale = true
	return b
}

// root makes p depth 1 unless it is known already: a peer kad-dht used before
// anyone named it came from the querier's table.
func (b *traceBuilder) root(p peer.ID) {
	if !b.seen[p] {
		b.roots[p] = true
		b.seen[p] = true
	}
}

// resolve computes depth and referrer breadth-first from the roots: level by
// level, responders in the order they answered, so that among parents of equal
// depth the earliest response is the referrer.
func (b *traceBuilder) resolve() {
	if !b.stale {
		return
	}
	b.stale = false
	b.depth = make(map[peer.ID]int, len(b.roots))
	b.referrer = make(map[peer.ID]peer.ID)
	for p := range b.roots {
		b.depth[p] = 1
	}
	for d := 1; ; d++ {
		progressed := false
		for _, x := range b.responders {
			if b.depth[x] != d {
				continue
			}
			for _, p := range b.named[x] {
				if _, ok := b.depth[p]; !ok {
					b.depth[p] = d + 1
					b.referrer[p] = x
					progressed = true
				}
			}
		}
		if !progressed {
			return
		}
	}
}

// observe records one query event that happened at now.
func (b *traceBuilder) observe(ev *lprouting.QueryEvent, now time.Time) {
	if ev == nil {
		return
	}
	p := ev.ID
	switch ev.Type {
	case lprouting.SendingQuery:
		b.rpcs++
		b.root(p)
		b.stale = true
		b.sentAt[p] = now
		b.pending[p]++
	case lprouting.PeerResponse:
		b.answered[p] = true
		if b.pending[p] > 0 {
			b.pending[p]--
		}
		if at, ok := b.sentAt[p]; ok {
			b.rtt[p] = now.Sub(at)
		}
		b.root(p) // a response without a request: the sender is known to us
		if _, answered := b.named[p]; !answered {
			b.responders = append(b.responders, p)
			b.named[p] = []peer.ID{}
		}
		for _, ai := range ev.Responses {
			if ai == nil || ai.ID == b.self || ai.ID == "" || slices.Contains(b.named[p], ai.ID) {
				continue
			}
			b.named[p] = append(b.named[p], ai.ID)
			b.seen[ai.ID] = true
		}
		b.stale = true
	case lprouting.QueryError:
		if p == "" { // "no peers to ask": not a request
			return
		}
		if strings.Contains(ev.Extra, context.Canceled.Error()) && b.pending[p] == 0 {
			// A dial the lookup itself abandoned when it finished (kad-dht cancels
			// dials in flight at termination): no request was sent, nothing failed.
			b.abandoned++
			return
		}
		b.timeouts++
		if b.pending[p] > 0 {
			b.pending[p]--
			b.rtt[p] = now.Sub(b.sentAt[p])
		} else {
			// kad-dht publishes a failed dial as a QueryError with no SendingQuery:
			// the request was attempted, so it counts as an RPC.
			b.rpcs++
		}
		b.root(p)
		b.stale = true
		b.failed[p] = ev.Extra
	}
}

// outstanding lists peers sent a query that has neither answered nor failed.
func (b *traceBuilder) outstanding() []peer.ID {
	var out []peer.ID
	for p, n := range b.pending {
		if n > 0 {
			out = append(out, p)
		}
	}
	return out
}

// closest sorts ids by XOR distance to the target, nearest first (in place).
func (b *traceBuilder) closest(ids []peer.ID) []peer.ID {
	slices.SortFunc(ids, func(x, y peer.ID) int {
		return routing.PeerKey(x).XOR(b.target).Cmp(routing.PeerKey(y).XOR(b.target))
	})
	return ids
}

// trace builds the Trace for an answer given by peer `answer` (self or "" for an
// answer the querier had locally: hops 0, empty path).
func (b *traceBuilder) trace(algo string, key routing.Key, answer peer.ID, end time.Time) routing.Trace {
	t := routing.Trace{
		Algo:     algo,
		Key:      key,
		RPCs:     b.rpcs,
		Timeouts: b.timeouts,
		Latency:  end.Sub(b.start),
		Path:     []routing.Hop{},
	}
	if answer == "" || answer == b.self {
		return t
	}
	b.resolve()
	// Walk referrers back to a peer of our own table. The depth map guarantees the
	// chain is acyclic (a referrer always has a smaller depth), but bound it anyway.
	var chain []peer.ID
	for p := answer; p != "" && len(chain) <= len(b.depth); p = b.referrer[p] {
		chain = append(chain, p)
	}
	slices.Reverse(chain)
	for _, p := range chain {
		t.Path = append(t.Path, b.hop(p))
	}
	t.Hops = b.depth[answer]
	if t.Hops == 0 { // never seen in an event: it came from our own table
		t.Hops = 1
	}
	return t
}

func (b *traceBuilder) hop(p peer.ID) routing.Hop {
	b.resolve()
	pk := routing.PeerKey(p)
	return routing.Hop{
		Peer:     p,
		Key:      pk,
		Depth:    max(b.depth[p], 1),
		RTT:      b.rtt[p],
		Distance: fmt.Sprintf("cpl %d", routing.CommonPrefixLen(pk, b.target)),
		Error:    b.failed[p],
	}
}
