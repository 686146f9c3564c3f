package chord

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

// ErrClosed is returned by calls on a Chord that was closed.
var ErrClosed = errors.New("chord: closed")

// Chord is one node of a Chord ring on a libp2p host. It implements routing.Router,
// routing.MembershipListener and routing.TableReporter.
//
// Goroutines: one maintenance goroutine per node runs stabilize, fix-fingers,
// check-predecessor, record expiry, handoffs and joins requested by PeerUp; republishing
// runs on a goroutine of its own while it lasts (at most one), so a node providing many
// keys never stalls its ring maintenance.
// libp2p runs stream handlers on its own goroutines. Lookups run on the caller's
// goroutine. The ring state and the provider store sit behind one mutex that is never
// held across I/O.
type Chord struct {
	t    Transport
	cfg  Config
	log  *slog.Logger
	m    *metrics
	self Peer

	mu       sync.Mutex
	ring     *ring
	store    *providerStore
	provided map[routing.Key]struct{}
	// view is the verified membership (Config.IsMember) and what peers lied about it.
	view *memberView
	// inRing is set once a join lookup succeeded or another node notified us: until then
	// PeerUp keeps asking for a join through the new member.
	inRing bool
	// joins counts Join calls in flight (ring.joining is joins > 0).
	joins int

	stabilizeRounds atomic.Uint64
	lies            atomic.Uint64
	// adversary, when set, makes this node lie (see NewAdversary).
	adversary    *adversary
	republishing atomic.Bool
	wg           sync.WaitGroup // the republishing goroutine

	joinReq   chan peer.ID  // PeerUp while alone: join through this peer
	handoffs  chan handoff  // records to push to a node that joined in front of us
	stabilize chan struct{} // run a stabilize round now
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

type handoff struct {
	to      peer.ID
	records []record
}

var (
	_ routing.Router             = (*Chord)(nil)
	_ routing.MembershipListener = (*Chord)(nil)
	_ routing.TableReporter      = (*Chord)(nil)
	_ routing.ProvideStopper     = (*Chord)(nil)
)

// New starts a Chord node on h: it serves ProtocolID and runs its maintenance goroutine.
// The node begins as a ring of one; Join (or a PeerUp) connects it to others.
// Errors: ErrBadConfig, or a metrics registration error.
func New(h host.Host, cfg Config) (*Chord, error) {
	return NewOn(NewHostTransport(h), cfg)
}

// NewOn is New on any Transport (a MemNetwork's, for simulations).
func NewOn(t Transport, cfg Config) (*Chord, error) { return start(t, cfg, nil) }

// start is NewOn, with the lies of an adversary (nil for an honest node).
func start(h Transport, cfg Config, adv *adversary) (*Chord, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	self := NewPeer(h.ID())
	c := &Chord{
		t:         h,
		cfg:       cfg,
		log:       logger.With("subsystem", "chord"),
		self:      self,
		ring:      newRing(self, cfg.Successors),
		store:     newProviderStore(cfg.MaxProvidersPerKey, cfg.MaxRecordsPerPeer, cfg.MaxRecords),
		provided:  map[routing.Key]struct{}{},
		view:      newMemberView(self, cfg.IsMember != nil),
		adversary: adv,
		joinReq:   make(chan peer.ID, 1),
		handoffs:  make(chan handoff, 8),
		stabilize: make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	m, err := newMetrics(cfg.Registerer, func() float64 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return float64(c.store.len())
	})
	if err != nil {
		return nil, err
	}
	c.m = m
	c.ring.routeViaSuccessors = cfg.RouteViaSuccessors
	c.ctx, c.cancel = context.WithCancel(context.Background())
	h.SetHandler(c.handleStream)
	go c.run()
	return c, nil
}

// Name returns "chord".
func (c *Chord) Name() string { return "chord" }

// Self is this node's place on the ring.
func (c *Chord) Self() Peer { return c.self }

// Close stops maintenance and stops serving. It does not tell other nodes (gossip's leave
// does that); their stabilization routes around us.
func (c *Chord) Close() error {
	c.closeOnce.Do(func() {
		c.t.RemoveHandler()
		c.cancel()
		<-c.done
		c.wg.Wait()
	})
	return nil
}

// StabilizeRounds counts the stabilization rounds this node has completed; tests use it
// to measure recovery in rounds rather than wall time.
func (c *Chord) StabilizeRounds() uint64 { return c.stabilizeRounds.Load() }

// Successor is the node's first successor (its own ID while it knows no other node):
// simulations compare it with the true ring to tell when stabilization is done.
func (c *Chord) Successor() peer.ID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ring.successor().ID
}

// Joined reports whether the node has joined the ring: its join lookup succeeded (the
// key's old owner, which answered it, then routes the node's keys to it) or another node
// notified it. Knowing other members is not enough: a node that gossip has only offered
// peers to is not yet where the ring routes its keys.
func (c *Chord) Joined() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inRing && !c.ring.alone()
}

// Join connects this node to the ring through any live member of it: it asks the first
// peer that answers for its own successor, then lets stabilization do the rest.
// Errors: routing.ErrNoPeers when no peer was given, ErrLookupFailed (wrapped with the
// last failure) when none answered.
func (c *Chord) Join(ctx context.Context, peers ...peer.AddrInfo) error {
	c.mu.Lock()
	c.joins++
	c.ring.joining = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.joins--
		c.ring.joining = c.joins > 0
		c.mu.Unlock()
	}()
	var lastErr error = routing.ErrNoPeers
	for _, ai := range peers {
		if ai.ID == c.self.ID || ai.ID == "" {
			continue
		}
		if len(ai.Addrs) > 0 {
			c.t.AddAddrs(ai.ID, ai.Addrs, peerstore.RecentlyConnectedAddrTTL)
		}
		var trace routing.Trace
		owners, err := c.findSuccessor(ctx, c.self.Key, []Peer{NewPeer(ai.ID)}, false, &trace)
		if err != nil {
			lastErr = err
			continue
		}
		c.adoptSuccessors(owners)
		c.mu.Lock()
		c.inRing = true
		c.mu.Unlock()
		c.kickStabilize()
		c.log.Debug("joined", "via", ai.ID, "successor", owners[0].ID)
		return nil
	}
	if errors.Is(lastErr, routing.ErrNoPeers) {
		return lastErr
	}
	return fmt.Errorf("%w: join: %w", routing.ErrLookupFailed, lastErr)
}

// adoptSuccessors merges nodes found to follow us into the successor list (members
// not banned for lying only).
func (c *Chord) adoptSuccessors(ps []Peer) {
	ps = c.trustedOnly(ps)
	c.mu.Lock()
	defer c.mu.Unlock()
	merged := slices.Clone(c.ring.succ)
	for _, p := range ps {
		if p.ID != c.self.ID && !slices.ContainsFunc(merged, func(q Peer) bool { return q.ID == p.ID }) {
			merged = append(merged, p)
		}
	}
	if len(merged) == 0 {
		return
	}
	sortFrom(merged, c.self.Key)
	c.ring.setSuccessors(merged[0], merged[1:])
}

func (c *Chord) kickStabilize() {
	select {
	case c.stabilize <- struct{}{}:
	default:
	}
}

// PeerUp tells Chord that gossip sees info alive. It is offered to the successor list
// and fingers, which makes stabilization converge without waiting for rounds to walk the
// ring; a node that has not joined yet also joins through it.
func (c *Chord) PeerUp(info peer.AddrInfo) {
	if info.ID == c.self.ID || info.ID == "" {
		return
	}
	if len(info.Addrs) > 0 {
		c.t.AddAddrs(info.ID, info.Addrs, peerstore.RecentlyConnectedAddrTTL)
	}
	p := NewPeer(info.ID)
	member := c.member(p.ID)
	c.mu.Lock()
	c.view.up(p, time.Now())
	if c.trusted(p.ID, member, time.Now()) {
		c.ring.offer(p)
	}
	needJoin := !c.inRing
	c.mu.Unlock()
	if needJoin {
		select {
		case c.joinReq <- info.ID:
		default: // a join is already pending; more PeerUps will follow if it fails
		}
	}
}

// PeerDown tells Chord that gossip saw id fail or leave: it is removed from the finger
// table, successor list and predecessor at once.
func (c *Chord) PeerDown(id peer.ID) {
	c.mu.Lock()
	c.view.down(id)
	removed := c.ring.remove(id)
	c.mu.Unlock()
	if removed {
		c.kickStabilize()
	}
}

// forget drops a peer that failed an RPC, like PeerDown.
func (c *Chord) forget(id peer.ID) {
	c.mu.Lock()
	c.ring.remove(id)
	c.mu.Unlock()
}

// run is the maintenance goroutine.
func (c *Chord) run() {
	defer close(c.done)
	stab := time.NewTicker(c.cfg.StabilizeInterval.Std())
	fix := time.NewTicker(c.cfg.FixFingersInterval.Std())
	check := time.NewTicker(c.cfg.CheckPredecessorInterval.Std())
	republish := time.NewTicker(c.cfg.RepublishInterval.Std())
	defer stab.Stop()
	defer fix.Stop()
	defer check.Stop()
	defer republish.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case id := <-c.joinReq:
			c.mu.Lock()
			inRing := c.inRing
			c.mu.Unlock()
			if !inRing {
				if err := c.Join(c.ctx, peer.AddrInfo{ID: id}); err != nil {
					c.log.Debug("join through gossip peer failed", "peer", id, "err", err)
				}
			}
		case h := <-c.handoffs:
			c.sendHandoff(h)
		case <-c.stabilize:
			c.stabilizeOnce()
		case <-stab.C:
			c.stabilizeOnce()
		case <-fix.C:
			c.fixFingersOnce()
			c.mu.Lock()
			c.store.expire(time.Now())
			c.mu.Unlock()
		case <-check.C:
			c.checkPredecessor()
		case <-republish.C:
			if c.republishing.CompareAndSwap(false, true) {
				c.wg.Add(1)
				go func() {
					defer c.wg.Done()
					defer c.republishing.Store(false)
					c.republish()
				}()
			}
		}
	}
}

// stabilizeOnce is Chord's stabilize(): ask the successor for its predecessor and
// successor list, adopt a closer successor, notify it. A dead successor is dropped and
// the next one in the list asked in the same round; a closer successor is asked in the
// same round too, so nodes that joined at once are found without one round per node.
// A round sends at most Successors+2 requests.
func (c *Chord) stabilizeOnce() {
	c.m.stabilizeRounds.Inc()
	defer c.stabilizeRounds.Add(1)
	defer c.settleSuspicions()
	for range c.cfg.Successors + 1 {
		c.mu.Lock()
		if c.ring.alone() {
			c.mu.Unlock()
			return
		}
		succ := c.ring.successor()
		c.mu.Unlock()

		resp, err := c.call(c.ctx, succ.ID, &message{Type: msgNeighbours})
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.log.Debug("successor failed", "peer", succ.ID, "err", err)
			c.forget(succ.ID)
			continue
		}
		peers := c.learn(resp.Peers)
		var pred Peer
		if resp.Found && len(peers) > 0 {
			pred, peers = peers[0], peers[1:]
		}
		if c.membersOn() {
			if v := c.vet(succ.ID, []Peer{pred}); len(v) == 0 {
				pred = Peer{}
			}
			peers = c.vet(succ.ID, peers)
		}
		c.mu.Lock()
		if !c.trusted(succ.ID, true, time.Now()) {
			// This very answer got the successor banned (noteLie dropped it):
			// merging it back as "succ" would undo the ban.
			c.mu.Unlock()
			continue
		}
		closer := !pred.isZero() && pred.ID != c.self.ID && routing.InOpen(pred.Key, c.self.Key, succ.Key)
		switch {
		case c.membersOn():
			// Members only, and the successor's answer adds to what we know rather
			// than replacing it: the r closest members win, so an answer naming far
			// members cannot push the real successors out.
			c.ring.mergeSuccessors(append(append([]Peer{pred, succ}, peers...), c.ring.succ...))
		case closer:
			c.ring.setSuccessors(pred, append([]Peer{succ}, peers...))
		default:
			c.ring.setSuccessors(succ, peers)
		}
		c.mu.Unlock()
		if closer {
			continue // ask the closer successor for its neighbours before notifying
		}
		break
	}
	c.mu.Lock()
	alone, succ := c.ring.alone(), c.ring.successor()
	c.mu.Unlock()
	if alone {
		return
	}
	// A successor that answers with a refusal is alive: it may not know us as a member
	// yet (its gossip view lags), so keep it and notify again next round.
	if _, err := c.call(c.ctx, succ.ID, &message{Type: msgNotify}); err != nil && c.ctx.Err() == nil && !errors.Is(err, ErrRemote) {
		c.forget(succ.ID)
	}
}

// fixFingersOnce refreshes the next finger with a lookup of self + 2^i.
func (c *Chord) fixFingersOnce() {
	c.mu.Lock()
	if c.ring.alone() {
		c.mu.Unlock()
		return
	}
	i, start := c.ring.fingerToFix()
	c.mu.Unlock()
	var trace routing.Trace
	owners, err := c.findSuccessor(c.ctx, start, nil, false, &trace)
	// The owner confirmed against the membership may be a member banned for lying:
	// then the next one stands in (a finger past its start still routes correctly).
	owners = c.trustedOnly(owners)
	if err != nil || len(owners) == 0 {
		return
	}
	c.mu.Lock()
	c.ring.setFinger(i, owners[0])
	c.mu.Unlock()
}

// checkPredecessor pings the predecessor and clears it when it does not answer.
func (c *Chord) checkPredecessor() {
	c.mu.Lock()
	pred := c.ring.pred
	c.mu.Unlock()
	if pred.isZero() {
		return
	}
	if _, err := c.call(c.ctx, pred.ID, &message{Type: msgPing}); err != nil && c.ctx.Err() == nil {
		c.mu.Lock()
		if c.ring.pred.ID == pred.ID {
			c.ring.pred = Peer{}
		}
		c.mu.Unlock()
	}
}

func (c *Chord) queueHandoff(to peer.ID, recs []record) {
	select {
	case c.handoffs <- handoff{to: to, records: recs}:
	default:
		// Dropped: the providers' next republish puts the records on the new owner.
	}
}

func (c *Chord) sendHandoff(h handoff) {
	for len(h.records) > 0 {
		n := min(len(h.records), maxRecordsPerMessage/2)
		msg := &message{Type: msgHandoff, Records: h.records[:n]}
		h.records = h.records[n:]
		if _, err := c.call(c.ctx, h.to, msg); err != nil {
			c.log.Debug("handoff failed", "peer", h.to, "err", err)
			return
		}
	}
}

func (c *Chord) republish() {
	c.mu.Lock()
	keys := make([]routing.Key, 0, len(c.provided))
	for k := range c.provided {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	for _, k := range keys {
		if c.ctx.Err() != nil {
			return
		}
		if _, err := c.Provide(c.ctx, k); err != nil {
			c.log.Debug("republish failed", "key", k.Short(), "err", err)
		}
	}
}

// findSuccessor runs an iterative lookup for key. With initial == nil it starts from our
// own table (and may answer at depth 0); otherwise it asks those peers first (join).
// It returns the owner followed by its successors and fills trace. With confirm, the
// owner is asked for its neighbours before it is returned (see confirmOwner). With a
// membership (Config.IsMember) the owner is then checked against it (verifyOwner), which
// also answers when the routing itself failed.
func (c *Chord) findSuccessor(ctx context.Context, key routing.Key, initial []Peer, confirm bool, trace *routing.Trace) ([]Peer, error) {
	owners, by, err := c.route(ctx, key, initial, confirm, trace)
	if !c.membersOn() || ctx.Err() != nil {
		return owners, err
	}
	checked, ok := c.verifyOwner(ctx, key, owners, by, trace)
	if !ok {
		if err == nil {
			err = fmt.Errorf("%w: %s: no owner confirmed", routing.ErrLookupFailed, key.Short())
		}
		return nil, err
	}
	return checked, nil
}

// route is findSuccessor's routing: the owner list and the node that named it.
func (c *Chord) route(ctx context.Context, key routing.Key, initial []Peer, confirm bool, trace *routing.Trace) ([]Peer, peer.ID, error) {
	var ownSuccs, ownAnswer []Peer
	if initial == nil {
		if c.successorMayBeDead() {
			c.checkSuccessor()
		}
		c.mu.Lock()
		if c.ring.owns(key) {
			owners := append([]Peer{c.self}, c.ring.succ...)
			c.mu.Unlock()
			return owners, c.self.ID, nil
		}
		found, succs, next := c.ring.step(key, 0)
		ownSuccs = c.ring.successorList()
		c.mu.Unlock()
		if found && !confirm {
			return succs, c.self.ID, nil
		}
		if found {
			ownAnswer = succs
		}
		initial = next
	}
	ls := newLookupState(key, initial, c.cfg.MaxLookupRPCs)
	switch {
	case ownAnswer != nil:
		// Our own successor is the owner (depth 0), still to be confirmed.
		ls.found(candidate{Peer: c.self}, ownAnswer)
	case ownSuccs != nil:
		// We are the first responder (depth 0): if our own successor turns out dead,
		// the next one in our list may be the owner.
		ls.referred(candidate{Peer: c.self}, nil, ownSuccs)
	}
	var lastErr error
	// Requests run on their own goroutines so that a hop that stalls (a peer that
	// accepts the stream and never answers, or a dead node whose dial hangs) costs
	// LookupStall, not an RPC timeout: a request that has not answered in LookupStall
	// stops counting as the active one and the next best candidate is asked (within
	// MaxLookupRPCs); once no candidate is left, the stalled ones are presumed dead for
	// the owner inference of lookupState.failed (a responder's successor list that spans
	// the key). A stalled request that answers after all is still used. Answers are
	// applied one at a time here, so lookupState stays single-threaded; on a healthy
	// ring a lookup has one request out at a time and takes the same path as without this.
	rctx, cancelRPCs := context.WithCancel(ctx)
	defer cancelRPCs()
	type result struct {
		cand candidate
		resp *message
		err  error
	}
	type request struct {
		cand              candidate
		start             time.Time
		stalled, presumed bool
	}
	results := make(chan result, c.cfg.MaxLookupRPCs) // never blocks a request goroutine
	inflight := map[peer.ID]*request{}
	active := 0 // requests out that have not stalled yet: at most one
	stall := time.NewTimer(c.cfg.LookupStall.Std())
	defer stall.Stop()
	launch := func(cand candidate) {
		inflight[cand.ID] = &request{cand: cand, start: time.Now()}
		active++
		go func() {
			resp, err := c.call(rctx, cand.ID, &message{Type: msgFindSuccessor, HasKey: true, Key: key})
			results <- result{cand: cand, resp: resp, err: err}
		}()
		stall.Reset(c.cfg.LookupStall.Std())
	}
	hopOf := func(r *request) routing.Hop {
		return routing.Hop{
			Peer:     r.cand.ID,
			Key:      r.cand.Key,
			Depth:    r.cand.depth,
			RTT:      time.Since(r.start),
			Distance: formatDistance(routing.RingDistance(r.cand.Key, key)),
		}
	}
	for {
		if ls.done {
			if !confirm || c.confirmOwner(ctx, ls, trace) {
				break
			}
			continue // the answer did not stand: the lookup goes on
		}
		if active == 0 {
			if cand, ok := ls.next(); ok {
				launch(cand)
				continue
			}
			if len(inflight) == 0 {
				break
			}
			// Nothing left to ask: whoever has stalled is presumed dead, which may
			// settle the owner from a successor list.
			presumed := false
			for _, r := range inflight {
				if !r.presumed {
					r.presumed, presumed = true, true
					ls.failed(r.cand)
				}
			}
			if presumed {
				continue
			}
		}
		var r result
		select {
		case r = <-results:
		case <-stall.C:
			for _, r := range inflight {
				r.stalled = true
			}
			active = 0
			continue
		}
		req := inflight[r.cand.ID]
		delete(inflight, r.cand.ID)
		if !req.stalled {
			active--
		}
		cand, resp, err := r.cand, r.resp, r.err
		hop := hopOf(req)
		trace.RPCs++
		if err != nil {
			trace.Timeouts++
			hop.Error = err.Error()
			trace.Path = append(trace.Path, hop)
			lastErr = err
			if ctx.Err() != nil {
				break
			}
			c.forget(cand.ID)
			ls.failed(cand)
			continue
		}
		trace.Path = append(trace.Path, hop)
		peers := c.vet(cand.ID, c.learn(resp.Peers))
		if resp.Found && cand.depth > 1 && len(peers) == 1 && peers[0].ID == cand.ID {
			// A node another node referred us to says it is alone (it owns every
			// key): the referrer knows better. It is a node still joining, offered
			// to the ring before its own join lookup came back; an owner taken from
			// it would be wrong for most keys, and a joiner that takes it as its
			// successor starts a loop on the ring. Its neighbours route around it.
			ls.failed(cand)
			continue
		}
		if resp.Found {
			// An answer naming no live owner is no answer; the next candidate is tried.
			ls.found(cand, peers)
			continue
		}
		if !ls.referred(cand, peers, c.vet(cand.ID, c.learn(resp.Succs))) {
			// An answer that names no node closer to the key counts as none at all.
			ls.failed(cand)
		}
	}
	// Requests still out are abandoned (and cancelled when we return): they were sent
	// and did not answer in time, so they count as timed out.
	abandoned := slices.SortedFunc(maps.Values(inflight), func(a, b *request) int { return a.start.Compare(b.start) })
	for _, r := range abandoned {
		hop := hopOf(r)
		hop.Error = "no answer: abandoned"
		trace.RPCs++
		trace.Timeouts++
		trace.Path = append(trace.Path, hop)
	}
	if !ls.done {
		if lastErr == nil {
			lastErr = errors.New("no closer node known")
		}
		if ctx.Err() != nil {
			lastErr = ctx.Err()
		}
		return nil, "", fmt.Errorf("%w: %s after %d rpcs: %w", routing.ErrLookupFailed, key.Short(), trace.RPCs, lastErr)
	}
	trace.Hops = ls.depth
	return ls.owner, ls.by, nil
}

// confirmOwner asks the owner a finished lookup found for its neighbours, and reports
// whether the answer stands. The node that named the owner answered from its own view,
// which lags behind churn: its successor may have crashed since its last stabilization
// round, or a node may have joined between the key and that successor. Kademlia's answer
// is made only of peers that just answered; this one RPC gives Chord's the same footing.
// A dead owner is replaced by the next live successor the lookup heard of; an owner whose
// predecessor now lies past the key hands the answer to that predecessor. The RPC counts
// toward the lookup's budget but not its hops; with the budget spent, the answer stands
// unconfirmed.
func (c *Chord) confirmOwner(ctx context.Context, ls *lookupState, trace *routing.Trace) bool {
	owner := ls.owner[0]
	if owner.ID == c.self.ID {
		// The lookup came round to us, but our own predecessor may have joined since
		// whoever named us last looked.
		c.mu.Lock()
		pred, succs := c.ring.pred, c.ring.successorList()
		c.mu.Unlock()
		return ls.ownerAnswered(owner, pred, succs)
	}
	if ls.maxRPCs > 0 && ls.rpcs >= ls.maxRPCs {
		return true
	}
	ls.rpcs++
	trace.RPCs++
	start := time.Now()
	resp, err := c.call(ctx, owner.ID, &message{Type: msgNeighbours})
	hop := routing.Hop{Peer: owner.ID, Key: owner.Key, Depth: ls.depth + 1, RTT: time.Since(start), Distance: "owner"}
	if err != nil {
		trace.Timeouts++
		hop.Error = err.Error()
		trace.Path = append(trace.Path, hop)
		if ctx.Err() != nil {
			ls.done = false // the lookup fails with the context's error
			return true
		}
		c.forget(owner.ID)
		ls.ownerDead(owner)
		return false
	}
	trace.Path = append(trace.Path, hop)
	peers := c.learn(resp.Peers)
	var pred Peer
	if resp.Found && len(peers) > 0 {
		pred, peers = peers[0], peers[1:]
	}
	if c.membersOn() {
		if v := c.vet(owner.ID, []Peer{pred}); len(v) == 0 {
			pred = Peer{}
		}
		peers = c.vet(owner.ID, peers)
	}
	return ls.ownerAnswered(owner, pred, peers)
}

// formatDistance prints a ring distance as a power of two: "2^243.7", or "0".
func formatDistance(d routing.Key) string {
	l := d.Log2()
	if math.IsInf(l, -1) {
		return "0"
	}
	return fmt.Sprintf("2^%.1f", l)
}

// Lookup finds the node responsible for key (its successor on the ring) and returns it
// first, followed by its successors. Errors: routing.ErrLookupFailed when every path
// failed, or the context's error.
func (c *Chord) Lookup(ctx context.Context, key routing.Key) ([]peer.AddrInfo, routing.Trace, error) {
	if c.ctx.Err() != nil {
		return nil, routing.Trace{Algo: c.Name(), Key: key}, ErrClosed
	}
	owners, trace, err := c.lookup(ctx, key, true)
	if err != nil {
		return nil, trace, err
	}
	return c.addrInfos(owners), trace, nil
}

// lookup runs findSuccessor from our own table. Provide and FindProviders contact the
// owners themselves, falling over to the next one, so only Lookup asks to confirm.
func (c *Chord) lookup(ctx context.Context, key routing.Key, confirm bool) ([]Peer, routing.Trace, error) {
	trace := routing.Trace{Algo: c.Name(), Key: key}
	start := time.Now()
	owners, err := c.findSuccessor(ctx, key, nil, confirm, &trace)
	trace.Latency = time.Since(start)
	if err != nil {
		return nil, trace, err
	}
	c.m.lookupHops.Observe(float64(trace.Hops))
	c.m.lookupSeconds.Observe(trace.Latency.Seconds())
	if len(owners) > c.cfg.Successors {
		owners = owners[:c.cfg.Successors]
	}
	return owners, trace, nil
}

func (c *Chord) addrInfos(ps []Peer) []peer.AddrInfo {
	out := make([]peer.AddrInfo, 0, len(ps))
	for _, p := range ps {
		out = append(out, peer.AddrInfo{ID: p.ID, Addrs: c.info(p).Addrs})
	}
	return out
}

// StopProviding forgets key: it is no longer republished. Records already stored on the
// owners expire after ProviderTTL.
func (c *Chord) StopProviding(key routing.Key) {
	c.mu.Lock()
	delete(c.provided, key)
	c.mu.Unlock()
}

// Provide announces this node as a provider of key: the record goes to the key's owner
// and its next r-1 successors, and is republished every RepublishInterval until Close
// (also when this first attempt fails).
// It succeeds when at least one of them stored it. Errors: routing.ErrLookupFailed, or
// the last store error when none accepted the record.
func (c *Chord) Provide(ctx context.Context, key routing.Key) (routing.Trace, error) {
	if c.ctx.Err() != nil {
		return routing.Trace{Algo: c.Name(), Key: key}, ErrClosed
	}
	// Remember the key first, so republishing retries a provide that fails now.
	c.mu.Lock()
	c.provided[key] = struct{}{}
	c.mu.Unlock()
	start := time.Now()
	owners, trace, err := c.lookup(ctx, key, false)
	if err != nil {
		return trace, err
	}
	self := c.info(c.self)
	ttl := uint64(c.cfg.ProviderTTL.Std() / time.Second)
	stored := 0
	var lastErr error
	for _, o := range owners {
		if o.ID == c.self.ID {
			c.mu.Lock()
			err := c.store.put(key, c.self.ID, self.Addrs, time.Now().Add(c.cfg.ProviderTTL.Std()))
			c.mu.Unlock()
			if err == nil {
				stored++
			}
			continue
		}
		req := &message{Type: msgAddProvider, Records: []record{{Key: key, Provider: self, TTL: ttl}}}
		trace.RPCs++
		if _, err := c.call(ctx, o.ID, req); err != nil {
			trace.Timeouts++
			lastErr = err
			continue
		}
		stored++
	}
	trace.Latency = time.Since(start)
	if stored == 0 {
		if lastErr == nil {
			lastErr = routing.ErrNoPeers
		}
		return trace, fmt.Errorf("%w: provide %s: %w", routing.ErrLookupFailed, key.Short(), lastErr)
	}
	return trace, nil
}

// FindProviders looks up key's owner and asks it, then its replicas in ring order while
// they know no provider, for the peers that provide key. The trace's Hops is the depth of
// the node that returned the providers (the lookup's hops + 1, or 0 when we hold them).
// Errors: routing.ErrLookupFailed.
func (c *Chord) FindProviders(ctx context.Context, key routing.Key, limit int) ([]peer.AddrInfo, routing.Trace, error) {
	if c.ctx.Err() != nil {
		return nil, routing.Trace{Algo: c.Name(), Key: key}, ErrClosed
	}
	start := time.Now()
	owners, trace, err := c.lookup(ctx, key, false)
	if err != nil {
		return nil, trace, err
	}
	lookupHops := trace.Hops
	seen := map[peer.ID]bool{}
	var out []peer.AddrInfo
	answered := false
	for rank, o := range owners {
		var recs []record
		if o.ID == c.self.ID {
			c.mu.Lock()
			recs = c.store.get(key, time.Now())
			c.mu.Unlock()
			answered = true
			if len(recs) > 0 {
				trace.Hops = 0
			}
		} else {
			t0 := time.Now()
			resp, err := c.call(ctx, o.ID, &message{Type: msgGetProviders, HasKey: true, Key: key})
			trace.RPCs++
			hop := routing.Hop{Peer: o.ID, Key: o.Key, Depth: lookupHops + 1, RTT: time.Since(t0), Distance: "holder"}
			if rank == 0 {
				hop.Distance = "owner"
			}
			if err != nil {
				trace.Timeouts++
				hop.Error = err.Error()
				trace.Path = append(trace.Path, hop)
				if ctx.Err() != nil {
					break
				}
				continue
			}
			trace.Path = append(trace.Path, hop)
			recs = resp.Records
			answered = true
			if len(recs) > 0 {
				trace.Hops = lookupHops + 1
			}
		}
		for _, r := range recs {
			if r.Key != key || seen[r.Provider.ID] {
				continue
			}
			seen[r.Provider.ID] = true
			if len(r.Provider.Addrs) > 0 && r.Provider.ID != c.self.ID {
				c.t.AddAddrs(r.Provider.ID, r.Provider.Addrs, peerstore.AddressTTL)
			}
			out = append(out, peer.AddrInfo{ID: r.Provider.ID, Addrs: r.Provider.Addrs})
		}
		if len(recs) > 0 || (limit > 0 && len(out) >= limit) {
			break
		}
	}
	trace.Latency = time.Since(start)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	if !answered {
		return nil, trace, fmt.Errorf("%w: no holder of %s answered", routing.ErrLookupFailed, key.Short())
	}
	return out, trace, nil
}

// StoredProviders lists the providers of key this node holds itself (as owner or
// replica), for inspection and tests.
func (c *Chord) StoredProviders(key routing.Key) []peer.ID {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []peer.ID
	for _, r := range c.store.get(key, time.Now()) {
		out = append(out, r.Provider.ID)
	}
	return out
}

// RoutingTable shows the predecessor, the successor list and the distinct fingers
// (each with the index of the first finger that holds it and that finger's start).
func (c *Chord) RoutingTable() routing.Table {
	c.mu.Lock()
	defer c.mu.Unlock()
	entry := func(i int, p Peer) routing.TableEntry {
		return routing.TableEntry{Index: i, Peer: p.ID, Key: p.Key}
	}
	t := routing.Table{Algo: c.Name(), Self: entry(0, c.self)}
	pred := routing.TableSection{Name: "predecessor"}
	if !c.ring.pred.isZero() {
		pred.Entries = append(pred.Entries, entry(0, c.ring.pred))
	}
	succ := routing.TableSection{Name: "successors"}
	for i, s := range c.ring.succ {
		succ.Entries = append(succ.Entries, entry(i, s))
	}
	fingers := routing.TableSection{Name: "fingers"}
	idx, peers := c.ring.distinctFingers()
	for j, i := range idx {
		e := entry(i, peers[j])
		start := c.self.Key.Add(routing.PowerOfTwo(i))
		e.Start = &start
		fingers.Entries = append(fingers.Entries, e)
	}
	t.Sections = []routing.TableSection{pred, succ, fingers}
	return t
}
