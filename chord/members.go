package chord

import (
	"context"
	"slices"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Membership checks. A Chord node that knows the full, verified membership (gossip's
// signed member list, Config.IsMember) does not have to believe what other nodes tell it
// about the ring: every peer an answer names is checked against the membership before it
// enters a table or is contacted, and the owner a lookup finds is checked against the
// ring of members this node's own PeerUp calls built (the view), independently of the
// node that named it. The view lags behind joins and crashes by a gossip round, so a
// claim that disagrees with it is settled by asking the node the view names; only a
// node naming itself against a member the view has held for a while (lieGrace), or an
// answer naming a peer that still is no member, and never was, lieGrace later (it may
// have joined a moment ago), counts as a lie. Lies are counted by
// kind in a metric (a peer label would let attackers mint series at will) and named per
// peer in a rate-limited log line; a peer caught lying banAfter times is dropped from
// the tables and ignored for Config.LiarBan.

// Lie kinds, the "kind" label of dhtnode_chord_lies_detected_total.
const (
	lieNonMember  = "non_member"  // an answer named a peer that never was a member
	lieWrongOwner = "wrong_owner" // an answer named an owner the membership contradicts
)

const (
	// banAfter is how many lies get a peer dropped from the tables.
	banAfter = 3
	// lieLogEvery rate-limits the log line about one lying peer.
	lieLogEvery = time.Minute
	// maxOwnerChecks bounds the view members asked when a claimed owner disagrees with
	// the view (each answers or fails within half an RPC timeout).
	maxOwnerChecks = 4
)

// memberView is the ring of verified members as this node's PeerUp and PeerDown calls
// describe it, plus the lie record of each peer. Pure state; the Chord mutex guards it.
type memberView struct {
	self  Peer
	ring  []Peer // sorted by key, self included
	since map[peer.ID]time.Time
	ever  map[peer.ID]bool // peers that were members at some point (departed ones are no liars)
	liars map[peer.ID]*liar
	// suspicions are non-members named in answers, not yet judged (see vet).
	suspicions map[suspicion]time.Time
	enabled    bool
}

// liar is what this node holds against one peer.
type liar struct {
	lies        int
	lastLog     time.Time
	bannedUntil time.Time
}

func newMemberView(self Peer, enabled bool) *memberView {
	return &memberView{
		self: self, ring: []Peer{self}, enabled: enabled,
		since: map[peer.ID]time.Time{self.ID: time.Now()}, ever: map[peer.ID]bool{self.ID: true}, liars: map[peer.ID]*liar{},
		suspicions: map[suspicion]time.Time{},
	}
}

func (v *memberView) index(key routing.Key) (int, bool) {
	return slices.BinarySearchFunc(v.ring, key, func(p Peer, k routing.Key) int { return p.Key.Cmp(k) })
}

// up adds p to the view (a PeerUp).
func (v *memberView) up(p Peer, now time.Time) {
	v.ever[p.ID] = true
	i, ok := v.index(p.Key)
	if ok && v.ring[i].ID == p.ID {
		return
	}
	v.ring = slices.Insert(v.ring, i, p)
	v.since[p.ID] = now
}

// down removes id from the view (a PeerDown).
func (v *memberView) down(id peer.ID) {
	p := NewPeer(id)
	if i, ok := v.index(p.Key); ok && v.ring[i].ID == id && id != v.self.ID {
		v.ring = slices.Delete(v.ring, i, i+1)
		delete(v.since, id)
	}
}

// complete reports whether the view is worth checking against: enabled and holding
// some other member.
func (v *memberView) complete() bool { return v.enabled && len(v.ring) > 1 }

// successors returns up to n view members at or after key, in ring order.
func (v *memberView) successors(key routing.Key, n int) []Peer {
	i, _ := v.index(key)
	n = min(n, len(v.ring))
	out := make([]Peer, 0, n)
	for j := range n {
		out = append(out, v.ring[(i+j)%len(v.ring)])
	}
	return out
}

// after returns up to n view members after p (p excluded), in ring order.
func (v *memberView) after(p Peer, n int) []Peer {
	var out []Peer
	for _, q := range v.successors(p.Key.Add(routing.PowerOfTwo(0)), n+1) {
		if q.ID != p.ID && len(out) < n {
			out = append(out, q)
		}
	}
	return out
}

// age is how long p has been in the view (self: since the node started).
func (v *memberView) age(p Peer, now time.Time) time.Duration {
	t, ok := v.since[p.ID]
	if !ok {
		return 0
	}
	return now.Sub(t)
}

func (v *memberView) banned(id peer.ID, now time.Time) bool {
	l := v.liars[id]
	return l != nil && now.Before(l.bannedUntil)
}

// lie records one lie by id and reports whether to log it and, when id is now banned
// for banFor, until when.
func (v *memberView) lie(id peer.ID, now time.Time, banFor time.Duration) (log bool, bannedUntil time.Time) {
	l := v.liars[id]
	if l == nil {
		l = &liar{}
		v.liars[id] = l
	}
	l.lies++
	log = now.Sub(l.lastLog) >= lieLogEvery
	if log {
		l.lastLog = now
	}
	if l.lies%banAfter == 0 {
		l.bannedUntil = now.Add(banFor)
		return log, l.bannedUntil
	}
	return log, time.Time{}
}

// maxSuspicions bounds the suspicions held at once; more are not recorded until some
// are settled (a liar gets caught on the ones held).
const maxSuspicions = 4096

// suspicion is a peer that from named and that was no member when it did.
type suspicion struct {
	from, about peer.ID
}

// suspect records that from named about, no member, at now (the first time counts).
func (v *memberView) suspect(from, about peer.ID, now time.Time) {
	s := suspicion{from: from, about: about}
	if _, ok := v.suspicions[s]; ok || len(v.suspicions) >= maxSuspicions {
		return
	}
	v.suspicions[s] = now
}

// dueSuspicions removes and returns the suspicions recorded before cutoff.
func (v *memberView) dueSuspicions(cutoff time.Time) []suspicion {
	var out []suspicion
	for s, at := range v.suspicions {
		if at.Before(cutoff) {
			out = append(out, s)
			delete(v.suspicions, s)
		}
	}
	return out
}

// membersOn reports whether this node checks answers against the membership.
func (c *Chord) membersOn() bool { return c.cfg.IsMember != nil }

// member asks Config.IsMember about id (true without a membership). It must be called
// without mu held: the membership service may be calling PeerUp under its own lock.
func (c *Chord) member(id peer.ID) bool {
	return c.cfg.IsMember == nil || id == c.self.ID || c.cfg.IsMember(id)
}

// trusted reports whether id, whose member answer is given, may enter our tables or be
// contacted: a member that is not banned. Caller holds mu.
func (c *Chord) trusted(id peer.ID, member bool, now time.Time) bool {
	if id == c.self.ID || c.cfg.IsMember == nil {
		return true
	}
	return member && !c.view.banned(id, now)
}

// trustedOnly returns the peers of ps that may enter our tables: members not banned
// (all of them without a membership).
func (c *Chord) trustedOnly(ps []Peer) []Peer {
	if !c.membersOn() || len(ps) == 0 {
		return ps
	}
	member := make([]bool, len(ps))
	for i, p := range ps {
		member[i] = c.member(p.ID)
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Peer, 0, len(ps))
	for i, p := range ps {
		if c.trusted(p.ID, member[i], now) {
			out = append(out, p)
		}
	}
	return out
}

// vet drops from ps the peers an answer from `from` may not make us adopt or contact.
// A peer that never was a member may still be one our gossip has not told us about
// yet (it joined a moment ago, and the answering node heard first): it is held as a
// suspicion against from, and counted as a lie only if it is still no member after
// lieGrace (settleSuspicions). A departed or banned member is no lie at all, and
// neither is an empty peer: it is how an honest answer says "no predecessor yet".
func (c *Chord) vet(from peer.ID, ps []Peer) []Peer {
	if !c.membersOn() || len(ps) == 0 {
		return ps
	}
	now := time.Now()
	out := ps[:0:0]
	member := make([]bool, len(ps))
	for i, p := range ps {
		member[i] = c.member(p.ID)
	}
	c.mu.Lock()
	for i, p := range ps {
		if p.ID == "" {
			continue
		}
		if c.trusted(p.ID, member[i], now) {
			out = append(out, p)
			continue
		}
		if !member[i] && !c.view.ever[p.ID] {
			c.view.suspect(from, p.ID, now)
		}
	}
	c.mu.Unlock()
	return out
}

// settleSuspicions counts as lies the suspicions older than lieGrace whose peer still
// is no member and never was one; the others are dropped. The maintenance goroutine
// runs it every stabilize round.
func (c *Chord) settleSuspicions() {
	if !c.membersOn() {
		return
	}
	now := time.Now()
	c.mu.Lock()
	due := c.view.dueSuspicions(now.Add(-c.lieGrace()))
	c.mu.Unlock()
	for _, s := range due {
		if c.member(s.about) {
			continue
		}
		c.mu.Lock()
		ever := c.view.ever[s.about]
		c.mu.Unlock()
		if !ever {
			c.noteLie(s.from, lieNonMember, "named a peer that is no member", s.about)
		}
	}
}

// noteLie counts one lie by id: metric (by kind), rate-limited log line naming the
// peer, and a ban from the tables once it lied banAfter times.
func (c *Chord) noteLie(id peer.ID, kind, what string, about peer.ID) {
	if id == c.self.ID || id == "" {
		return
	}
	now := time.Now()
	c.mu.Lock()
	log, until := c.view.lie(id, now, c.cfg.LiarBan.Std())
	if !until.IsZero() {
		c.ring.remove(id)
	}
	c.mu.Unlock()
	c.m.lies.WithLabelValues(kind).Inc()
	c.lies.Add(1)
	if log {
		c.log.Warn("chord peer lied", "peer", id, "kind", kind, "lie", what, "about", about)
	}
	if !until.IsZero() {
		c.m.bans.Inc()
		c.log.Warn("chord peer dropped from the tables for lying", "peer", id, "for", c.cfg.LiarBan.Std(), "until", until)
	}
}

// LiesDetected counts the lies this node caught other nodes in (every kind, every peer).
func (c *Chord) LiesDetected() uint64 { return c.lies.Load() }

// lieGrace is how long a member must have been in the view before a claim that
// contradicts it counts as a lie: an honest node learns of a new member through the
// same gossip, and through stabilization, within a few rounds.
func (c *Chord) lieGrace() time.Duration { return 10 * c.cfg.StabilizeInterval.Std() }

// verifyOwner checks the owner list a lookup ended with (claimed, named by claimant)
// against the view and returns the owner list to use: the owner followed by its next
// r-1 view members. A claimed owner the view agrees with costs nothing. Otherwise the
// view's owner is asked for its neighbours: when it answers it is the owner (and the
// claim, if the view has held that member long enough, a lie); when it does not, the
// next view member is tried, up to the claimed owner itself. With claimed empty (the
// lookup failed) the view's owner is found the same way, so a lookup ends whatever the
// answers were. ok is false when no owner could be confirmed.
func (c *Chord) verifyOwner(ctx context.Context, key routing.Key, claimed []Peer, claimant peer.ID, trace *routing.Trace) ([]Peer, bool) {
	c.mu.Lock()
	if !c.view.complete() {
		c.mu.Unlock()
		return claimed, len(claimed) > 0
	}
	cands := c.view.successors(key, maxOwnerChecks)
	c.mu.Unlock()
	var claim Peer
	if len(claimed) > 0 {
		claim = claimed[0]
	}
	withReplicas := func(o Peer) []Peer {
		c.mu.Lock()
		defer c.mu.Unlock()
		return append([]Peer{o}, c.view.after(o, c.cfg.Successors-1)...)
	}
	for _, v := range cands {
		if !claim.isZero() && v.ID == claim.ID {
			return withReplicas(claim), true
		}
		if !claim.isZero() && routing.InOpen(claim.Key, key, v.Key) {
			// The claimed owner lies between the key and the view's owner: a member
			// (vetted already) that joined after our view was last told.
			return claimed, true
		}
		if v.ID == c.self.ID {
			c.judgeClaim(claimant, claim, v)
			return withReplicas(v), true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		trace.RPCs++
		start := time.Now()
		_, err := c.callWithin(ctx, v.ID, &message{Type: msgNeighbours}, c.cfg.RPCTimeout.Std()/2)
		hop := routing.Hop{Peer: v.ID, Key: v.Key, Depth: trace.Hops + 1, RTT: time.Since(start), Distance: "view owner"}
		if err != nil {
			trace.Timeouts++
			hop.Error = err.Error()
			trace.Path = append(trace.Path, hop)
			continue
		}
		trace.Path = append(trace.Path, hop)
		c.judgeClaim(claimant, claim, v)
		return withReplicas(v), true
	}
	return claimed, len(claimed) > 0
}

// judgeClaim counts claimant's claim of owner claim as a lie when claimant named
// itself and the view has held the real owner v long enough that an honest node would
// know it. An honest node answers find_successor with its successors, never itself;
// one that names another wrong owner may only lag behind a join or skip a member it
// dropped, so that claim is routed around but not held against it.
func (c *Chord) judgeClaim(claimant peer.ID, claim, v Peer) {
	if claim.isZero() || claimant == "" || claimant == c.self.ID || claim.ID != claimant {
		return
	}
	c.mu.Lock()
	old := c.view.age(v, time.Now()) > c.lieGrace()
	c.mu.Unlock()
	if old {
		c.noteLie(claimant, lieWrongOwner, "named the wrong owner of a key", claim.ID)
	}
}
