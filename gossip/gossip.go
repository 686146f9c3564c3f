package gossip

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// State is a member's state as this node sees it.
type State string

// Member states, as in Serf: suspect is SWIM's "not answering, not yet declared
// dead"; dead means failed without leaving; left means it said goodbye.
const (
	StateAlive   State = "alive"
	StateSuspect State = "suspect"
	StateDead    State = "dead"
	StateLeft    State = "left"
)

// Member is one cluster member: its memberlist identity (Name, gossip Addr) and
// its libp2p identity from the signed metadata (PeerID, Addrs).
type Member struct {
	Name  string
	Addr  string // gossip "host:port"
	State State
	// PeerID and Addrs come from verified metadata: the member proved it holds
	// the private key of PeerID.
	PeerID peer.ID
	Addrs  []ma.Multiaddr
}

// AddrInfo returns the member's libp2p peer ID and multiaddrs.
func (m Member) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: m.PeerID, Addrs: slices.Clone(m.Addrs)}
}

// EventType names a membership change.
type EventType string

// Event types. Leave is a graceful departure, failed a member declared dead by
// SWIM failure detection; update is new metadata (e.g. changed multiaddrs).
const (
	EventJoin   EventType = "join"
	EventLeave  EventType = "leave"
	EventFailed EventType = "failed"
	EventUpdate EventType = "update"
)

// Event is delivered to subscribers; Member is a snapshot taken at the change.
type Event struct {
	Type   EventType
	Member Member
}

// Errors returned by Gossip methods.
var (
	// ErrShutdown is returned by methods called after Shutdown.
	ErrShutdown = errors.New("gossip: shut down")
	// ErrLeft is returned by Join after Leave: memberlist cannot rejoin once left.
	ErrLeft = errors.New("gossip: this node has left the cluster; start a new one to rejoin")
)

// JoinError explains why a join reached no member.
type JoinError struct {
	Addrs []string
	Err   error  // what memberlist returned
	Hint  string // our reading of it, for humans
}

func (e *JoinError) Error() string {
	what := flattenErr(e.Err)
	if e.Hint != "" {
		return fmt.Sprintf("join %s: %s (%s)", strings.Join(e.Addrs, ","), e.Hint, what)
	}
	return fmt.Sprintf("join %s: %s", strings.Join(e.Addrs, ","), what)
}

func (e *JoinError) Unwrap() error { return e.Err }

// flattenErr renders memberlist's multierror (one error per address, spread
// over several lines) on one line.
func flattenErr(err error) string {
	if m, ok := err.(interface{ WrappedErrors() []error }); ok {
		parts := make([]string, 0, len(m.WrappedErrors()))
		for _, e := range m.WrappedErrors() {
			parts = append(parts, e.Error())
		}
		return strings.Join(parts, "; ")
	}
	return err.Error()
}

// Gossip is one member of a SWIM gossip cluster (hashicorp/memberlist) that
// advertises a signed libp2p identity, tracks every member's state (including
// failed and left ones, until reaped), delivers ordered membership events, and
// re-joins by itself: retry-join for seeds, reconnect for failed members.
type Gossip struct {
	cfg     Config
	logger  *slog.Logger
	key     crypto.PrivKey
	id      peer.ID
	name    string
	metrics *metrics
	ml      *memberlist.Memberlist
	bound   string
	bq      *memberlist.TransmitLimitedQueue // our own broadcasts (leave intents)
	// metaCache holds the verified metadata of members, possibly shared with
	// other members in this process (Config.MetaCache).
	metaCache *MetaCache

	mu    sync.Mutex
	addrs []ma.Multiaddr
	meta  []byte
	// announce is the gossip address memberlist announces us at and issued the
	// freshness value of meta, both signed in it.
	announce netip.AddrPort
	issued   uint64
	// forgotten keeps, for members reaped from members, the oldest record we
	// would still accept (bounded by maxForgotten).
	forgotten map[string]uint64
	// refusalLog rate-limits refusal warnings per member and reason.
	refusalLog map[string]time.Time
	// join remembers how our joins went, for JoinStatus.
	join        joinRecord
	members     map[string]*memberRecord
	intents     map[string]time.Time // leave intents received, by member name
	seenIntents map[string]uint64    // newest intent timestamp per name, for dedup
	// recentIntents keeps the raw intents heard within intentTTL, passed on in
	// push/pull so that members who missed the broadcast still learn of them.
	recentIntents map[string]recentIntent
	subs          map[*subscriber]struct{}
	left          bool
	closed        bool

	leaveMu      sync.Mutex
	shutdownOnce sync.Once
	stop         chan struct{}
	wg           sync.WaitGroup
}

type memberRecord struct {
	Member
	changed time.Time // last state change, local clock
	issued  uint64    // freshness of the newest record accepted (NodeMeta.Issued)
}

// intentTTL is how long a received leave intent turns the member's next
// NotifyLeave into "left" rather than "failed".
const intentTTL = 2 * time.Minute

// New validates cfg, binds the transport, joins nothing yet (but starts
// retry-join in the background if cfg.RetryJoin is set) and returns a running
// member advertising key's peer ID and addrs. It returns *MetaSizeError if the
// signed metadata would exceed memberlist's 512-byte limit, and a wrapped
// ErrInvalidConfig for bad configuration.
func New(cfg Config, key crypto.PrivKey, addrs []ma.Multiaddr) (*Gossip, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if key == nil {
		return nil, fmt.Errorf("%w: no private key", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("gossip: peer ID from key: %w", err)
	}
	name := cfg.NodeName
	if name == "" {
		name = id.String()
	}
	logger := cfg.Logger
	if logger == nil {
		logger = discardLogger()
	}
	logger = logger.With("subsystem", "gossip")
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			m.unregister(cfg.Registerer)
		}
	}()
	g := &Gossip{
		cfg: cfg, logger: logger, key: key, id: id, name: name, metrics: m,
		addrs:         slices.Clone(addrs),
		forgotten:     make(map[string]uint64),
		refusalLog:    make(map[string]time.Time),
		members:       make(map[string]*memberRecord),
		metaCache:     cfg.MetaCache,
		intents:       make(map[string]time.Time),
		seenIntents:   make(map[string]uint64),
		recentIntents: make(map[string]recentIntent),
		subs:          make(map[*subscriber]struct{}),
		stop:          make(chan struct{}),
	}
	if err := m.watchJoined(cfg.Registerer, func() bool { return g.JoinStatus().Joined }); err != nil {
		return nil, err
	}

	mlLogger := newMemberlistLogger(logger, g.noteMemberlistLog)
	transport := cfg.Transport
	if transport == nil {
		transport, err = listen(cfg.bindAddr(), mlLogger)
		if err != nil {
			return nil, err
		}
	}
	ip, port, err := transport.FinalAdvertiseAddr("", 0)
	if err != nil {
		_ = transport.Shutdown()
		return nil, fmt.Errorf("gossip: transport address: %w", err)
	}
	g.bound = net.JoinHostPort(ip.String(), strconv.Itoa(port))
	if nt, ok := transport.(*memberlist.NetTransport); ok {
		host, _, _ := splitHostPort(cfg.bindAddr())
		g.bound = net.JoinHostPort(host, strconv.Itoa(nt.GetAutoBindPort()))
	}
	if m != nil {
		transport = newCountingTransport(transport, m, cfg.transportName())
	}

	mc, _ := profileConfig(cfg.Profile) // validated above
	mc.Name = name
	mc.Transport = transport
	mc.AdvertiseAddr, mc.AdvertisePort = "", 0
	if cfg.AdvertiseAddr != "" {
		mc.AdvertiseAddr, mc.AdvertisePort, _ = splitHostPort(cfg.AdvertiseAddr) // validated above
	}
	mc.SecretKey = slices.Clone(cfg.SecretKey)
	mc.DeadNodeReclaimTime = DeadNodeReclaimTime
	h := &hooks{g: g}
	mc.Delegate, mc.Events, mc.Alive, mc.Merge = h, h, h, h
	mc.Logger = mlLogger
	if cfg.Tune != nil {
		cfg.Tune(mc)
		mc.Delegate, mc.Events, mc.Alive, mc.Merge = h, h, h, h
		mc.Transport, mc.Name, mc.Logger, mc.LogOutput = transport, name, mlLogger, nil
	}
	g.bq = &memberlist.TransmitLimitedQueue{NumNodes: g.numAlive, RetransmitMult: mc.RetransmitMult}

	// Sign for the address memberlist will announce: it asks the transport the
	// same question when it starts.
	advIP, advPort, err := transport.FinalAdvertiseAddr(mc.AdvertiseAddr, mc.AdvertisePort)
	if err == nil {
		g.announce, err = announceAddr(advIP, advPort)
	}
	if err == nil {
		g.issued = uint64(time.Now().UnixNano())
		g.meta, err = SignMeta(name, key, g.announce, g.issued, addrs)
	}
	if err != nil {
		_ = transport.Shutdown()
		return nil, fmt.Errorf("gossip: %w", err)
	}

	ml, err := memberlist.Create(mc)
	if err != nil {
		_ = transport.Shutdown()
		return nil, fmt.Errorf("gossip: start memberlist: %w", err)
	}
	g.mu.Lock()
	g.ml = ml // memberlist may already call our delegates: they read g.ml under g.mu
	self := g.members[g.name]
	stale := self == nil || self.issued < g.issued
	g.mu.Unlock()
	if stale {
		// We re-signed while memberlist was starting (it already heard a newer
		// record of ours from the others): announce the current one.
		g.announceMeta()
	}
	if ln := ml.LocalNode(); !g.signedForAnnounced(ln) {
		// The transport answered differently the second time (an interface
		// changed in between): sign what memberlist actually announces.
		if a, err := announceAddr(ln.Addr, int(ln.Port)); err == nil {
			g.mu.Lock()
			g.announce, g.issued = a, g.nextIssuedLocked()
			meta, err := SignMeta(name, key, g.announce, g.issued, addrs)
			if err == nil {
				g.meta = meta
			}
			g.mu.Unlock()
			if err == nil {
				g.announceMeta()
			}
		}
	}
	ok = true
	logger.Info("gossip started", "name", name, "addr", g.bound, "profile", cfg.Profile,
		"encrypted", len(cfg.SecretKey) > 0, "peer", id)

	g.wg.Add(1)
	go g.maintain()
	if len(cfg.RetryJoin) > 0 {
		g.wg.Add(1)
		go g.retryJoin(slices.Clone(cfg.RetryJoin))
	}
	return g, nil
}

// signedForAnnounced reports whether our signed metadata names the address
// memberlist announces for us.
func (g *Gossip) signedForAnnounced(ln *memberlist.Node) bool {
	a, err := announceAddr(ln.Addr, int(ln.Port))
	return err == nil && a == g.announce
}

// listen binds memberlist's UDP+TCP socket transport. With port 0 the kernel
// picks the TCP port and UDP must get the same one, which can race with other
// processes, so that case retries a few times as memberlist itself does.
func listen(bind string, logger *log.Logger) (*memberlist.NetTransport, error) {
	host, port, err := splitHostPort(bind)
	if err != nil {
		return nil, fmt.Errorf("%w: bind address: %v", ErrInvalidConfig, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("%w: bind address %q: host must be an IP address", ErrInvalidConfig, bind)
	}
	tries := 1
	if port == 0 {
		tries = 10
	}
	for i := 0; ; i++ {
		nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{host},
			BindPort:  port,
			Logger:    logger,
		})
		if err == nil {
			return nt, nil
		}
		if i+1 >= tries || !strings.Contains(err.Error(), "address already in use") {
			return nil, fmt.Errorf("gossip: listen on %s: %w", bind, err)
		}
	}
}

// Join contacts the given "host:port" members and merges state with them. It
// returns how many answered; if none did, a *JoinError whose Hint says what
// probably went wrong (nothing listening, no answer, or a cluster secret that
// does not match). After Leave it returns ErrLeft, after Shutdown ErrShutdown.
func (g *Gossip) Join(addrs []string) (int, error) {
	g.mu.Lock()
	closed, left := g.closed, g.left
	g.mu.Unlock()
	switch {
	case closed:
		return 0, ErrShutdown
	case left:
		return 0, ErrLeft
	case len(addrs) == 0:
		return 0, &JoinError{Err: errors.New("no addresses given")}
	}
	n, err := g.ml.Join(addrs)
	if err != nil {
		g.metrics.joinFailed()
		je := &JoinError{Addrs: slices.Clone(addrs), Err: err, Hint: joinHint(err, len(g.cfg.SecretKey) > 0)}
		g.noteJoin(je)
		return n, je
	}
	g.noteJoin(nil)
	return n, nil
}

// joinHint reads memberlist's join error and names the likely cause. A secret
// mismatch shows up as a push/pull the other side drops or that we cannot
// decrypt, depending on which side has which key.
func joinHint(err error, encrypted bool) string {
	s := flattenErr(err)
	has := func(subs ...string) bool {
		for _, sub := range subs {
			if strings.Contains(s, sub) {
				return true
			}
		}
		return false
	}
	switch {
	case has("invalid msgType (19)"):
		// 19 is the length byte of "/multistream/1.0.0\n", libp2p's greeting.
		return "that port speaks libp2p, not gossip: the member probably gossips over libp2p; join its /p2p/ multiaddr over libp2p"
	case has(ErrMetaVersion.Error()):
		return "refused to merge with that cluster: one of its members runs an older dhtnode whose metadata format is no longer accepted"
	case has(ErrMetaSignature.Error(), ErrMalformedMeta.Error(), ErrAnnouncedElsewhere.Error()):
		return "refused to merge with that cluster: one of its members has metadata that does not decode or verify"
	case has("remote state is encrypted and encryption is not configured"):
		return "no member accepted us; check the cluster secret: the cluster uses one and this node has none"
	case has("no installed keys could decrypt"):
		return "no member accepted us; check the cluster secret: it differs from the cluster's"
	case has("encryption is configured but remote state is not encrypted"):
		return "no member accepted us; check the cluster secret: this node has one and the cluster does not"
	case has("connection refused", ErrUnreachable.Error()):
		return "nothing is listening for gossip there (a member that gossips over libp2p has no gossip port: join its /p2p/ multiaddr over libp2p)"
	case has("i/o timeout", "deadline exceeded"):
		return "no answer: wrong address, a firewall, or the node is down"
	case has("no such host", "failed to resolve"):
		return "cannot resolve the address"
	case has("EOF", "connection reset", "broken pipe", "ecrypt", "ncrypt", "message authentication failed"):
		if encrypted {
			return "no member accepted us; check the cluster secret (this node has one: is the cluster's the same?), or whether that port speaks libp2p rather than gossip"
		}
		return "no member accepted us; check the cluster secret (this node has none: does the cluster use one?), or whether that port speaks libp2p rather than gossip"
	}
	return ""
}

// Members returns every member this node knows, sorted by name: alive and
// suspect ones, failed (dead) ones until ReconnectTimeout, and left ones until
// TombstoneTimeout. The local node is included.
func (g *Gossip) Members() []Member {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Member, 0, len(g.members))
	for _, r := range g.members {
		out = append(out, r.snapshot())
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Local returns this node as a member.
func (g *Gossip) Local() Member {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.members[g.name]; r != nil {
		return r.snapshot()
	}
	return Member{Name: g.name, Addr: g.bound, State: StateAlive, PeerID: g.id, Addrs: slices.Clone(g.addrs)}
}

func (r *memberRecord) snapshot() Member {
	m := r.Member
	m.Addrs = slices.Clone(m.Addrs)
	return m
}

// BoundAddr returns the "host:port" the gossip transport is bound to, with the
// real port when the configured one was 0.
func (g *Gossip) BoundAddr() string { return g.bound }

// SetAddrs re-signs the metadata with new multiaddrs and gossips it; the others
// see an update event. It returns *MetaSizeError if the addresses do not fit.
func (g *Gossip) SetAddrs(addrs []ma.Multiaddr) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrShutdown
	}
	issued := g.nextIssuedLocked()
	meta, err := SignMeta(g.name, g.key, g.announce, issued, addrs)
	if err != nil {
		g.mu.Unlock()
		return fmt.Errorf("gossip: %w", err)
	}
	g.addrs, g.meta, g.issued = slices.Clone(addrs), meta, issued
	if r := g.members[g.name]; r != nil {
		r.Addrs = slices.Clone(addrs)
	}
	g.mu.Unlock()
	// UpdateNode waits for the broadcast to go out; the change is already applied
	// locally, so a timeout only means the others hear of it a little later.
	g.announceMeta()
	return nil
}

// Leave tells the cluster this node is going away and waits up to timeout
// (0 = DefaultLeaveTimeout) for the news to go out. First a signed leave intent is
// gossiped, so that the others record "left" rather than "failed", then
// memberlist's own leave. The node keeps answering gossip until Shutdown.
// Calling it twice is harmless; after Shutdown it returns ErrShutdown.
func (g *Gossip) Leave(timeout time.Duration) error {
	g.leaveMu.Lock()
	defer g.leaveMu.Unlock()
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrShutdown
	}
	if g.left {
		g.mu.Unlock()
		return nil
	}
	g.left = true
	g.mu.Unlock()
	if timeout <= 0 {
		timeout = DefaultLeaveTimeout
	}
	deadline := time.Now().Add(timeout)

	if g.numAlive() > 1 {
		// The intent must be newer than our last record: the others refuse any
		// record not newer than our leave, so our bytes cannot be replayed after it.
		g.mu.Lock()
		at := g.nextIssuedLocked()
		g.mu.Unlock()
		intent, err := signLeaveIntent(g.name, at, g.key)
		if err != nil {
			return err
		}
		done := make(chan struct{}, 1)
		g.bq.QueueBroadcast(&intentBroadcast{name: g.name, msg: intent.marshal(), notify: done})
		select {
		case <-done:
		case <-time.After(timeout / 2):
			g.logger.Debug("leave intent not fully broadcast before timeout")
		}
	}
	err := g.ml.Leave(time.Until(deadline))
	g.mu.Lock()
	g.setStateLocked(g.name, StateLeft)
	g.mu.Unlock()
	if err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	g.logger.Info("left the cluster")
	return nil
}

// Shutdown stops gossiping at once (without Leave, the others will declare this
// node failed), stops the background loops and closes every subscription.
// Safe to call more than once.
func (g *Gossip) Shutdown() error {
	var err error
	g.shutdownOnce.Do(func() {
		g.mu.Lock()
		g.closed = true
		g.mu.Unlock()
		close(g.stop)
		err = g.ml.Shutdown()
		g.wg.Wait()
		g.mu.Lock()
		subs := g.subs
		g.subs = map[*subscriber]struct{}{}
		g.mu.Unlock()
		for s := range subs {
			s.close()
		}
		g.logger.Info("gossip stopped")
	})
	return err
}

// numAlive counts alive and suspect members including ourselves; it sizes the
// retransmit count of our broadcasts, as memberlist does for its own.
func (g *Gossip) numAlive() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, r := range g.members {
		if r.State == StateAlive || r.State == StateSuspect {
			n++
		}
	}
	return max(n, 1)
}

// setStateLocked changes a record's state and refreshes the metrics. g.mu held.
func (g *Gossip) setStateLocked(name string, s State) {
	r := g.members[name]
	if r == nil || r.State == s {
		return
	}
	r.State = s
	r.changed = time.Now()
	g.updateGaugesLocked()
}

func (g *Gossip) updateGaugesLocked() {
	if g.metrics == nil {
		return
	}
	counts := make(map[State]int, 4)
	for _, r := range g.members {
		counts[r.State]++
	}
	g.metrics.setMembers(counts)
}

// retryJoin is Serf's retry_join: keep trying the seeds until one join works.
func (g *Gossip) retryJoin(addrs []string) {
	defer g.wg.Done()
	for attempt := 1; ; attempt++ {
		n, err := g.Join(addrs)
		if err == nil {
			g.logger.Info("retry-join succeeded", "seeds", addrs, "contacted", n, "attempt", attempt)
			return
		}
		if errors.Is(err, ErrShutdown) || errors.Is(err, ErrLeft) {
			return
		}
		g.logger.Warn("retry-join failed; will retry", "seeds", addrs, "attempt", attempt,
			"err", err, "retry_in", g.cfg.RetryJoinInterval)
		select {
		case <-g.stop:
			return
		case <-time.After(g.cfg.RetryJoinInterval):
		}
	}
}

// maintain runs Serf-style reconnect and reaping every ReconnectInterval.
// memberlist forgets a dead member after GossipToTheDeadTime (30 s on LAN) and
// never contacts it again, so after a partition longer than that the two sides
// would stay split forever; trying to Join one failed member per interval heals it.
func (g *Gossip) maintain() {
	defer g.wg.Done()
	t := time.NewTicker(g.cfg.ReconnectInterval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		g.reap()
		g.reconnect()
	}
}

func (g *Gossip) reconnect() {
	g.mu.Lock()
	if g.left || g.closed {
		g.mu.Unlock()
		return
	}
	var failed []Member
	for _, r := range g.members {
		if r.State == StateDead && time.Since(r.changed) < g.cfg.ReconnectTimeout {
			failed = append(failed, r.Member)
		}
	}
	g.mu.Unlock()
	if len(failed) == 0 {
		return
	}
	m := failed[rand.IntN(len(failed))]
	if _, err := g.Join([]string{m.Addr}); err != nil {
		g.logger.Debug("reconnect to failed member did not work", "member", m.Name, "addr", m.Addr, "err", err)
		return
	}
	g.logger.Info("reconnected to failed member", "member", m.Name, "addr", m.Addr)
}

// reap forgets failed members after ReconnectTimeout and left ones after
// TombstoneTimeout, and expires old leave intents.
func (g *Gossip) reap() {
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := false
	for name, r := range g.members {
		if (r.State == StateDead && time.Since(r.changed) > g.cfg.ReconnectTimeout) ||
			(r.State == StateLeft && name != g.name && time.Since(r.changed) > g.cfg.TombstoneTimeout) {
			g.forgetLocked(name)
			delete(g.members, name)
			g.metaCache.Forget(name)
			delete(g.seenIntents, name)
			changed = true
			g.logger.Debug("reaped member", "member", name, "state", r.State)
		}
	}
	for name, at := range g.intents {
		if time.Since(at) > intentTTL {
			delete(g.intents, name)
		}
	}
	for name, ri := range g.recentIntents {
		if time.Since(ri.at) > intentTTL {
			delete(g.recentIntents, name)
		}
	}
	g.pruneRefusalLogLocked()
	if changed {
		g.updateGaugesLocked()
	}
}
