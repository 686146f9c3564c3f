package exchange

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/content"
)

// swarm is the downloader's bookkeeping for one content ID: which pieces are verified, which
// are requested from whom, how fast each peer is and how often it lied. It does no I/O, starts
// no goroutine and reads no clock (callers pass now), so the scheduling rules are tested as
// plain functions. The downloader guards it with one mutex.
type swarm struct {
	n        int
	done     *content.Bitfield
	left     int               // pieces not done
	asked    map[int][]peer.ID // piece → peers it is requested from, oldest first
	peers    map[peer.ID]*peerState
	cursor   int // every piece below cursor is done or requested
	pieceLen func(i int) int

	// inflightBytes is what all peers owe us; pick keeps it under maxInflight, so memory
	// for answers in flight (ours and the streams' buffers) stays bounded however many
	// peers serve. starved records that pick refused for that reason: the next answer
	// wakes the idle peers.
	inflightBytes int64
	maxInflight   int64
	starved       bool

	minWindow, maxWindow int
	maxDup               int // endgame: at most this many peers asked for one piece
	maxBad               int
	rateHorizon          time.Duration
}

// peerState is what the swarm knows about one provider.
type peerState struct {
	id   peer.ID
	have *content.Bitfield
	// all: the peer has every piece (a seeder that sent a full bitfield); has needs no
	// lookup in have then.
	all      bool
	inflight []int // requested pieces in request order; responses come back in this order
	window   int
	bad      int
	banned   bool
	dropped  bool

	bytes      int64
	pieces     int
	rate       float64 // bytes/s, exponentially weighted
	lastActive time.Time
}

func newSwarm(n int, pieceLen func(int) int, cfg Config) *swarm {
	s := &swarm{
		n:           n,
		done:        content.NewBitfield(n),
		left:        n,
		asked:       make(map[int][]peer.ID),
		peers:       make(map[peer.ID]*peerState),
		pieceLen:    pieceLen,
		minWindow:   cfg.Window,
		maxWindow:   cfg.MaxWindow,
		maxDup:      2,
		maxBad:      cfg.MaxBadPieces,
		maxInflight: cfg.MaxInflightBytes,
		rateHorizon: cfg.WindowHorizon,
	}
	return s
}

// markDone records a piece verified without a download (resume from the store).
func (s *swarm) markDone(i int) {
	if !s.done.Has(i) {
		s.done.Set(i)
		s.left--
	}
}

func (s *swarm) complete() bool { return s.left == 0 }

// addPeer starts tracking a provider with the pieces it announced.
func (s *swarm) addPeer(id peer.ID, have *content.Bitfield, now time.Time) *peerState {
	p := &peerState{id: id, have: have, all: have.Complete(), window: s.minWindow, lastActive: now}
	s.peers[id] = p
	return p
}

func (p *peerState) has(i int) bool {
	if p.all {
		return i < p.have.Len()
	}
	return p.have.Has(i)
}

// usable reports whether the peer may be sent requests.
func (p *peerState) usable() bool { return !p.banned && !p.dropped }

// setHave replaces a peer's view (a later have response from a peer that is still downloading).
func (s *swarm) setHave(id peer.ID, have *content.Bitfield) {
	if p := s.peers[id]; p != nil {
		p.have, p.all = have, have.Complete()
	}
}

// pick chooses the next piece to request from p, or -1. Normal mode takes the lowest piece
// nobody is fetching (sequential order keeps writes and reads local). Once every missing piece
// is requested (endgame), an idle slot re-requests a piece in flight at another peer if that
// peer is late with it (see late), so one slow or stalled peer cannot hold up the tail. The
// protocol has no cancel, so a duplicate costs a piece of bandwidth: healthy peers with
// short queues are not duplicated.
func (s *swarm) pick(p *peerState, now time.Time) int {
	if !p.usable() || len(p.inflight) >= p.window {
		return -1
	}
	if s.maxInflight > 0 && len(p.inflight) > 0 && s.inflightBytes >= s.maxInflight {
		s.starved = true // every peer keeps at least one request, so none is shut out
		return -1
	}
	for s.cursor < s.n && (s.done.Has(s.cursor) || len(s.asked[s.cursor]) > 0) {
		s.cursor++
	}
	for i := s.cursor; i < s.n; i++ {
		if !s.done.Has(i) && len(s.asked[i]) == 0 && p.has(i) {
			s.request(p, i, now)
			return i
		}
	}
	// Endgame only when nothing unrequested is left anywhere; otherwise a peer that lacks the
	// free pieces would just duplicate work.
	for i := s.cursor; i < s.n; i++ {
		if !s.done.Has(i) && len(s.asked[i]) == 0 {
			return -1
		}
	}
	best, bestETA := -1, time.Duration(-1)
	for i, who := range s.asked {
		if len(who) >= s.maxDup || !p.has(i) || contains(who, p.id) {
			continue
		}
		eta, late := s.late(s.peers[who[0]], i, p, now)
		if late && (eta > bestETA || (eta == bestETA && i < best)) {
			best, bestETA = i, eta
		}
	}
	if best >= 0 {
		s.request(p, best, now)
	}
	return best
}

func (s *swarm) request(p *peerState, i int, now time.Time) {
	if len(p.inflight) == 0 {
		p.lastActive = now // the stall clock starts when a peer has work
	}
	p.inflight = append(p.inflight, i)
	s.asked[i] = append(s.asked[i], p.id)
	s.inflightBytes += int64(s.pieceLen(i))
}

func contains(ids []peer.ID, id peer.ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// rateTau is the memory of a peer's rate estimate.
const rateTau = 250 * time.Millisecond

// Endgame thresholds: a piece is duplicated when its peer has sent nothing for
// endgameSilence, or would deliver it more than endgameMinETA from now and twice as late as
// the idle peer would.
const (
	endgameSilence = 500 * time.Millisecond
	endgameMinETA  = 500 * time.Millisecond
)

// late reports whether piece i, requested from q, would arrive sooner from p, and q's
// estimated time to deliver it (-1 when unknown).
func (s *swarm) late(q *peerState, i int, p *peerState, now time.Time) (time.Duration, bool) {
	pos := 0
	for k, x := range q.inflight {
		if x == i {
			pos = k
			break
		}
	}
	eta := func(r *peerState, queued int) time.Duration {
		if r.rate <= 0 {
			return -1
		}
		return time.Duration(float64(queued) * float64(s.pieceLen(i)) / r.rate * float64(time.Second))
	}
	etaQ, etaP := eta(q, pos+1), eta(p, len(p.inflight)+1)
	if now.Sub(q.lastActive) > endgameSilence {
		return max(etaQ, now.Sub(q.lastActive)), true
	}
	if etaQ < 0 || etaP < 0 {
		return etaQ, false
	}
	return etaQ, etaQ > endgameMinETA && etaQ > 2*etaP
}

// takeStarved reports (and clears) whether pick refused a peer for the in-flight cap since
// the last call: the caller should wake the idle peers.
func (s *swarm) takeStarved() bool {
	st := s.starved
	s.starved = false
	return st
}

// head returns the piece the peer's next response must be about, or -1.
func (s *swarm) head(p *peerState) int {
	if len(p.inflight) == 0 {
		return -1
	}
	return p.inflight[0]
}

// pop removes the peer's oldest request (its response arrived) and forgets the peer as a
// requester of that piece.
func (s *swarm) pop(p *peerState) int {
	i := p.inflight[0]
	p.inflight = p.inflight[1:]
	s.unask(i, p.id)
	s.inflightBytes -= int64(s.pieceLen(i))
	return i
}

func (s *swarm) unask(i int, id peer.ID) {
	who := s.asked[i]
	for k, x := range who {
		if x == id {
			who = append(who[:k:k], who[k+1:]...)
			break
		}
	}
	if len(who) == 0 {
		delete(s.asked, i)
		if i < s.cursor {
			s.cursor = i
		}
	} else {
		s.asked[i] = who
	}
}

// delivered records a verified piece from p. It reports whether the piece was new (a
// duplicate from endgame is dropped by the caller, not written twice).
func (s *swarm) delivered(p *peerState, i int, n int, now time.Time) bool {
	s.account(p, n, now)
	if s.done.Has(i) {
		return false
	}
	s.done.Set(i)
	s.left--
	return true
}

// account updates the peer's rate and window: window = what the peer delivers in
// rateHorizon, in pieces, clamped. Faster peers so get more requests outstanding.
func (s *swarm) account(p *peerState, n int, now time.Time) {
	dt := now.Sub(p.lastActive).Seconds()
	p.lastActive = now
	p.bytes += int64(n)
	p.pieces++
	if dt > 0 {
		// A time-weighted moving average: about the bytes of the last rateTau per
		// second. It starts from zero, so a burst of early answers (buffered before we
		// read them) does not hand one peer a full window before the others connect.
		inst := float64(n) / dt
		p.rate += (inst - p.rate) * min(1, dt/rateTau.Seconds())
	}
	w := s.minWindow
	if pl := s.pieceLen(0); pl > 0 {
		w = int(p.rate * s.rateHorizon.Seconds() / float64(pl))
	}
	p.window = min(max(w, s.minWindow), s.maxWindow)
}

// corrupt records a piece from p that failed verification. It reports whether p is now
// banned (maxBad strikes). The piece goes back to the pool.
func (s *swarm) corrupt(p *peerState, now time.Time) (banned bool) {
	p.bad++
	p.lastActive = now
	if p.bad >= s.maxBad {
		p.banned = true
		s.release(p)
	}
	return p.banned
}

// missing records that p answered "not found" for piece i: it does not have it after all.
func (s *swarm) missing(p *peerState, i int, now time.Time) {
	p.lastActive = now
	// A "seeder" that lost a piece (corrupt on its disk) is tracked piece by piece from
	// now on; its have is still the full bitfield it sent.
	p.all = false
	p.have.Clear(i)
}

// drop stops using p (stalled, disconnected, protocol error) and releases its requests.
func (s *swarm) drop(p *peerState) {
	p.dropped = true
	s.release(p)
}

func (s *swarm) release(p *peerState) {
	for _, i := range p.inflight {
		s.unask(i, p.id)
		s.inflightBytes -= int64(s.pieceLen(i))
	}
	p.inflight = nil
}

// live counts peers still usable.
func (s *swarm) live() int {
	c := 0
	for _, p := range s.peers {
		if p.usable() {
			c++
		}
	}
	return c
}
