package chord

import (
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// candidate is a node a lookup may ask, with the referral depth at which it was learned
// (1 = from the querier's own table).
type candidate struct {
	Peer
	depth int
}

// lookupState is the querier's side of an iterative find_successor, with no I/O: the
// driver asks next() whom to contact, performs the RPC and reports the outcome with
// referred() or answered(); a failed RPC needs no report, since a candidate is
// never offered twice. Candidates are kept closest-to-key first, and a
// referral only adds nodes strictly between the referrer and the key, so every step
// makes progress and the lookup ends. A dead node costs one failed RPC; the next best
// candidate (the referrer's second choice, or one of our own fingers or successors) is
// tried instead.
type lookupState struct {
	key   routing.Key
	cands []candidate
	tried map[peer.ID]bool
	// the outcome, once done
	done    bool
	owner   []Peer
	depth   int
	maxRPCs int
	rpcs    int
}

func newLookupState(key routing.Key, initial []Peer, maxRPCs int) *lookupState {
	l := &lookupState{key: key, tried: map[peer.ID]bool{}, maxRPCs: maxRPCs}
	for _, p := range initial {
		l.add(candidate{Peer: p, depth: 1})
	}
	return l
}

func (l *lookupState) add(c candidate) {
	if c.isZero() || l.tried[c.ID] {
		return
	}
	for i, o := range l.cands {
		if o.ID == c.ID {
			if c.depth < o.depth {
				l.cands[i].depth = c.depth
			}
			return
		}
	}
	d := routing.RingDistance(c.Key, l.key)
	at := len(l.cands)
	for i, o := range l.cands {
		if d.Cmp(routing.RingDistance(o.Key, l.key)) < 0 {
			at = i
			break
		}
	}
	l.cands = append(l.cands, candidate{})
	copy(l.cands[at+1:], l.cands[at:])
	l.cands[at] = c
}

// next returns the best untried candidate, or false when the lookup is over: answered,
// out of candidates, or out of its RPC budget.
func (l *lookupState) next() (candidate, bool) {
	if l.done || len(l.cands) == 0 || (l.maxRPCs > 0 && l.rpcs >= l.maxRPCs) {
		return candidate{}, false
	}
	c := l.cands[0]
	l.cands = l.cands[1:]
	l.tried[c.ID] = true
	l.rpcs++
	return c, true
}

// answered records that c knew the answer: the key lies between c and its successor.
func (l *lookupState) answered(c candidate, succs []Peer) {
	l.done = true
	l.owner = succs
	l.depth = c.depth
}

// referred records c's referrals; only nodes strictly between c and the key count.
func (l *lookupState) referred(c candidate, next []Peer) {
	for _, p := range next {
		if routing.InOpen(p.Key, c.Key, l.key) {
			l.add(candidate{Peer: p, depth: c.depth + 1})
		}
	}
}
