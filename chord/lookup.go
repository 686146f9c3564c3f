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
	// fallback marks a responder's successor, tried only when no referral is left.
	fallback bool
}

// lookupState is the querier's side of an iterative find_successor, with no I/O: the
// driver asks next() whom to contact, performs the RPC and reports the outcome with
// referred(), answered() or failed(). Candidates are kept closest-to-key first, and a
// referral only adds nodes strictly between the referrer and the key, so every step
// makes progress and the lookup ends. A dead node costs one failed RPC; the next best
// candidate (the referrer's second choice, or one of our own fingers or successors) is
// tried instead.
type lookupState struct {
	key   routing.Key
	cands []candidate
	tried map[peer.ID]bool
	dead  map[peer.ID]bool
	// responders are the nodes that referred us on, with their successor lists.
	responders []responder
	// the outcome, once done
	done  bool
	owner []Peer
	depth int
	// by is the node whose answer named the owner.
	by peer.ID
	// walkedFrom is the confirmed answer while its owner's predecessor, which lies past
	// the key, is being confirmed in its place.
	walkedFrom []Peer
	maxRPCs    int
	rpcs       int
}

// responder is a node that answered with referrals, and its successor list.
type responder struct {
	candidate
	succs []Peer
}

func newLookupState(key routing.Key, initial []Peer, maxRPCs int) *lookupState {
	l := &lookupState{key: key, tried: map[peer.ID]bool{}, dead: map[peer.ID]bool{}, maxRPCs: maxRPCs}
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
		if o.ID != c.ID {
			continue
		}
		if !c.fallback && o.fallback {
			// Now referred: it moves among the referrals, at the depth of the referral
			// chain that leads to it (a successor list seen earlier was not a route).
			l.cands = append(l.cands[:i], l.cands[i+1:]...)
			break
		}
		if c.fallback == o.fallback && c.depth < o.depth {
			l.cands[i].depth = c.depth
		}
		return
	}
	// Referrals first, closest to the key first; then fallbacks in the same order.
	less := func(a, b candidate) bool {
		if a.fallback != b.fallback {
			return !a.fallback
		}
		return routing.RingDistance(a.Key, l.key).Cmp(routing.RingDistance(b.Key, l.key)) < 0
	}
	at := len(l.cands)
	for i, o := range l.cands {
		if less(c, o) {
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
// Successors this lookup found dead are dropped from the answer.
func (l *lookupState) answered(c candidate, succs []Peer) {
	var live []Peer
	for _, p := range succs {
		if !l.dead[p.ID] {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return // every successor c named is dead: keep looking
	}
	l.done = true
	l.owner = live
	l.depth = c.depth
	l.by = c.ID
}

// found records that c answered with the key's owner and its successors. c is kept as a
// responder, so if the owner then proves dead (confirmOwner) the next live successor in
// c's list takes its place.
func (l *lookupState) found(c candidate, succs []Peer) {
	l.responders = append(l.responders, responder{candidate: c, succs: succs})
	l.answered(c, succs)
}

// ownerDead reopens a finished lookup whose owner did not answer: the next live successor
// some responder named becomes the answer, or else the lookup goes on with the candidates
// it has left.
func (l *lookupState) ownerDead(owner Peer) {
	if l.walkedFrom != nil {
		// A dead predecessor the owner still named: the owner's answer stands after all.
		l.dead[owner.ID] = true
		l.owner, l.walkedFrom = l.walkedFrom, nil
		l.depth--
		return
	}
	l.done = false
	l.owner = nil
	l.failed(candidate{Peer: owner})
}

// ownerAnswered takes the owner's own view of its neighbours and reports whether the answer
// stands. It does not when the owner's predecessor lies at or past the key: a node joined
// between the key and the owner after the node that answered last looked, so that
// predecessor is the owner (and is confirmed in turn; a predecessor found dead is ignored,
// which also ends the walk). Either way the owner's fresh successor list replaces the one
// the answer carried.
func (l *lookupState) ownerAnswered(owner, pred Peer, succs []Peer) bool {
	live := []Peer{owner}
	for _, p := range succs {
		if !l.dead[p.ID] && p.ID != owner.ID {
			live = append(live, p)
		}
	}
	if !pred.isZero() && !l.dead[pred.ID] && pred.ID != owner.ID && !routing.InOpenClosed(l.key, pred.Key, owner.Key) {
		l.walkedFrom = live
		l.owner = append([]Peer{pred}, live...)
		l.depth++
		return false
	}
	l.walkedFrom = nil
	l.owner = live
	return true
}

// referred records c's referrals (only nodes strictly between c and the key count) and
// c's successor list (nil for none). It reports whether the answer named any node
// between c and the key: an honest node always does (its successor lies there, or it
// would have answered found), so an answer that names none is as good as no answer.
func (l *lookupState) referred(c candidate, next []Peer, succs []Peer) (progress bool) {
	for _, p := range next {
		if routing.InOpen(p.Key, c.Key, l.key) {
			l.add(candidate{Peer: p, depth: c.depth + 1})
			progress = true
		}
	}
	if len(succs) > 0 {
		l.responders = append(l.responders, responder{candidate: c, succs: succs})
	}
	// The responder's successors before the key are fallbacks, tried only once every
	// referral is dead: routing through them would shorten paths (see
	// Config.RouteViaSuccessors) and the hop counts would no longer be Chord's.
	for _, p := range succs {
		if routing.InOpen(p.Key, c.Key, l.key) {
			l.add(candidate{Peer: p, depth: c.depth + 1, fallback: true})
			progress = true
		}
	}
	return progress
}

// failed records that c did not answer. If that leaves some responder's first live
// successor past the key, that successor is the owner: the key lay between the responder
// and successors that turned out dead, which stabilization has not noticed yet. Without
// this a lookup whose only route is a dead predecessor of the key would fail.
func (l *lookupState) failed(c candidate) {
	l.dead[c.ID] = true
	for _, r := range l.responders {
		// The list is contiguous on the ring: the first live entry at or after the key,
		// with only dead entries between it and the previous live one, is the owner.
		prev := r.Key
		for i, s := range r.succs {
			if l.dead[s.ID] {
				continue
			}
			if routing.InOpenClosed(l.key, prev, s.Key) {
				if l.answered(r.candidate, r.succs[i:]); l.done {
					return
				}
				break
			}
			prev = s.Key
		}
	}
}
