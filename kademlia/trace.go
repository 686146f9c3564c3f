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
// Depth rules: a peer from the querier's own table (the lookup's seeds, or first
// seen in a SendingQuery event) has depth 1; a peer first seen in a PeerResponse
// from X has depth depth(X)+1 and referrer X. Seeds are marked up front, because
// with α requests in flight a seed can be named in another peer's response before
// its own SendingQuery, which would wrongly make it depth 2.
type traceBuilder struct {
	self   peer.ID
	target routing.Key
	start  time.Time

	depth    map[peer.ID]int
	referrer map[peer.ID]peer.ID
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
		depth:    make(map[peer.ID]int),
		referrer: make(map[peer.ID]peer.ID),
		sentAt:   make(map[peer.ID]time.Time),
		rtt:      make(map[peer.ID]time.Duration),
		failed:   make(map[peer.ID]string),
		pending:  make(map[peer.ID]int),
		answered: make(map[peer.ID]bool),
	}
	for _, p := range seeds {
		if p != self {
			b.depth[p] = 1
		}
	}
	return b
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
		if _, known := b.depth[p]; !known {
			b.depth[p] = 1
		}
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
		d, ok := b.depth[p]
		if !ok { // a response without a request: treat the sender as known to us
			d = 1
			b.depth[p] = 1
		}
		for _, ai := range ev.Responses {
			if ai == nil || ai.ID == b.self || ai.ID == "" {
				continue
			}
			if _, known := b.depth[ai.ID]; !known {
				b.depth[ai.ID] = d + 1
				b.referrer[ai.ID] = p
			}
		}
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
		if _, known := b.depth[p]; !known {
			b.depth[p] = 1
		}
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
