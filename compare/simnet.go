package compare

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/gossip"
	"github.com/dhtnode/dhtnode/internal/memhost"
	"github.com/dhtnode/dhtnode/membership"
	"github.com/hashicorp/memberlist"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// errUnreachable is what a dial to a departed node gets: the simulated network refuses
// it at once (the modelled latency charges a timeout penalty instead of waiting).
var errUnreachable = errors.New("compare: peer unreachable (departed)")

// trafficCounter counts one protocol's messages and bytes over all nodes: every Write
// on its streams, by requester and responder alike (each protocol writes one framed
// message per Write).
type trafficCounter struct {
	msgs, bytes atomic.Uint64
}

type trafficSnapshot struct{ msgs, bytes uint64 }

func (c *trafficCounter) snapshot() trafficSnapshot {
	return trafficSnapshot{msgs: c.msgs.Load(), bytes: c.bytes.Load()}
}

// simNode is one incarnation of a node slot.
type simNode struct {
	slot, inc int
	id        peer.ID
	info      peer.AddrInfo
	host      host.Host // nil when no protocol needs one
	chord     *chord.MemTransport
	gossip    *gossip.Gossip
	routers   map[string]Router
	unsub     func()
	fedDone   chan struct{}
	// members feeds gossip's events to the routers (nil without gossip); its Up
	// count is how many members this node's gossip reported alive (for convergence).
	members *membership.Dispatcher
}

// simNet is N nodes on one in-memory libp2p network (routers) and one gossip MemNetwork
// (membership), with every protocol's router on every node, so all protocols see the
// same nodes and the same churn at the same instants.
type simNet struct {
	cfg   Config
	n     int
	specs []protocolSpec
	model *LatencyModel
	log   *slog.Logger
	quiet *slog.Logger // for the routers: their debug logs are noise here
	// hosts carries the routers that run on libp2p (Kademlia, one-hop): memhost's
	// hosts, not mocknet's, whose per-connection identify, links and peerstores were
	// more than half of the heap at N = 512.
	hosts *memhost.Network
	mem   *gossip.MemNetwork // nil when no protocol needs gossip
	// chordNet carries Chord between the nodes (nil without Chord): no libp2p host.
	chordNet *chord.MemNetwork
	// needHost: some protocol runs on a libp2p host (Kademlia, one-hop).
	needHost bool
	// metaCache is shared by every simulated member: each member's signed metadata
	// is verified once, not once per member (N² Ed25519 checks, and N² decoded
	// copies of the addresses, at N = 1024 about 50 CPU-seconds and 0.65 GB).
	metaCache *gossip.MetaCache
	oracle    *Oracle
	traffic   map[string]*trafficCounter

	// mu guards the node sets below; every new connection of every router reads
	// live (reachable), so readers share it.
	mu      sync.RWMutex
	live    map[peer.ID]*simNode // reachable: started and not departed
	slots   []*simNode           // current incarnation per slot (nil while replaced)
	slotMu  []sync.Mutex         // serializes churn events on one slot
	nextInc []int
	coords  map[peer.ID]Coord // every node ever, for latency of old traces
	addrSeq int
	rng     *rand.Rand   // bootstrap choice; deterministic per seed
	liars   map[int]bool // lying slots (Config.Byzantine), set on first use under mu
	// onStart and onLookup, when set, are called as each initial node has started and
	// each lookup has finished (progress display).
	onStart, onLookup func()
	// startWorkers is how many initial nodes start at once (startInitial).
	startWorkers int
}

func newSimNet(cfg Config, n int, model *LatencyModel) *simNet {
	s := &simNet{
		cfg: cfg, n: n, model: model, log: cfg.Logger,
		quiet:   slog.New(slog.DiscardHandler),
		hosts:   memhost.NewNetwork(),
		oracle:  NewOracle(),
		traffic: make(map[string]*trafficCounter),
		live:    make(map[peer.ID]*simNode),
		slots:   make([]*simNode, n),
		slotMu:  make([]sync.Mutex, n),
		nextInc: make([]int, n),
		coords:  make(map[peer.ID]Coord),
		rng:     stream(cfg.Seed, "bootstrap", uint64(n), 0),
	}
	s.hosts.Dial = func(_, to peer.ID) error { return s.reachable(to) }
	needGossip := cfg.Feed == FeedGossip
	for _, p := range cfg.Protocols {
		spec := protocols[p]
		s.specs = append(s.specs, spec)
		s.traffic[p] = &trafficCounter{}
		if spec.gossipFed {
			needGossip = true
		}
		if spec.needsHost {
			s.needHost = true
		}
		if p == ProtoChord {
			c := s.traffic[p]
			s.chordNet = chord.NewMemNetwork()
			s.chordNet.Dial = func(_, to peer.ID) error { return s.reachable(to) }
			s.chordNet.Count = func(n int) {
				c.msgs.Add(1)
				c.bytes.Add(uint64(n))
			}
		}
	}
	// With gossip, nodes start four at a time (a join waits on gossip's push/pull). A
	// run without gossip or libp2p hosts (Chord alone on its in-memory network) starts
	// them one by one: a join is then a few in-memory lookups, 16,384 of them take
	// about a minute, and each lands on a ring that already holds every earlier
	// joiner. Joined four at a time, faster than one stabilization round, joiners
	// land in the same gaps with the same successor, and stabilization takes a round
	// per joiner in a gap to sort them out: minutes of warm-up at N = 2048, with
	// rounds 8 s apart at N = 16,384 far more.
	s.startWorkers = 4
	if !needGossip && !s.needHost {
		s.startWorkers = 1
	}
	if needGossip {
		s.mem = gossip.NewMemNetwork(gossip.WithQueueDepth(simGossipQueueDepth))
		s.metaCache = gossip.NewMetaCache()
	}
	return s
}

// feeds reports whether gossip events reach spec's router.
func (s *simNet) feeds(spec protocolSpec) bool {
	return s.mem != nil && (spec.gossipFed || s.cfg.Feed == FeedGossip)
}

// pick returns up to k distinct live nodes other than except, chosen with s.rng.
func (s *simNet) pickLocked(k int, except peer.ID) []*simNode {
	var all []*simNode
	for _, nd := range s.slots {
		if nd != nil && nd.id != except {
			all = append(all, nd)
		}
	}
	s.rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:min(k, len(all))]
}

// startNode starts the slot's next incarnation: host, routers (joined through a few
// live nodes when not fed), gossip (joined through a few live nodes). It returns once
// the node is in the oracle's live set.
func (s *simNet) startNode(ctx context.Context, slot int) (*simNode, error) {
	nd, priv, err := s.newNode(slot)
	if err != nil {
		return nil, err
	}
	boot, seeds := s.enter(nd)
	fail := func(err error) (*simNode, error) {
		s.stopNodeResources(nd)
		s.mu.Lock()
		delete(s.live, nd.id)
		s.mu.Unlock()
		return nil, err
	}
	if err := s.startRouters(ctx, nd, boot); err != nil {
		return fail(err)
	}
	if s.mem != nil {
		if err := s.startGossip(nd, priv, seeds); err != nil {
			return fail(err)
		}
	} else {
		close(nd.fedDone)
	}
	// A node is live for the oracle once its own join is done: a router that can say
	// (Chord's Joined) is waited for, briefly, since with the gossip feed it joins
	// through the first member gossip reports.
	if len(seeds) > 0 || len(boot) > 0 {
		deadline := time.Now().Add(10 * time.Second)
		for _, r := range nd.routers {
			j, ok := r.(interface{ Joined() bool })
			for ok && !j.Joined() && time.Now().Before(deadline) && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	s.mu.Lock()
	s.slots[slot] = nd
	s.mu.Unlock()
	s.oracle.Add(nd.id)
	return nd, nil
}

// newNode makes the slot's next incarnation: its key (from the seed, so runs repeat),
// a fresh simulated address, its libp2p host and its place on the in-memory Chord
// network, as the run needs them.
func (s *simNet) newNode(slot int) (*simNode, crypto.PrivKey, error) {
	s.mu.Lock()
	inc := s.nextInc[slot]
	s.nextInc[slot]++
	s.addrSeq++
	seq := s.addrSeq
	s.mu.Unlock()

	priv := nodeKey(s.cfg.Seed, slot, inc)
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	addr, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/100.%d.%d.%d/tcp/4001", 64+seq>>16&63, seq>>8&255, seq&255))
	if err != nil {
		return nil, nil, err
	}
	nd := &simNode{slot: slot, inc: inc, id: id, info: peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{addr}},
		routers: make(map[string]Router), fedDone: make(chan struct{})}
	if s.needHost {
		if nd.host, err = s.hosts.AddHost(priv, addr); err != nil {
			return nil, nil, err
		}
	}
	if s.chordNet != nil {
		nd.chord = s.chordNet.Attach(id, nd.info.Addrs)
	}
	return nd, priv, nil
}

// enter places nd in the latency model and makes it reachable, and picks the live
// nodes it joins through: up to three router bootstrap peers and one gossip seed.
func (s *simNet) enter(nd *simNode) (boot []peer.AddrInfo, seeds []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.coords[nd.id] = s.model.Place(stream(s.cfg.Seed, "coord", uint64(nd.slot), uint64(nd.inc)))
	for _, b := range s.pickLocked(3, nd.id) {
		boot = append(boot, b.info)
		// One gossip seed: a join push-pulls the whole membership with every seed
		// given, and one is enough on a network that does not lose packets.
		if b.gossip != nil && len(seeds) == 0 {
			seeds = append(seeds, b.gossip.BoundAddr())
		}
	}
	s.live[nd.id] = nd // reachable from now on
	return boot, seeds
}

// startRouters starts every compared router on nd, each joining through boot.
func (s *simNet) startRouters(ctx context.Context, nd *simNode, boot []peer.AddrInfo) error {
	for _, spec := range s.specs {
		env := startEnv{feed: s.cfg.Feed, bootstrap: boot, logger: s.quiet, chord: nd.chord, n: s.n}
		if spec.needsHost {
			env.host = &countingHost{Host: nd.host, net: s, c: s.traffic[spec.name]}
		}
		jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		s.byzantineEnv(&env, nd.slot)
		r, err := spec.start(jctx, env)
		cancel()
		if err != nil {
			return fmt.Errorf("compare: start %s on node %d: %w", spec.name, nd.slot, err)
		}
		nd.routers[spec.name] = r
	}
	return nil
}

// startGossip starts nd's gossip member on the in-memory network, feeds its events to
// the routers, and joins it through seeds.
func (s *simNet) startGossip(nd *simNode, priv crypto.PrivKey, seeds []string) error {
	tr, err := s.mem.NewTransport("")
	if err != nil {
		return err
	}
	gcfg := gossip.DefaultConfig()
	gcfg.Transport = tr
	gcfg.Profile = s.cfg.GossipProfile
	gcfg.MetaCache = s.metaCache
	gcfg.Tune = func(mc *memberlist.Config) {
		// LZW on every packet costs more CPU than anything else gossip does here
		// (a fresh 4096-entry table per message); bytes are counted uncompressed.
		mc.EnableCompression = false
		// The in-memory network has no MTU: see simGossipPacketSize.
		mc.UDPBufferSize = simGossipPacketSize
		// memberlist's own default, below gossip's floor of 6 (which is for
		// handfuls of daemons on lossy loopback UDP): this network loses no
		// packets, and at N = 1024 every transmission of the join storm costs
		// N decodes (4·log10 N = 16 copies per member per event instead of 24).
		mc.RetransmitMult = 4
	}
	g, err := gossip.New(gcfg, priv, nd.info.Addrs)
	if err != nil {
		return fmt.Errorf("compare: gossip on node %d: %w", nd.slot, err)
	}
	nd.gossip = g
	events, unsub := g.Subscribe()
	nd.unsub = unsub
	nd.members = membership.New(nd.id, nil, nil)
	go s.forward(nd, events)
	if len(seeds) == 0 {
		return nil
	}
	// A seed starved of CPU can miss memberlist's push/pull timeout: try others.
	for attempt := 0; attempt < 5; attempt++ {
		if _, err = g.Join(seeds); err == nil {
			return nil
		}
		s.mu.Lock()
		seeds = seeds[:0]
		for _, b := range s.pickLocked(1, nd.id) {
			if b.gossip != nil {
				seeds = append(seeds, b.gossip.BoundAddr())
			}
		}
		s.mu.Unlock()
	}
	return fmt.Errorf("compare: gossip join of node %d: %w", nd.slot, err)
}

// simGossipPacketSize is the largest gossip packet the simulated members send
// (memberlist's UDPBufferSize; 1400 B on a real network, to stay under the MTU).
// Starting N nodes within seconds makes every member re-broadcast the alive message
// of every other (each join merges the seed's whole state), about N·RetransmitMult·
// log10(N) messages per member. In 1400-byte packets (about eight messages each,
// four peers every 500 ms with the WAN profile) that queue takes minutes to drain
// at N = 512 and never drains within a run at N = 1024: views converge slowly, the
// queues hold N² messages, and the maintenance window measures the tail of the join
// storm rather than gossip's steady state. The in-memory network has no MTU, so
// compare lets a packet carry up to 64 KiB: the same messages, as many times each,
// in fewer packets. Bytes are counted as sent; gossip's messages per node per second
// count packets, so under churn they are fewer than with 1400-byte packets.
// (8 KiB packets were tried and were slower: the queues drain in proportion to the
// packet size.)
const simGossipPacketSize = 64 << 10

// simGossipQueueDepth bounds each simulated member's inbound packet queue, like a
// socket's receive buffer: 64 packets of up to simGossipPacketSize is 4 MiB, where
// the default depth (1024) let starved members at N = 1024 hold 1.6 GB of queued
// packets between them, whose delivery seconds late then failed probes and started
// suspicions (and their refutations: more broadcasts). A dropped gossip packet costs
// little: every event reaches each member in about 16 copies.
const simGossipQueueDepth = 64

// forward is the node's membership wiring, the daemon's own (membership.Dispatcher):
// gossip join/update → PeerUp, leave/failed → PeerDown, for every router the feed
// mode lets it reach. The dispatcher's count of members up tells warmup when the
// node's view is complete.
func (s *simNet) forward(nd *simNode, events <-chan gossip.Event) {
	defer close(nd.fedDone)
	for _, spec := range s.specs {
		if s.feeds(spec) {
			nd.members.Add(nd.routers[spec.name])
		}
	}
	nd.members.Run(events, nil)
}

// killNode crashes the slot's node: no leave message, gossip and the routers find out
// by themselves. It leaves the oracle at once.
func (s *simNet) killNode(slot int) *simNode {
	s.mu.Lock()
	nd := s.slots[slot]
	if nd == nil {
		s.mu.Unlock()
		return nil
	}
	s.slots[slot] = nil
	delete(s.live, nd.id)
	s.mu.Unlock()
	s.oracle.Remove(nd.id)
	s.stopNodeResources(nd)
	return nd
}

func (s *simNet) stopNodeResources(nd *simNode) {
	if nd.chord != nil {
		s.chordNet.Detach(nd.id)
	}
	if nd.gossip != nil {
		_ = nd.gossip.Shutdown() // no Leave: a crash
		<-nd.fedDone
	}
	for _, r := range nd.routers {
		_ = r.Close()
	}
	if nd.host != nil {
		_ = nd.host.Close()
	}
}

// node returns the slot's current node, or nil while it is being replaced.
func (s *simNet) node(slot int) *simNode {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.slots[slot]
}

func (s *simNet) liveNodes() []*simNode {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*simNode
	for _, nd := range s.slots {
		if nd != nil {
			out = append(out, nd)
		}
	}
	return out
}

func (s *simNet) coord(id peer.ID) (Coord, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.coords[id]
	return c, ok
}

// reachable refuses dials to departed nodes.
func (s *simNet) reachable(to peer.ID) error {
	s.mu.RLock()
	_, live := s.live[to]
	s.mu.RUnlock()
	if !live {
		return fmt.Errorf("%w: %s", errUnreachable, to.ShortString())
	}
	return nil
}

// close tears the whole network down. It first cuts every gossip member off from
// every other: shutting N members down one after another would otherwise have those
// still running detect, suspect and gossip each departure (N failure storms, minutes
// of CPU at N = 1024) for results nobody reads.
func (s *simNet) close() {
	nodes := s.liveNodes()
	if s.mem != nil {
		groups := make([][]string, 0, len(nodes))
		for _, nd := range nodes {
			if nd.gossip != nil {
				groups = append(groups, []string{nd.gossip.BoundAddr()})
			}
		}
		s.mem.Partition(groups...)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, nd := range nodes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.killNode(nd.slot)
		})
	}
	wg.Wait()
	_ = s.hosts.Close()
}

// countingHost is the host one router sees: the node's host, with every stream of
// this router counted into its protocol's trafficCounter.
type countingHost struct {
	host.Host
	net *simNet
	c   *trafficCounter
}

func (h *countingHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	s, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil {
		return nil, err
	}
	return &countingStream{Stream: s, c: h.c}, nil
}

func (h *countingHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, func(s network.Stream) { handler(&countingStream{Stream: s, c: h.c}) })
}

func (h *countingHost) SetStreamHandlerMatch(pid protocol.ID, match func(protocol.ID) bool, handler network.StreamHandler) {
	h.Host.SetStreamHandlerMatch(pid, match, func(s network.Stream) { handler(&countingStream{Stream: s, c: h.c}) })
}

type countingStream struct {
	network.Stream
	c *trafficCounter
}

func (s *countingStream) Write(p []byte) (int, error) {
	n, err := s.Stream.Write(p)
	if n > 0 {
		s.c.msgs.Add(1)
		s.c.bytes.Add(uint64(n))
	}
	return n, err
}
