package compare

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/kademlia"
	"github.com/dhtnode/dhtnode/onehop"
	"github.com/dhtnode/dhtnode/routing"
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
	// start creates the router on h and joins it to the network (with --feed none,
	// through env.bootstrap; with gossip, the feed does it). It returns once joined.
	start func(ctx context.Context, h host.Host, env startEnv) (Router, error)
	// convergeHint is how long its maintenance needs after joins to build complete
	// tables without a feed, for the warm-up.
	maintenancePeriod time.Duration
}

var protocols = map[string]protocolSpec{
	ProtoOnehop: {
		name: ProtoOnehop, metric: metricRing, target: identityKey, gossipFed: true,
		start: func(_ context.Context, h host.Host, env startEnv) (Router, error) {
			cfg := onehop.DefaultConfig()
			cfg.RPCTimeout = simRPCTimeout
			cfg.Logger = env.logger
			return onehop.New(h, cfg)
		},
		maintenancePeriod: time.Second,
	},
	ProtoChord: {
		name: ProtoChord, metric: metricRing, target: identityKey,
		start: func(ctx context.Context, h host.Host, env startEnv) (Router, error) {
			cfg := chord.DefaultConfig()
			cfg.RPCTimeout = simRPCTimeout
			cfg.Logger = env.logger
			c, err := startChord(h, cfg, env)
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
		maintenancePeriod: chord.DefaultConfig().StabilizeInterval,
	},
	ProtoKademlia: {
		name: ProtoKademlia, metric: metricXOR, target: kademlia.Target,
		start: func(ctx context.Context, h host.Host, env startEnv) (Router, error) {
			cfg := kademlia.TestConfig() // no IP-diversity filter: mocknet hosts share one group
			cfg.Logger = env.logger
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
