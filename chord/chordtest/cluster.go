// Package chordtest runs a Chord ring of N nodes in one process on a libp2p mocknet,
// with an oracle of the live set, for tests and for the compare tool.
//
// The cluster plays the part gossip plays in the daemon when Options.Gossip is set: a
// started node gets PeerUp for every live node and every live node gets PeerUp for it;
// ReportDown sends PeerDown for a killed node. Kill is SIGKILL-like: the node's links are
// cut and its host closed, and nobody is told.
//
//	c := chordtest.New(chordtest.Options{Config: cfg, Gossip: true})
//	defer c.Close()
//	if err := c.Start(ctx, 64); err != nil { ... }
//	err := c.WaitConverged(ctx, 200)          // every probe lookup matches the oracle
//	stats := c.CheckLookups(ctx, 1000, rng)  // hops, RPCs, correctness
package chordtest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// Options configure a Cluster.
type Options struct {
	// Config is every node's Chord configuration (Logger and Registerer included).
	Config chord.Config
	// Gossip feeds PeerUp to and about every started node, as the daemon's gossip would.
	// Without it a node joins through a random live node with Join.
	Gossip bool
	// Seed makes node identities, the choice of join peers and probe keys repeatable.
	Seed uint64
	// Members gives every node the cluster's live set as its verified membership
	// (Config.IsMember), as the daemon does with gossip's.
	Members bool
	// PerNode, when set, adjusts node i's configuration each time it starts (Restart
	// included): its own Registerer or Logger, say, as a registry takes one Chord only.
	PerNode func(i int, cfg *chord.Config)
}

// Node is one member of the cluster.
type Node struct {
	Index int
	ID    peer.ID
	Key   routing.Key
	Host  host.Host
	Chord *chord.Chord
	Alive bool
	// Liar marks a node started with AddAdversary.
	Liar  bool
	lies  *chord.Lies
	fakes []peer.AddrInfo
	priv  crypto.PrivKey
	addr  ma.Multiaddr
}

// Cluster is N Chord nodes on one mocknet.
type Cluster struct {
	Net   mocknet.Mocknet
	opts  Options
	mu    sync.Mutex
	nodes []*Node
	rng   *mrand.Rand
	// idSource draws node identities, so the same Seed gives the same ring.
	idSource *mrand.ChaCha8
	// holes are peers that accept Chord streams and never answer (BlackHoles).
	holes  []host.Host
	closed chan struct{}
}

// New returns an empty cluster; Start adds nodes.
func New(opts Options) *Cluster {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], opts.Seed)
	return &Cluster{
		Net:      mocknet.New(),
		opts:     opts,
		rng:      mrand.New(mrand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		idSource: mrand.NewChaCha8(seed),
		closed:   make(chan struct{}),
	}
}

// IsMember reports whether id is a live node of the cluster: the membership a node
// gets as Config.IsMember with Options.Members.
func (c *Cluster) IsMember(id peer.ID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.ID == id {
			return n.Alive
		}
	}
	return false
}

// BlackHoles adds n peers that are no members: they accept Chord streams, read the
// request and never answer, as a lying member's invented peers would. Every node
// started later can reach them. They are what AddAdversary's liars name.
func (c *Cluster) BlackHoles(n int) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	c.mu.Lock()
	first := len(c.holes)
	c.mu.Unlock()
	for i := first; i < first+n; i++ {
		// Identities from the seeded source, so the same Seed puts the holes at the
		// same ring positions and a test meets the same lies every run.
		c.mu.Lock()
		priv, _, err := crypto.GenerateEd25519Key(c.idSource)
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		addr, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/100.127.%d.%d/tcp/4001", i>>8&0xff, i&0xff))
		if err != nil {
			return nil, err
		}
		h, err := c.Net.AddPeer(priv, addr)
		if err != nil {
			return nil, err
		}
		h.SetStreamHandler(chord.ProtocolID, func(s network.Stream) {
			_, _ = io.Copy(io.Discard, s)
			<-c.closed // hold the stream unanswered until the cluster closes
			_ = s.Reset()
		})
		for _, o := range c.Live() {
			if _, err := c.Net.LinkPeers(h.ID(), o.ID); err != nil {
				return nil, err
			}
		}
		c.mu.Lock()
		c.holes = append(c.holes, h)
		c.mu.Unlock()
		out = append(out, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	}
	return out, nil
}

// AddAdversary starts one lying node (chord.NewAdversary) that names fakes as the
// peers it invents.
func (c *Cluster) AddAdversary(ctx context.Context, lies chord.Lies, fakes []peer.AddrInfo) (*Node, error) {
	c.mu.Lock()
	priv, _, err := crypto.GenerateEd25519Key(c.idSource)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return c.add(ctx, priv, &lies, fakes)
}

// Nodes returns every node ever started, alive or not, in start order.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.nodes)
}

// Live returns the nodes that are running.
func (c *Cluster) Live() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		if n.Alive {
			out = append(out, n)
		}
	}
	return out
}

// Start adds n new nodes one after the other.
func (c *Cluster) Start(ctx context.Context, n int) error {
	for range n {
		if _, err := c.Add(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// Add starts one new node; priv nil means a fresh Ed25519 identity.
func (c *Cluster) Add(ctx context.Context, priv crypto.PrivKey) (*Node, error) {
	return c.add(ctx, priv, nil, nil)
}

func (c *Cluster) add(ctx context.Context, priv crypto.PrivKey, lies *chord.Lies, fakes []peer.AddrInfo) (*Node, error) {
	if priv == nil {
		var err error
		c.mu.Lock()
		priv, _, err = crypto.GenerateEd25519Key(c.idSource)
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	idx := len(c.nodes)
	c.mu.Unlock()
	addr, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/100.%d.%d.%d/tcp/4001", 64+idx>>16&0x3f, idx>>8&0xff, idx&0xff))
	if err != nil {
		return nil, err
	}
	n := &Node{Index: idx, priv: priv, addr: addr, Liar: lies != nil, lies: lies, fakes: fakes}
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	return n, c.boot(ctx, n)
}

// NewIdentityBetween returns a fresh private key whose ring position lies in (from, to);
// tests use it to make a node join exactly between a key and its owner.
func NewIdentityBetween(from, to routing.Key) (crypto.PrivKey, error) {
	for range 1 << 20 {
		priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return nil, err
		}
		id, err := peer.IDFromPrivateKey(priv)
		if err != nil {
			return nil, err
		}
		if routing.InOpen(routing.PeerKey(id), from, to) {
			return priv, nil
		}
	}
	return nil, errors.New("chordtest: no identity found in range")
}

// boot brings a node's host and Chord up and connects it to the live nodes.
func (c *Cluster) boot(ctx context.Context, n *Node) error {
	h, err := c.Net.AddPeer(n.priv, n.addr)
	if err != nil {
		return err
	}
	live := c.Live()
	for _, o := range live {
		if _, err := c.Net.LinkPeers(h.ID(), o.ID); err != nil {
			return err
		}
	}
	c.mu.Lock()
	holes := slices.Clone(c.holes)
	c.mu.Unlock()
	for _, o := range holes {
		if _, err := c.Net.LinkPeers(h.ID(), o.ID()); err != nil {
			return err
		}
	}
	cfg := c.opts.Config
	if c.opts.Members {
		cfg.IsMember = c.IsMember
	}
	if c.opts.PerNode != nil {
		c.opts.PerNode(n.Index, &cfg)
	}
	var ch *chord.Chord
	if n.lies != nil {
		ch, err = chord.NewAdversary(h, cfg, *n.lies, n.fakes)
	} else {
		ch, err = chord.New(h, cfg)
	}
	if err != nil {
		_ = h.Close()
		return err
	}
	c.mu.Lock()
	n.ID, n.Key, n.Host, n.Chord, n.Alive = h.ID(), routing.PeerKey(h.ID()), h, ch, true
	c.mu.Unlock()
	if len(live) == 0 {
		return nil
	}
	if c.opts.Gossip {
		self := peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
		for _, o := range live {
			o.Chord.PeerUp(self)
			ch.PeerUp(peer.AddrInfo{ID: o.ID, Addrs: o.Host.Addrs()})
		}
		return nil
	}
	// Join through a random live node; on a loaded machine a join can time out, so try
	// a few others before giving up.
	var err2 error
	for range 5 {
		c.mu.Lock()
		via := live[c.rng.IntN(len(live))]
		c.mu.Unlock()
		if err2 = ch.Join(ctx, peer.AddrInfo{ID: via.ID, Addrs: via.Host.Addrs()}); err2 == nil {
			return nil
		}
	}
	return err2
}

// Kill stops node i without a word to anyone (SIGKILL): links cut, host closed.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	n := c.nodes[i]
	if !n.Alive {
		c.mu.Unlock()
		return
	}
	n.Alive = false
	c.mu.Unlock()
	for _, o := range c.Live() {
		_ = c.Net.UnlinkPeers(n.ID, o.ID)
	}
	_ = n.Chord.Close()
	_ = n.Host.Close()
}

// ReportDown tells every live node that node i is gone, as gossip does once it marks a
// member failed.
func (c *Cluster) ReportDown(i int) {
	c.mu.Lock()
	id := c.nodes[i].ID
	c.mu.Unlock()
	for _, o := range c.Live() {
		o.Chord.PeerDown(id)
	}
}

// Restart brings a killed node back with the same identity (same ring position) and
// no state.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	c.mu.Lock()
	n := c.nodes[i]
	alive := n.Alive
	c.mu.Unlock()
	if alive {
		return nil
	}
	return c.boot(ctx, n)
}

// Close stops every node and the mocknet.
func (c *Cluster) Close() error {
	c.mu.Lock()
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	c.mu.Unlock()
	for _, n := range c.Live() {
		_ = n.Chord.Close()
	}
	return c.Net.Close()
}

// Oracle returns the live node responsible for key: its successor among live node keys.
func (c *Cluster) Oracle(key routing.Key) *Node {
	var best *Node
	var bestDist routing.Key
	for _, n := range c.Live() {
		// The owner is the live node at the smallest clockwise distance from key.
		d := routing.RingDistance(key, n.Key)
		if best == nil || d.Cmp(bestDist) < 0 {
			best, bestDist = n, d
		}
	}
	return best
}

// RandomKey draws a key from the cluster's seeded generator.
func (c *Cluster) RandomKey() routing.Key {
	c.mu.Lock()
	defer c.mu.Unlock()
	var k routing.Key
	for i := 0; i < routing.KeyLen; i += 8 {
		v := c.rng.Uint64()
		for j := range 8 {
			k[i+j] = byte(v >> (8 * j))
		}
	}
	return k
}

// RandomLive picks a live node with the cluster's generator.
func (c *Cluster) RandomLive() *Node {
	live := c.Live()
	c.mu.Lock()
	defer c.mu.Unlock()
	return live[c.rng.IntN(len(live))]
}

// LookupStats sums a batch of lookups checked against the oracle.
type LookupStats struct {
	Lookups, Correct, Failed int
	Hops, RPCs, Timeouts     int
	// HopCounts[h] is how many lookups answered at depth h.
	HopCounts map[int]int
	// FirstWrong describes the first incorrect lookup, for test failures.
	FirstWrong string
}

// MeanHops is the mean referral depth of the answers.
func (s LookupStats) MeanHops() float64 { return ratio(s.Hops, s.Lookups) }

// MeanRPCs is the mean number of requests per lookup.
func (s LookupStats) MeanRPCs() float64 { return ratio(s.RPCs, s.Lookups) }

// Success is the fraction of lookups that returned the oracle's owner.
func (s LookupStats) Success() float64 { return ratio(s.Correct, s.Lookups) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// CheckLookups runs n lookups of random keys from random live nodes, one after the
// other, and checks each owner against the oracle.
func (c *Cluster) CheckLookups(ctx context.Context, n int) LookupStats {
	s := LookupStats{HopCounts: map[int]int{}}
	for range n {
		key := c.RandomKey()
		from := c.RandomLive()
		want := c.Oracle(key)
		owners, trace, err := from.Chord.Lookup(ctx, key)
		s.Lookups++
		s.RPCs += trace.RPCs
		s.Timeouts += trace.Timeouts
		if err != nil {
			s.Failed++
			if s.FirstWrong == "" {
				s.FirstWrong = fmt.Sprintf("lookup %s from %s: %v", key.Short(), from.Key.Short(), err)
			}
			continue
		}
		s.Hops += trace.Hops
		s.HopCounts[trace.Hops]++
		if len(owners) > 0 && owners[0].ID == want.ID {
			s.Correct++
		} else if s.FirstWrong == "" {
			got := "nothing"
			if len(owners) > 0 {
				got = routing.PeerKey(owners[0].ID).Short()
			}
			s.FirstWrong = fmt.Sprintf("lookup %s from %s: got %s, oracle %s", key.Short(), from.Key.Short(), got, want.Key.Short())
		}
	}
	return s
}

// HonestStats is a batch of lookups made by honest nodes for keys honest nodes own.
type HonestStats struct {
	LookupStats
	// Latencies are the lookups' durations, in order.
	Latencies []time.Duration
}

// P95 is the 95th percentile of the latencies.
func (s HonestStats) P95() time.Duration {
	if len(s.Latencies) == 0 {
		return 0
	}
	l := slices.Clone(s.Latencies)
	slices.Sort(l)
	return l[(len(l)*95+99)/100-1]
}

// CheckHonestLookups runs n lookups from random honest nodes of random keys whose
// oracle owner is honest (keys a liar owns are drawn again), each within timeout, and
// checks each owner against the oracle.
func (c *Cluster) CheckHonestLookups(ctx context.Context, n int, timeout time.Duration) HonestStats {
	s := HonestStats{LookupStats: LookupStats{HopCounts: map[int]int{}}}
	for draws := 0; len(s.Latencies) < n && draws < 100*n; draws++ {
		key := c.RandomKey()
		from := c.RandomLive()
		want := c.Oracle(key)
		if from.Liar || want.Liar {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		owners, trace, err := from.Chord.Lookup(lctx, key)
		s.Latencies = append(s.Latencies, time.Since(start))
		cancel()
		s.Lookups++
		s.RPCs += trace.RPCs
		s.Timeouts += trace.Timeouts
		if err != nil {
			s.Failed++
			if s.FirstWrong == "" {
				s.FirstWrong = fmt.Sprintf("lookup %s from %s: %v", key.Short(), from.Key.Short(), err)
			}
			continue
		}
		s.Hops += trace.Hops
		s.HopCounts[trace.Hops]++
		if len(owners) > 0 && owners[0].ID == want.ID {
			s.Correct++
		} else if s.FirstWrong == "" {
			s.FirstWrong = fmt.Sprintf("lookup %s from %s: got %v, oracle %s", key.Short(), from.Key.Short(), owners, want.Key.Short())
		}
		if ctx.Err() != nil {
			break
		}
	}
	return s
}

// WaitConverged polls until a batch of probe lookups is entirely correct, or ctx ends.
// It returns how long that took.
func (c *Cluster) WaitConverged(ctx context.Context, probes int) (time.Duration, error) {
	start := time.Now()
	var last LookupStats
	for {
		last = c.CheckLookups(ctx, probes)
		if last.Correct == last.Lookups {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("chordtest: not converged after %v: %d/%d correct, %s",
				time.Since(start).Round(time.Millisecond), last.Correct, last.Lookups, last.FirstWrong)
		case <-time.After(c.opts.Config.StabilizeInterval.Std() / 2):
		}
	}
}

// RandomPerm returns the indices of the live nodes in a random order.
func (c *Cluster) RandomPerm() []int {
	live := c.Live()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int, len(live))
	for i, j := range c.rng.Perm(len(live)) {
		out[i] = live[j].Index
	}
	return out
}
