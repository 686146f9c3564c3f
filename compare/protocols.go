package compare

import (
	"context"
	"fmt"
	"log/slog"
	"math/bits"
	"slices"
	"time"

	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/kademlia"
	"github.com/dhtnode/dhtnode/onehop"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/dhtnode/dhtnode/setting"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Protocol names.
const (
	ProtoChord    = "chord"
	ProtoKademlia = "kademlia"
	ProtoOnehop   = "onehop"
)

// Router is what compare needs of a protocol: the shared interfaces plus Close.
type Router interface {
	routing.Router
	routing.MembershipListener
	routing.TableReporter
	Close() error
}

// metric says how a protocol defines the owner of a key, for the oracle.
type metric int

const (
	metricRing metric = iota // the key's successor on the ring
	metricXOR                // the node XOR-closest to the protocol's target for the key
)

// startEnv is what a protocol gets to start one node's router.
type startEnv struct {
	// feed says whether gossip events will reach the router (always true for onehop).
	feed string
	// bootstrap holds a few live, joined nodes (empty for the very first node).
	bootstrap []peer.AddrInfo
	logger    *slog.Logger
	// host is the node's libp2p host (memhost), for protocols with needsHost; nil
	// otherwise.
	host host.Host
	// chord is the node's transport on the simulation's in-memory Chord network.
	chord chord.Transport
	// n is the network size, for maintenance settings that scale with it.
	n int
	// liar: this node lies in its answers (Config.Byzantine); members is the verified
	// membership the honest nodes check answers against.
	liar    bool
	members func(peer.ID) bool
}

// protocolSpec plugs one router into compare.
type protocolSpec struct {
	name   string
	metric metric
	// target maps a routing key to the point the protocol routes to (identity for ring
	// protocols; Kademlia routes to SHA-256 of its DHT key).
	target func(routing.Key) routing.Key
	// gossipFed: PeerUp/PeerDown reach this router even with --feed none.
	gossipFed bool
	// needsHost: the router runs on a libp2p host (Chord runs on the in-memory
	// network and needs none).
	needsHost bool
	// start creates the router and joins it to the network (with --feed none,
	// through env.bootstrap; with gossip, the feed does it). It returns once joined.
	start func(ctx context.Context, env startEnv) (Router, error)
	// convergeHint is how long its maintenance needs after joins to build complete
	// tables without a feed, for the warm-up.
	maintenancePeriod time.Duration
}

var protocols = map[string]protocolSpec{
	ProtoOnehop: {
		name: ProtoOnehop, metric: metricRing, target: identityKey, gossipFed: true, needsHost: true,
		start: func(_ context.Context, env startEnv) (Router, error) {
			cfg := onehop.DefaultConfig()
			cfg.RPCTimeout = setting.Duration(simRPCTimeout)
			cfg.Logger = env.logger
			return onehop.New(env.host, cfg)
		},
		maintenancePeriod: time.Second,
	},
	ProtoChord: {
		name: ProtoChord, metric: metricRing, target: identityKey,
		start: func(ctx context.Context, env startEnv) (Router, error) {
			cfg := chord.DefaultConfig()
			cfg.RPCTimeout = setting.Duration(simRPCTimeout)
			cfg.Logger = env.logger
			period := setting.Duration(chordMaintenancePeriod(env.n))
			cfg.StabilizeInterval, cfg.FixFingersInterval, cfg.CheckPredecessorInterval = period, period, period
			c, err := startChord(cfg, env)
			if err != nil {
				return nil, err
			}
			if env.feed == FeedNone && len(env.bootstrap) > 0 {
				if err := c.Join(ctx, env.bootstrap...); err != nil {
					_ = c.Close()
					return nil, fmt.Errorf("chord join: %w", err)
				}
			}
			return c, nil
		},
		maintenancePeriod: chord.DefaultConfig().StabilizeInterval.Std(),
	},
	ProtoKademlia: {
		name: ProtoKademlia, metric: metricXOR, target: kademlia.Target, needsHost: true,
		start: func(ctx context.Context, env startEnv) (Router, error) {
			h := env.host
			cfg := kademlia.TestConfig() // no IP-diversity filter: simulated hosts share one group
			cfg.Logger = env.logger
			// A kept stream per pair of peers that ever spoke is most of a simulated
			// node's memory, and opening one in memory costs nothing.
			cfg.StreamPerRequest = true
			if env.feed == FeedNone {
				// The Kademlia join: bootstrap peers, then a lookup of our own ID and
				// a refresh of every bucket. Periodic refresh keeps the table up.
				cfg.BootstrapPeers = env.bootstrap
				cfg.AutoRefresh = true
			}
			r, err := kademlia.New(h, cfg)
			if err != nil {
				return nil, err
			}
			if env.feed == FeedNone && len(env.bootstrap) > 0 {
				for _, b := range env.bootstrap {
					_ = h.Connect(ctx, b) // identify then tells kad-dht it is a DHT server
				}
				for _, b := range env.bootstrap {
					if _, err := r.DHT().RoutingTable().TryAddPeer(b.ID, true, false); err != nil {
						continue
					}
				}
				select {
				case err := <-r.DHT().ForceRefresh():
					if err != nil && ctx.Err() == nil {
						env.logger.Debug("kademlia join refresh", "err", err)
					}
				case <-ctx.Done():
				}
			}
			return r, nil
		},
		maintenancePeriod: time.Second,
	},
}

func identityKey(k routing.Key) routing.Key { return k }

// chordMaintenancePeriod is the simulated Chord's stabilize, fix-fingers and
// check-predecessor period: the daemon's 1 s up to N = 2048, then growing with N, so
// that the whole ring's maintenance stays near 2048 nodes' worth of requests per
// second. Each node then runs the same rounds, only further apart: at N = 16,384 one
// round every 8 s, and a full finger sweep (about log2 N lookups) in about 2 min of
// warm-up (see chordSettle). Without it 16,384 nodes would send about 180,000 requests
// a second on a 2-core machine, and every round (and lookup) would run late anyway.
func chordMaintenancePeriod(n int) time.Duration {
	return time.Second * time.Duration(max(1, (n+2047)/2048))
}

// chordSettle is the least warm-up Chord needs after the joins for complete finger
// tables: a sweep is about log2 N fix-fingers rounds; two sweeps' worth of rounds
// leaves room for rounds that ran late. At the daemon's period (N up to 2048) the
// run's own Settle applies.
func chordSettle(n int) time.Duration {
	if chordMaintenancePeriod(n) == time.Second {
		return 0
	}
	return time.Duration(2*bits.Len(uint(n))) * chordMaintenancePeriod(n)
}

// simRPCTimeout replaces the routers' 2 s request timeout in the simulation. A
// request to a departed node fails at once here (the dial is refused), so the
// timeout only ever fires when this machine is too busy to run the answering
// goroutine in time, and then it would count a live node as dead. The latency model
// charges Config.TimeoutPenalty for every failed request whatever this is.
const simRPCTimeout = 10 * time.Second

// KnownProtocols lists the protocol names compare can run, sorted.
func KnownProtocols() []string {
	var out []string
	for name := range protocols {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
