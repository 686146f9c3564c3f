package kademlia

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	lprouting "github.com/libp2p/go-libp2p/core/routing"
)

// Name is the router's name in traces, metrics and the CLI's --via flag.
const Name = "kademlia"

// putTimeout bounds one ADD_PROVIDER request (kad-dht uses 30 s; a LAN cluster
// answers in milliseconds, and a dead peer should not hold a Provide for long).
const putTimeout = 10 * time.Second

// maxBackgroundDials bounds the dials PeerUp starts at once, so a burst of gossip
// joins (a large cluster starting) does not open hundreds of connections together.
const maxBackgroundDials = 16

// Router is Kademlia through go-libp2p-kad-dht, fed by gossip and traced hop by hop.
// It implements routing.Router, routing.MembershipListener and routing.TableReporter.
// All methods are safe for concurrent use.
type Router struct {
	h     host.Host
	dht   *dht.IpfsDHT
	pm    *pb.ProtocolMessenger
	cfg   Config
	log   *slog.Logger
	m     *metrics
	proto protocol.ID

	// ctx bounds background dials started by PeerUp; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	dials  chan struct{} // semaphore, maxBackgroundDials

	mu       sync.Mutex
	pending  map[peer.ID]*dial        // background dials by peer, cancelled by PeerDown
	provided map[routing.Key]struct{} // keys this node announced, re-announced by reprovide
	members  map[peer.ID]struct{}     // alive according to gossip (PeerUp minus PeerDown)

	closeOnce sync.Once
	closeErr  error
}

var (
	_ routing.Router             = (*Router)(nil)
	_ routing.MembershipListener = (*Router)(nil)
	_ routing.TableReporter      = (*Router)(nil)
	_ routing.ProvideStopper     = (*Router)(nil)
)

// New starts a kad-dht server on h with cfg. It dials cfg.BootstrapPeers in the
// background; gossip adds the rest through PeerUp. The caller keeps ownership of h
// and closes it after Close. Errors: ErrBadConfig, or kad-dht's own.
func New(h host.Host, cfg Config) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	opts := []dht.Option{
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix(protocol.ID(cfg.ProtocolPrefix)),
		dht.BucketSize(cfg.BucketSize),
		dht.Concurrency(cfg.Concurrency),
		dht.Resiliency(cfg.Resiliency),
		// Always set, even empty: only our own bootstrap peers, never IPFS's.
		dht.BootstrapPeers(slices.Clone(cfg.BootstrapPeers)...),
		dht.ProviderManagerOpts(records.ProvideValidity(cfg.ProviderTTL.Std())),
	}
	if cfg.AutoRefresh {
		opts = append(opts, dht.RoutingTableRefreshPeriod(cfg.RefreshInterval.Std()))
	} else {
		opts = append(opts, dht.DisableAutoRefresh())
	}
	if opt := diversityOption(cfg.IPDiversity, h); opt != nil {
		opts = append(opts, opt)
	}
	opts = append(opts, memberOptions(cfg.IsMember)...)
	if cfg.StreamPerRequest {
		opts = append(opts, dht.WithCustomMessageSender(newRequestSender))
	}
	d, err := dht.New(dhtHost(h, cfg.IsMember), opts...)
	if err != nil {
		return nil, fmt.Errorf("kademlia: start kad-dht: %w", err)
	}
	pm, err := pb.NewProtocolMessenger(d.MessageSender())
	if err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("kademlia: protocol messenger: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Router{
		h:        h,
		dht:      d,
		pm:       pm,
		cfg:      cfg,
		log:      logger.With("subsystem", "kademlia"),
		proto:    protocol.ID(cfg.ProtocolPrefix) + "/kad/1.0.0",
		ctx:      ctx,
		cancel:   cancel,
		dials:    make(chan struct{}, maxBackgroundDials),
		pending:  make(map[peer.ID]*dial),
		provided: make(map[routing.Key]struct{}),
		members:  make(map[peer.ID]struct{}),
	}
	r.m = newMetrics(cfg.Registerer, func() int { return d.RoutingTable().Size() })
	for _, ai := range cfg.BootstrapPeers {
		// Bootstrap peers may not be dhtnode members (e.g. IPFS bootstrappers), so
		// always dial them: kad-dht adds them once identify shows they speak our DHT.
		r.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, cfg.PeerAddrTTL.Std())
		r.dialThenOffer(ai.ID, false)
	}
	if cfg.ReprovideInterval > 0 {
		r.every(cfg.ReprovideInterval.Std(), r.reprovide)
	}
	if cfg.ReofferInterval > 0 {
		r.every(cfg.ReofferInterval.Std(), r.reoffer)
	}
	return r, nil
}

// every runs fn each interval on its own goroutine until the router closes.
func (r *Router) every(interval time.Duration, fn func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-r.ctx.Done():
				return
			case <-ticker.C:
				fn()
			}
		}
	}()
}

// reoffer puts gossip members back into the table when kad-dht has dropped them.
func (r *Router) reoffer() {
	r.mu.Lock()
	members := make([]peer.ID, 0, len(r.members))
	for p := range r.members {
		members = append(members, p)
	}
	r.mu.Unlock()
	for _, p := range members {
		r.admit(p)
	}
}

// reprovide re-announces every provided key, one at a time (a burst of lookups
// would compete with the user's own).
func (r *Router) reprovide() {
	for _, k := range r.Provided() {
		if r.ctx.Err() != nil {
			return
		}
		if _, err := r.Provide(r.ctx, k); err != nil {
			r.log.Debug("reprovide failed", "key", k.Short(), "err", err)
		}
	}
}

// StopProviding forgets key: it is no longer re-announced. Records already stored
// (here and on other peers) expire after their TTL.
func (r *Router) StopProviding(key routing.Key) {
	r.mu.Lock()
	delete(r.provided, key)
	r.mu.Unlock()
}

// Provided lists the keys this node re-announces, in key order.
func (r *Router) Provided() []routing.Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]routing.Key, 0, len(r.provided))
	for k := range r.provided {
		out = append(out, k)
	}
	slices.SortFunc(out, routing.Key.Cmp)
	return out
}

// Name returns "kademlia".
func (r *Router) Name() string { return Name }

// Protocol is the DHT protocol ID this router speaks, e.g. /dhtnode/kad/1.0.0.
func (r *Router) Protocol() protocol.ID { return r.proto }

// DHT returns the underlying kad-dht, for callers that need more of it (values,
// FindPeer). Do not close it; Close the Router.
func (r *Router) DHT() *dht.IpfsDHT { return r.dht }

// Close stops kad-dht and the background dials. It does not close the host.
func (r *Router) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		r.wg.Wait()
		r.closeErr = r.dht.Close()
	})
	return r.closeErr
}

// PeerUp adds a gossip member to the peerstore (with Config.PeerAddrTTL) and offers
// it to the routing table at once, so a new node's table fills from gossip without
// waiting for a refresh. When the IP-diversity filter is on, the filter judges a peer
// by its live connections, so PeerUp dials first, in the background.
func (r *Router) PeerUp(info peer.AddrInfo) {
	if info.ID == "" || info.ID == r.h.ID() || r.ctx.Err() != nil {
		return
	}
	if len(info.Addrs) > 0 {
		r.h.Peerstore().AddAddrs(info.ID, info.Addrs, r.cfg.PeerAddrTTL.Std())
	}
	r.mu.Lock()
	r.members[info.ID] = struct{}{}
	r.mu.Unlock()
	r.admit(info.ID)
}

// admit offers a member to the table: at once, or after a background dial when the
// diversity filter needs a live connection to judge it.
func (r *Router) admit(p peer.ID) {
	if !r.dht.RoutingTable().UsefulNewPeer(p) {
		return // already in its bucket, or the bucket is full: no dial, no offer
	}
	if r.cfg.IPDiversity == DiversityOff || r.h.Network().Connectedness(p) == network.Connected {
		r.offer(p)
		return
	}
	r.mu.Lock()
	_, dialling := r.pending[p]
	r.mu.Unlock()
	if !dialling {
		r.dialThenOffer(p, true)
	}
}

// PeerDown removes a failed or departed member from the routing table at once,
// rather than waiting for a lookup to time out on it, and cancels a pending dial.
func (r *Router) PeerDown(id peer.ID) {
	r.mu.Lock()
	delete(r.members, id)
	if d, ok := r.pending[id]; ok {
		d.cancel()
		delete(r.pending, id)
	}
	r.mu.Unlock()
	r.dht.RoutingTable().RemovePeer(id)
}

// offer puts p in its k-bucket if there is room. Gossip members are marked not
// replaceable: gossip vouches they are alive and PeerDown removes them when they are
// not, which is Kademlia's preference for long-lived peers.
func (r *Router) offer(p peer.ID) {
	added, err := r.dht.RoutingTable().TryAddPeer(p, false, false)
	if err != nil {
		r.log.Debug("routing table refused peer", "peer", p, "err", err)
		return
	}
	if added {
		r.log.Debug("peer added to routing table", "peer", p)
	}
}

// dialThenOffer connects to p in the background and, if offer is set, offers it to
// the table once connected. A later PeerDown (or PeerUp) for p cancels it.
func (r *Router) dialThenOffer(p peer.ID, offer bool) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.ConnectTimeout.Std())
	d := &dial{cancel: cancel}
	r.mu.Lock()
	if old, ok := r.pending[p]; ok {
		old.cancel()
	}
	r.pending[p] = d
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			cancel()
			r.mu.Lock()
			if r.pending[p] == d { // a newer PeerUp may have replaced it
				delete(r.pending, p)
			}
			r.mu.Unlock()
		}()
		select {
		case r.dials <- struct{}{}:
			defer func() { <-r.dials }()
		case <-ctx.Done():
			return
		}
		if err := r.h.Connect(ctx, peer.AddrInfo{ID: p}); err != nil {
			r.log.Debug("dial for routing table failed", "peer", p, "err", err)
			return
		}
		if offer && ctx.Err() == nil {
			r.offer(p)
		}
	}()
}

// dial is one background dial, identified by pointer so only its owner forgets it.
type dial struct{ cancel context.CancelFunc }

// mapErr maps kad-dht's empty-table error onto the shared sentinel.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kb.ErrLookupFailure):
		return fmt.Errorf("kademlia: %w", routing.ErrNoPeers)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	default:
		return fmt.Errorf("kademlia: %w: %v", routing.ErrLookupFailed, err)
	}
}

// seeds are the peers kad-dht starts a lookup for target from: the k nearest in our
// own table (it computes the same list; see query.go runQuery).
func (r *Router) seeds(target routing.Key) []peer.ID {
	return r.dht.RoutingTable().NearestPeers(kb.ID(target[:]), r.cfg.BucketSize)
}

// traced runs fn with a context subscribed to kad-dht's query events and returns the
// trace state built from them. fn blocks; the events are consumed concurrently.
func (r *Router) traced(ctx context.Context, key routing.Key, fn func(context.Context) error) (*traceBuilder, error) {
	target := Target(key)
	tb := newTraceBuilder(r.h.ID(), target, time.Now(), r.seeds(target))
	qctx, cancel := context.WithCancel(ctx)
	qctx, events := lprouting.RegisterForQueryEvents(qctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range events {
			tb.observe(ev, time.Now())
		}
	}()
	err := fn(qctx)
	cancel()
	<-done
	return tb, err
}

// Lookup finds the k peers closest to Target(key) by XOR (this node included, when it
// is among them), closest first. Trace.Hops is the referral depth at which the
// closest peer was learned (0 when this node is closest). Errors: ctx's, or
// routing.ErrLookupFailed.
func (r *Router) Lookup(ctx context.Context, key routing.Key) ([]peer.AddrInfo, routing.Trace, error) {
	const op = "lookup"
	var ids []peer.ID
	tb, err := r.traced(ctx, key, func(qctx context.Context) error {
		var err error
		ids, err = r.dht.GetClosestPeers(qctx, DHTKey(key))
		return err
	})
	err = mapErr(err)
	if errors.Is(err, routing.ErrNoPeers) {
		err = nil // an empty table: this node is alone, so it is the closest live node
	}
	owners := r.rank(tb, ids)
	trace := tb.trace(Name, key, owners[0], time.Now())
	r.record(op, trace, err)
	if err != nil {
		return nil, trace, err
	}
	return r.addrInfos(owners), trace, nil
}

// rank keeps the peers that answered (a dead peer can be "heard of" from a stale
// table), adds this node, sorts by XOR distance to the target and keeps k.
func (r *Router) rank(tb *traceBuilder, ids []peer.ID) []peer.ID {
	out := make([]peer.ID, 0, len(ids)+1)
	out = append(out, r.h.ID())
	for _, p := range ids {
		if p != r.h.ID() && tb.answered[p] {
			out = append(out, p)
		}
	}
	out = tb.closest(out)
	if len(out) > r.cfg.BucketSize {
		out = out[:r.cfg.BucketSize]
	}
	return out
}

func (r *Router) addrInfos(ids []peer.ID) []peer.AddrInfo {
	out := make([]peer.AddrInfo, 0, len(ids))
	for _, p := range ids {
		if p == r.h.ID() {
			out = append(out, peer.AddrInfo{ID: p, Addrs: r.h.Addrs()})
			continue
		}
		out = append(out, r.h.Peerstore().PeerInfo(p))
	}
	return out
}

func (r *Router) record(op string, t routing.Trace, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	r.m.ops.WithLabelValues(op, result).Inc()
	r.m.rpcs.WithLabelValues(op).Add(float64(t.RPCs))
	r.m.timeouts.WithLabelValues(op).Add(float64(t.Timeouts))
	r.m.latency.WithLabelValues(op).Observe(t.Latency.Seconds())
	if err == nil {
		r.m.hops.WithLabelValues(op).Observe(float64(t.Hops))
	}
}

// Provide stores a provider record for key (naming this node) here and on the k
// peers closest to Target(key), as kad-dht's Provide does, but with each step
// traced: Trace covers the lookup plus one ADD_PROVIDER request per peer. It
// returns routing.ErrNoPeers (wrapped) when no other peer is known (the local
// record is still kept), and routing.ErrLookupFailed when every store failed.
func (r *Router) Provide(ctx context.Context, key routing.Key) (routing.Trace, error) {
	const op = "provide"
	c := cidOf(key)
	// brdcst=false: kad-dht only records us in our own provider store.
	if err := r.dht.Provide(ctx, c, false); err != nil {
		t := routing.Trace{Algo: Name, Key: key, Path: []routing.Hop{}}
		return t, fmt.Errorf("kademlia: local provider record: %w", err)
	}
	r.mu.Lock()
	r.provided[key] = struct{}{}
	r.mu.Unlock()
	var ids []peer.ID
	tb, err := r.traced(ctx, key, func(qctx context.Context) error {
		var err error
		ids, err = r.dht.GetClosestPeers(qctx, DHTKey(key))
		return err
	})
	err = mapErr(err)
	if err != nil {
		t := tb.trace(Name, key, "", time.Now())
		r.record(op, t, err)
		return t, err
	}
	owners := r.rank(tb, ids)
	self := peer.AddrInfo{ID: r.h.ID(), Addrs: r.dht.FilteredAddrs()}
	mhKey := c.Hash()
	var (
		mu       sync.Mutex
		attempts int
		stored   int
		wg       sync.WaitGroup
	)
	for _, p := range owners {
		if p == r.h.ID() {
			continue // our own record is already stored
		}
		attempts++
		tb.rpcs++
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, putTimeout)
			defer cancel()
			err := r.pm.PutProviderAddrs(pctx, p, mhKey, self)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				tb.timeouts++
				r.log.Debug("provider record not stored", "peer", p, "err", err)
				return
			}
			stored++
		}()
	}
	wg.Wait()
	t := tb.trace(Name, key, owners[0], time.Now())
	if stored == 0 {
		err = fmt.Errorf("kademlia: %w: none of %d peers stored the provider record", routing.ErrLookupFailed, attempts)
	}
	r.record(op, t, err)
	return t, err
}

// FindProviders returns up to limit providers of key (limit <= 0: every provider
// the lookup meets). Records this node holds come first and cost nothing (hops 0).
// Otherwise Trace.Hops is the depth of the peer credited with the first provider
// record: kad-dht publishes no event naming it, so it is the peer whose request was
// in flight when the record arrived, the one closest to the target if several were.
// Errors: ctx's, routing.ErrNoPeers, or routing.ErrLookupFailed when no provider was
// found.
func (r *Router) FindProviders(ctx context.Context, key routing.Key, limit int) ([]peer.AddrInfo, routing.Trace, error) {
	const op = "findprovs"
	target := Target(key)
	tb := newTraceBuilder(r.h.ID(), target, time.Now(), r.seeds(target))
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	qctx, events := lprouting.RegisterForQueryEvents(qctx)
	count := max(limit, 0)
	provs := r.dht.FindProvidersAsync(qctx, cidOf(key), count)

	var (
		found    []peer.AddrInfo
		answer   peer.ID
		credited bool
	)
	// live is events until it closes (when ctx is cancelled), then nil, so that
	// neither loop spins on a closed channel.
	live := events
	drain := func() {
		for live != nil {
			select {
			case ev, ok := <-live:
				if !ok {
					live = nil
					return
				}
				tb.observe(ev, time.Now())
			default:
				return
			}
		}
	}
loop:
	for {
		select {
		case ev, ok := <-live:
			if !ok {
				live = nil
				continue
			}
			tb.observe(ev, time.Now())
		case p, ok := <-provs:
			if !ok {
				break loop
			}
			if !credited {
				// Events published before this record are in the buffer: read
				// them so the responder's SendingQuery is seen.
				drain()
				credited = true
				if out := tb.outstanding(); len(out) > 0 {
					answer = tb.closest(out)[0]
				} else {
					answer = r.h.ID() // from our own provider store
				}
			}
			found = append(found, p)
		}
	}
	cancel()
	for ev := range events {
		tb.observe(ev, time.Now())
	}
	t := tb.trace(Name, key, answer, time.Now())
	var err error
	if len(found) == 0 {
		switch {
		case ctx.Err() != nil:
			err = ctx.Err()
		case tb.rpcs == 0 && r.dht.RoutingTable().Size() == 0:
			err = fmt.Errorf("kademlia: %w", routing.ErrNoPeers)
		default:
			err = fmt.Errorf("kademlia: %w: no providers found", routing.ErrLookupFailed)
		}
	}
	r.record(op, t, err)
	return found, t, err
}
