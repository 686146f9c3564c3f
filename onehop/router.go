package onehop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// Name is the router's name in traces, metrics and the CLI.
const Name = "onehop"

// ErrClosed is returned by calls on a closed router.
var ErrClosed = errors.New("onehop: router closed")

// maxProvidedKeys bounds the keys this node republishes, so a runaway caller can't grow
// the republish set without limit.
const maxProvidedKeys = 1 << 16

// Router is the one-hop router. It is safe for concurrent use.
type Router struct {
	h       host.Host
	cfg     Config
	log     *slog.Logger
	self    member
	view    *view
	store   *providerStore
	metrics *metrics

	mu       sync.Mutex
	provided map[routing.Key]struct{} // keys this node announced, for republish
	suspects map[peer.ID]time.Time    // members that failed a request, until when
	// rechecking holds the suspects a recheck goroutine is asking (at most one each).
	rechecking map[peer.ID]struct{}
	closed     bool

	announced atomic.Bool // the join announcement was sent (or is pending)

	// recheckAfter is how long after suspecting a member the first recheck asks it
	// again (suspectRecheck; tests that need a suspicion to hold set it longer).
	recheckAfter time.Duration
	rechecks     sync.WaitGroup // running recheck goroutines; Add under mu while open
	// life ends at Close, cutting short a recheck's request to a dead member.
	life    context.Context
	endLife context.CancelFunc

	stop chan struct{}
	done chan struct{}
}

var (
	_ routing.Router             = (*Router)(nil)
	_ routing.MembershipListener = (*Router)(nil)
	_ routing.TableReporter      = (*Router)(nil)
	_ routing.ProvideStopper     = (*Router)(nil)
)

// New starts a one-hop router on h: it registers the stream handler and the
// republish loop. The view starts with only this node; feed it with PeerUp.
func New(h host.Host, cfg Config) (*Router, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil host", ErrBadConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	r := &Router{
		h:        h,
		cfg:      cfg,
		log:      logger.With("subsystem", "onehop"),
		self:     member{info: peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}, key: routing.PeerKey(h.ID())},
		view:     newView(),
		provided: make(map[routing.Key]struct{}),
		suspects: make(map[peer.ID]time.Time),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),

		rechecking:   make(map[peer.ID]struct{}),
		recheckAfter: suspectRecheck,
	}
	r.life, r.endLife = context.WithCancel(context.Background())
	r.store = newProviderStore(cfg, time.Now)
	r.metrics = newMetrics(cfg.Registerer, r.store)
	r.view.add(r.self.info)
	r.metrics.members.Set(1)
	h.SetStreamHandler(protocol.ID(ProtocolID), r.handleStream)
	go r.republishLoop()
	return r, nil
}

// Name returns "onehop".
func (r *Router) Name() string { return Name }

// Close stops the handler and the republish loop. It is idempotent.
func (r *Router) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.h.RemoveStreamHandler(protocol.ID(ProtocolID))
	close(r.stop)
	r.endLife()
	<-r.done
	r.rechecks.Wait()
	return nil
}

func (r *Router) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// PeerUp adds a member to the view (or updates its addresses).
func (r *Router) PeerUp(info peer.AddrInfo) {
	if info.ID == "" || info.ID == r.self.info.ID {
		return
	}
	if len(info.Addrs) > 0 {
		// So that a later NewStream can dial it without a separate discovery step.
		r.h.Peerstore().AddAddrs(info.ID, info.Addrs, time.Hour)
	}
	r.mu.Lock()
	delete(r.suspects, info.ID)
	r.mu.Unlock()
	if r.view.add(info) {
		r.metrics.members.Inc()
		if r.announced.CompareAndSwap(false, true) {
			go r.announce()
		}
	}
}

// announceDelay lets the burst of PeerUps that follows a gossip join fill the view
// before the announcement picks the successor.
const announceDelay = 500 * time.Millisecond

// announce tells this node's successor about it at once, by asking it for the owner of
// this node's own key. Gossip takes seconds to spread a join; until it has, lookups
// for keys this node now owns still go to the successor (their old owner), which can
// then redirect them here instead of answering wrongly.
func (r *Router) announce() {
	select {
	case <-r.stop:
		return
	case <-time.After(announceDelay):
	}
	succ := r.liveSuccessors(r.self.key, 2)
	if len(succ) < 2 || succ[1].info.ID == r.self.info.ID {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RPCTimeout.Std())
	defer cancel()
	if _, err := r.call(ctx, succ[1].info, &Message{Type: MsgFindOwner, Key: r.self.key}); err != nil {
		r.log.Debug("announce to successor failed", "successor", succ[1].info.ID, "err", err)
	}
}

// suspectTTL is how long a member that failed a request is left out of lookups
// unless gossip reports it up again or it shows it is alive (see alive); gossip's own
// failure detection usually removes a dead one for good well within that.
const suspectTTL = 30 * time.Second

// suspectRecheck is how soon a suspect is first asked again (then after twice as long,
// and so on). SWIM gives a suspect the same chance to refute: a member that failed one
// request because it was busy, not dead, answers the recheck and is back in lookups
// within about a second instead of after suspectTTL, during which every lookup for its
// keys would name the wrong owner. A dead member fails every recheck until gossip
// removes it or the suspicion runs out: a handful of requests per dead member.
const suspectRecheck = time.Second

// suspect leaves id out of owner choices for suspectTTL, or until it shows it is alive
// (see recheck): a member that just failed a request is most likely dead, and gossip
// has not said so yet.
func (r *Router) suspect(id peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	now := time.Now()
	if until, ok := r.suspects[id]; ok && now.Before(until) {
		return // already suspected
	}
	if len(r.suspects) >= maxSuspects {
		for p, until := range r.suspects {
			if now.After(until) {
				delete(r.suspects, p)
			}
		}
		if len(r.suspects) >= maxSuspects {
			return
		}
	}
	r.suspects[id] = now.Add(suspectTTL)
	if _, running := r.rechecking[id]; !running {
		r.rechecking[id] = struct{}{}
		r.rechecks.Add(1)
		go r.recheck(id)
	}
}

// recheck asks a suspect again, with doubling pauses, until it is no longer suspected
// (an answer lifts the suspicion, see call; so can gossip or its own request), the
// suspicion runs out, gossip removes it from the view, or the router closes.
func (r *Router) recheck(id peer.ID) {
	defer r.rechecks.Done()
	pause := r.recheckAfter
	for {
		select {
		case <-r.life.Done():
			return
		case <-time.After(pause):
		}
		info, ok := r.stillSuspect(id)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(r.life, r.cfg.RPCTimeout.Std())
		// Any request will do; asking for the owner of the suspect's own key is cheap
		// for it and, unlike the suspect asking for its own key, is not a join
		// announcement.
		_, err := r.call(ctx, info, &Message{Type: MsgFindOwner, Key: routing.PeerKey(id)})
		cancel()
		if err == nil {
			pause = 0 // lifted; the next turn ends this recheck unless it was suspected again
		} else {
			pause = max(2*pause, r.recheckAfter)
		}
	}
}

// stillSuspect returns the suspect's view entry while it is suspected and in the view.
// Otherwise its recheck ends, and it is struck from rechecking under the same lock that
// suspect reads it under, so a new suspicion always gets a recheck.
func (r *Router) stillSuspect(id peer.ID) (peer.AddrInfo, bool) {
	info, inView := r.view.get(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	if until, ok := r.suspects[id]; inView && ok && time.Now().Before(until) {
		return info, true
	}
	delete(r.rechecking, id)
	return peer.AddrInfo{}, false
}

const maxSuspects = 4096

// alive lifts the suspicion on id: it just answered us or sent us a well-formed request.
// A request that timed out on a busy (not dead) member would otherwise keep it out of
// lookups, and lookups answering wrongly, for the whole suspectTTL.
func (r *Router) alive(id peer.ID) {
	r.mu.Lock()
	delete(r.suspects, id)
	r.mu.Unlock()
}

func (r *Router) isSuspect(id peer.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	until, ok := r.suspects[id]
	return ok && time.Now().Before(until)
}

// liveSuccessors is view.successors without the members under suspicion.
func (r *Router) liveSuccessors(key routing.Key, n int) []member {
	r.mu.Lock()
	nsus := len(r.suspects)
	r.mu.Unlock()
	ms := r.view.successors(key, n+nsus)
	if nsus == 0 {
		return ms
	}
	now := time.Now()
	out := ms[:0]
	r.mu.Lock()
	for _, m := range ms {
		if until, ok := r.suspects[m.info.ID]; ok && now.Before(until) && m.info.ID != r.self.info.ID {
			continue
		}
		out = append(out, m)
	}
	r.mu.Unlock()
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// PeerDown removes a member from the view at once.
func (r *Router) PeerDown(id peer.ID) {
	if id == r.self.info.ID {
		return
	}
	if r.view.remove(id) {
		r.metrics.members.Dec()
	}
}

// RoutingTable shows the whole view in ring order: one-hop's routing state is the
// membership itself, N entries per node.
func (r *Router) RoutingTable() routing.Table {
	all := r.view.all()
	sec := routing.TableSection{Name: "members"}
	for i, m := range all {
		if m.info.ID == r.self.info.ID {
			continue
		}
		sec.Entries = append(sec.Entries, routing.TableEntry{Index: i, Peer: m.info.ID, Key: m.key})
	}
	return routing.Table{
		Algo:     Name,
		Self:     routing.TableEntry{Peer: r.self.info.ID, Key: r.self.key},
		Sections: []routing.TableSection{sec},
	}
}

// candidate is a node a lookup may ask, with the depth at which it was learned.
type candidate struct {
	member
	depth int
	asked bool
}

// Lookup finds the owner of key (its successor on the ring) and returns it followed
// by up to Replicas-1 of its successors, as the owner itself sees them. It asks the
// owner from this node's view; the owner confirms or redirects to a closer node.
// Errors: ErrClosed, routing.ErrLookupFailed (every candidate failed or MaxAttempts
// reached), ctx errors.
func (r *Router) Lookup(ctx context.Context, key routing.Key) ([]peer.AddrInfo, routing.Trace, error) {
	start := time.Now()
	owners, tr, err := r.lookup(ctx, key)
	tr.Latency = time.Since(start)
	r.observe(tr, err)
	return owners, tr, err
}

func (r *Router) observe(tr routing.Trace, err error) {
	if err != nil {
		r.metrics.lookups.WithLabelValues("error").Inc()
		return
	}
	r.metrics.lookups.WithLabelValues("ok").Inc()
	r.metrics.hops.Observe(float64(tr.Hops))
	r.metrics.latency.Observe(tr.Latency.Seconds())
}

func (r *Router) lookup(ctx context.Context, key routing.Key) ([]peer.AddrInfo, routing.Trace, error) {
	tr := routing.Trace{Algo: Name, Key: key}
	if r.isClosed() {
		return nil, tr, ErrClosed
	}
	var cands []*candidate
	seen := make(map[peer.ID]bool)
	failed := make(map[peer.ID]bool)
	answered := make(map[peer.ID]int) // depth of each node that answered
	addCands := func(ms []member, depth int) {
		for _, m := range ms {
			if seen[m.info.ID] {
				continue
			}
			seen[m.info.ID] = true
			cands = append(cands, &candidate{member: m, depth: depth})
		}
		// Ring order from the key: the first unasked candidate is the best owner guess.
		slices.SortStableFunc(cands, func(a, b *candidate) int {
			return routing.RingDistance(key, a.key).Cmp(routing.RingDistance(key, b.key))
		})
	}
	// A few extra successors so that timeouts on a stale owner have fallbacks.
	addCands(r.liveSuccessors(key, r.cfg.Replicas+r.cfg.MaxAttempts), 1)
	if len(cands) == 0 {
		return nil, tr, routing.ErrNoPeers
	}
	for attempts := 0; attempts < r.cfg.MaxAttempts; {
		var c *candidate
		for _, cand := range cands {
			if !cand.asked {
				c = cand
				break
			}
		}
		if c == nil {
			break
		}
		c.asked = true
		if c.info.ID == r.self.info.ID {
			// This node owns the key in its own view: nothing to ask.
			own := r.liveSuccessors(key, r.cfg.Replicas)
			tr.Hops = c.depth - 1
			if tr.Hops < 0 {
				tr.Hops = 0
			}
			return infos(own), tr, nil
		}
		attempts++
		tr.RPCs++
		t0 := time.Now()
		resp, err := r.call(ctx, c.info, &Message{Type: MsgFindOwner, Key: key})
		hop := routing.Hop{Peer: c.info.ID, Key: c.key, Depth: c.depth, RTT: time.Since(t0),
			Distance: distanceText(key, c.key)}
		if err != nil {
			if ctx.Err() != nil {
				return nil, tr, ctx.Err()
			}
			tr.Timeouts++
			hop.Error = err.Error()
			tr.Path = append(tr.Path, hop)
			failed[c.info.ID] = true
			r.suspect(c.info.ID)
			continue
		}
		tr.Path = append(tr.Path, hop)
		var ms []member
		for _, p := range resp.Peers {
			// Members this lookup already found dead are skipped: the asked node's
			// view is as stale as ours was, and it owns the key if it is the first
			// live one in its list.
			if p.ID == "" || failed[p.ID] || r.isSuspect(p.ID) {
				continue
			}
			ms = append(ms, member{info: p, key: routing.PeerKey(p.ID)})
		}
		answered[c.info.ID] = c.depth
		if len(ms) > 0 {
			if depth, ok := answered[ms[0].info.ID]; ok {
				// The asked node owns the key in its own view (or names as owner a
				// node that already answered this lookup, so is alive): the answer.
				tr.Hops = depth
				out := infos(ms)
				if len(out) > r.cfg.Replicas {
					out = out[:r.cfg.Replicas]
				}
				return out, tr, nil
			}
		}
		// A redirect: the asked node knows a closer owner.
		addCands(ms, c.depth+1)
	}
	return nil, tr, fmt.Errorf("%w: %d requests, %d timeouts", routing.ErrLookupFailed, tr.RPCs, tr.Timeouts)
}

func infos(ms []member) []peer.AddrInfo {
	out := make([]peer.AddrInfo, len(ms))
	for i, m := range ms {
		out[i] = m.info
	}
	return out
}

func distanceText(key, k routing.Key) string {
	return fmt.Sprintf("2^%.1f", routing.RingDistance(key, k).Log2())
}

// StopProviding forgets key: it is no longer republished. Records already stored on the
// owners expire after ProviderTTL.
func (r *Router) StopProviding(key routing.Key) {
	r.mu.Lock()
	delete(r.provided, key)
	r.mu.Unlock()
}

// Provide looks up the key's owners and stores this node as a provider on each of
// them (the owner and Replicas-1 successors). It succeeds when at least one stored it.
// The key is republished every RepublishInterval until Close.
func (r *Router) Provide(ctx context.Context, key routing.Key) (routing.Trace, error) {
	r.mu.Lock()
	if len(r.provided) < maxProvidedKeys {
		r.provided[key] = struct{}{}
	}
	r.mu.Unlock()
	return r.provide(ctx, key)
}

func (r *Router) provide(ctx context.Context, key routing.Key) (routing.Trace, error) {
	start := time.Now()
	owners, tr, err := r.lookup(ctx, key)
	if err != nil {
		tr.Latency = time.Since(start)
		return tr, err
	}
	self := peer.AddrInfo{ID: r.self.info.ID, Addrs: r.h.Addrs()}
	stored := 0
	var lastErr error
	for _, o := range owners {
		if o.ID == self.ID {
			if err := r.store.add(key, self); err == nil {
				stored++
			}
			continue
		}
		tr.RPCs++
		if _, err := r.call(ctx, o, &Message{Type: MsgAddProvider, Key: key, Peers: []peer.AddrInfo{self}}); err != nil {
			tr.Timeouts++
			lastErr = err
			continue
		}
		stored++
	}
	tr.Latency = time.Since(start)
	if stored == 0 {
		return tr, fmt.Errorf("%w: no owner stored the record: %v", routing.ErrLookupFailed, lastErr)
	}
	return tr, nil
}

// FindProviders looks up the key's owners and asks them, owner first, for providers;
// replicas answer when the owner is new or lost the records.
func (r *Router) FindProviders(ctx context.Context, key routing.Key, limit int) ([]peer.AddrInfo, routing.Trace, error) {
	start := time.Now()
	owners, tr, err := r.lookup(ctx, key)
	if err != nil {
		tr.Latency = time.Since(start)
		return nil, tr, err
	}
	lim := uint64(0)
	if limit > 0 {
		lim = uint64(min(limit, MaxPeersPerMessage))
	}
	found := make(map[peer.ID]peer.AddrInfo)
	for _, o := range owners {
		var provs []peer.AddrInfo
		if o.ID == r.self.info.ID {
			provs = r.store.get(key, int(lim))
		} else {
			tr.RPCs++
			resp, err := r.call(ctx, o, &Message{Type: MsgGetProviders, Key: key, Limit: lim})
			if err != nil {
				tr.Timeouts++
				continue
			}
			provs = resp.Peers
		}
		for _, p := range provs {
			found[p.ID] = p
		}
		if len(found) > 0 {
			break
		}
	}
	out := make([]peer.AddrInfo, 0, len(found))
	for _, p := range found {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b peer.AddrInfo) int { return cmpID(a.ID, b.ID) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	tr.Latency = time.Since(start)
	return out, tr, nil
}

func cmpID(a, b peer.ID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// call sends one request on a new stream and reads the response, within RPCTimeout.
// The stream is reset when the deadline passes (mocknet streams ignore deadlines).
func (r *Router) call(ctx context.Context, to peer.AddrInfo, req *Message) (*Message, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RPCTimeout.Std())
	defer cancel()
	if len(to.Addrs) > 0 {
		r.h.Peerstore().AddAddrs(to.ID, to.Addrs, time.Hour)
	}
	s, err := r.h.NewStream(ctx, to.ID, protocol.ID(ProtocolID))
	if err != nil {
		r.metrics.rpcs.WithLabelValues(req.Type.String(), "error").Inc()
		return nil, fmt.Errorf("onehop: open stream to %s: %w", to.ID.ShortString(), err)
	}
	stopReset := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stopReset()
	resp, err := func() (*Message, error) {
		if err := writeMessage(s, req); err != nil {
			return nil, err
		}
		if err := s.CloseWrite(); err != nil {
			return nil, err
		}
		return readMessage(bufio.NewReader(s))
	}()
	if err != nil {
		_ = s.Reset()
		r.metrics.rpcs.WithLabelValues(req.Type.String(), "error").Inc()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("onehop: %s to %s: %w", req.Type, to.ID.ShortString(), ctx.Err())
		}
		return nil, fmt.Errorf("onehop: %s to %s: %w", req.Type, to.ID.ShortString(), err)
	}
	_ = s.Close()
	if resp.Type != req.Type+1 || resp.Key != req.Key {
		r.metrics.rpcs.WithLabelValues(req.Type.String(), "error").Inc()
		return nil, fmt.Errorf("%w: %s answered with %s", ErrMalformed, req.Type, resp.Type)
	}
	r.metrics.rpcs.WithLabelValues(req.Type.String(), "ok").Inc()
	r.alive(to.ID)
	return resp, nil
}

// handleStream serves one request. A malformed or unexpected message resets the
// stream, and so does any request from a peer Config.IsMember rejects.
func (r *Router) handleStream(s network.Stream) {
	if from := s.Conn().RemotePeer(); r.cfg.IsMember != nil && !r.cfg.IsMember(from) {
		// Not a member: no answer, and no way into the view.
		r.log.Debug("refused a request from a non-member", "peer", from)
		_ = s.Reset()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RPCTimeout.Std())
	defer cancel()
	stopReset := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stopReset()
	req, err := readMessage(bufio.NewReader(s))
	if err != nil {
		r.log.Debug("bad request", "peer", s.Conn().RemotePeer(), "err", err)
		_ = s.Reset()
		return
	}
	r.alive(s.Conn().RemotePeer())
	resp := Message{Type: req.Type + 1, Key: req.Key}
	switch req.Type {
	case MsgFindOwner:
		if from := s.Conn().RemotePeer(); req.Key == routing.PeerKey(from) {
			// A node asking for the owner of its own key is announcing its join
			// (see announce): libp2p authenticated its ID, so take it into the view
			// now rather than when gossip gets here.
			if _, known := r.view.get(from); !known {
				r.PeerUp(peer.AddrInfo{ID: from, Addrs: []ma.Multiaddr{s.Conn().RemoteMultiaddr()}})
			}
		}
		resp.Peers = infos(r.liveSuccessors(req.Key, r.cfg.Replicas))
		if len(resp.Peers) > 0 && resp.Peers[0].ID == r.self.info.ID {
			resp.Peers[0].Addrs = r.h.Addrs()
		}
	case MsgAddProvider:
		from := s.Conn().RemotePeer()
		if len(req.Peers) != 1 || req.Peers[0].ID != from {
			// Only a peer itself may announce itself as a provider.
			r.metrics.stored.WithLabelValues("refused").Inc()
			_ = s.Reset()
			return
		}
		if err := r.store.add(req.Key, req.Peers[0]); err != nil {
			r.metrics.stored.WithLabelValues("refused").Inc()
			_ = s.Reset()
			return
		}
		r.metrics.stored.WithLabelValues("ok").Inc()
	case MsgGetProviders:
		lim := int(min(req.Limit, MaxPeersPerMessage))
		if lim == 0 {
			lim = MaxPeersPerMessage
		}
		resp.Peers = r.store.get(req.Key, lim)
	default:
		_ = s.Reset()
		return
	}
	if err := writeMessage(s, &resp); err != nil {
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

// republishLoop re-announces provided keys and sweeps expired records.
func (r *Router) republishLoop() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.RepublishInterval.Std())
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.store.sweep()
		r.mu.Lock()
		keys := make([]routing.Key, 0, len(r.provided))
		for k := range r.provided {
			keys = append(keys, k)
		}
		r.mu.Unlock()
		for _, k := range keys {
			select {
			case <-r.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 4*r.cfg.RPCTimeout.Std())
			if _, err := r.provide(ctx, k); err != nil {
				r.log.Debug("republish failed", "key", k.Short(), "err", err)
			}
			cancel()
		}
	}
}
