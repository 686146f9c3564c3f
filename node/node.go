package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/dhtnode/dhtnode/gossip"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Node is one running dhtnode: libp2p host, gossip membership, the local HTTP API,
// and (wired by feature files) routers and content exchange.
//
// Goroutines: New starts the gossip event dispatcher (delivers membership events to
// listeners in order) and the API server; Close stops both. All methods are safe for
// concurrent use.
type Node struct {
	cfg      Config
	repo     *Repo // nil for an embedded node without a repo
	logger   *slog.Logger
	registry *prometheus.Registry
	key      crypto.PrivKey
	host     host.Host
	gossip   *gossip.Gossip

	members *memberFeed
	gate    *memberGate // who may connect and route (gate.go)
	reach   *reach      // NAT traversal (reach.go)
	// gossipNet is gossip's transport when it runs over libp2p (gossip_net.go).
	gossipNet gossipNet

	newChord chordStarter // nil: chord.New (router_chord.go)

	api         *http.Server
	apiListener net.Listener
	mux         *http.ServeMux
	auth        *apiAuth // the API token and browser sessions (api_auth.go)

	// stopRequests is closed when an API client asks the daemon to stop.
	stopRequests chan struct{}
	stopOnce     sync.Once
	stopMu       sync.Mutex
	stopReason   StopReason

	// Feature state, defined by the feature files (routers.go, content.go).
	routers routerState
	content contentState
	netview netView // webui_api.go

	closeOnce sync.Once
	closeErr  error
	// closers run in reverse order on Close, so later parts stop before what they use.
	closers []func() error
}

// StopReason says why an API client asked the daemon to stop.
type StopReason string

const (
	// StopShutdown: stop without leaving; others mark the node failed and keep
	// trying to reconnect, so it rejoins when restarted.
	StopShutdown StopReason = "shutdown"
	// StopLeave: the node has left the cluster gracefully; stop for good.
	StopLeave StopReason = "leave"
)

// Option customises New.
type Option func(*options)

type options struct {
	logger   *slog.Logger
	registry *prometheus.Registry
	key      crypto.PrivKey
	version  string
	newChord chordStarter // tests only: see router_chord.go
}

// WithLogger sets the node's logger (default: discard). Each part logs through
// Logger(subsystem).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRegistry sets the node's private Prometheus registry (default: a new one,
// with Go and process collectors). /metrics serves it.
func WithRegistry(r *prometheus.Registry) Option { return func(o *options) { o.registry = r } }

// WithIdentity sets the private key for a node without a repo (default: a new
// Ed25519 key). With a repo, the repo's key is used and this option is an error.
func WithIdentity(k crypto.PrivKey) Option { return func(o *options) { o.key = k } }

// Errors from New.
var (
	// ErrIdentityConflict: WithIdentity was given together with a repo.
	ErrIdentityConflict = errors.New("node: WithIdentity and a repo both set the identity")
)

// New starts a node: libp2p host, gossip (joining cfg.Gossip.Join in the
// background), the membership dispatcher, feature wiring and the API server
// (when cfg.Addresses.API is set; its address is written into the repo).
// repo may be nil for an embedded node with no files. On error, everything
// already started is stopped again.
func New(cfg Config, repo *Repo, opts ...Option) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{version: Version()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.registry == nil {
		o.registry = prometheus.NewRegistry()
		o.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	n := &Node{
		cfg:          cfg,
		repo:         repo,
		logger:       o.logger,
		registry:     o.registry,
		stopRequests: make(chan struct{}),
		newChord:     o.newChord,
	}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	switch {
	case repo != nil && o.key != nil:
		return nil, ErrIdentityConflict
	case repo != nil:
		if n.key, err = repo.Identity(); err != nil {
			return nil, err
		}
	case o.key != nil:
		n.key = o.key
	default:
		if n.key, _, err = crypto.GenerateEd25519Key(nil); err != nil {
			return nil, fmt.Errorf("generate identity: %w", err)
		}
	}

	secret, err := n.clusterSecret()
	if err != nil {
		return nil, err
	}
	if n.gate, err = newMemberGate(secret != nil, cfg.Gossip.Transport == GossipLibp2p, n.registry, n.Logger("node")); err != nil {
		return nil, err
	}
	if n.reach, err = newReach(cfg, n.registry, n.Logger("reach")); err != nil {
		return nil, err
	}
	reachOpts, err := n.reach.hostOptions(n.registry)
	if err != nil {
		return nil, err
	}
	if n.host, err = newHost(cfg, n.key, n.registry, o.version, n.bandwidth(), n.gate.wrapResourceManager, append(reachOpts, n.gate.hostOptions()...)...); err != nil {
		return nil, err
	}
	n.onClose(n.host.Close)
	n.Logger("node").Info("libp2p host started", "peer_id", n.host.ID(), "addrs", n.host.Addrs())

	gcfg := gossip.DefaultConfig()
	gcfg.NodeName = n.host.ID().String()
	gcfg.BindAddr = cfg.Addresses.Gossip
	gcfg.AdvertiseAddr = cfg.Addresses.GossipAdvertise
	gcfg.Profile = cfg.Gossip.Profile
	gcfg.SecretKey = secret
	gcfg.RetryJoin = cfg.Gossip.Join
	gcfg.RetryJoinInterval = cfg.Gossip.RetryJoinInterval.Std()
	gcfg.ReconnectInterval = cfg.Gossip.ReconnectInterval.Std()
	gcfg.ReconnectTimeout = cfg.Gossip.ReconnectTimeout.Std()
	gcfg.Logger = n.logger // gossip adds its own subsystem attribute
	gcfg.Registerer = n.registry
	if err := n.setupGossipTransport(&gcfg); err != nil {
		return nil, fmt.Errorf("gossip over libp2p: %w", err)
	}
	if n.gossip, err = gossip.New(gcfg, n.key, n.host.Addrs()); err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", n.gossipWhere(), err)
	}
	n.gossipStarted(n.gossip)
	n.onClose(n.gossip.Shutdown)
	if len(cfg.Gossip.Join) > 0 {
		n.Logger("node").Info("joining in the background", "join", cfg.Gossip.Join, "retry_interval", cfg.Gossip.RetryJoinInterval.String())
	}

	if err := n.watchAddrs(); err != nil {
		return nil, err
	}
	n.members = newMembership(n.gossip, n.Logger("membership"))
	n.onClose(n.members.close)
	n.gate.attach(n.host, n.gossip, n.members)
	n.reach.attach(n.gossip)
	if err := n.registry.Register(newInfoCollector(o.version, n.host.ID())); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}

	if err := n.startFeatures(); err != nil {
		return nil, err
	}

	if cfg.Addresses.API != "" {
		if err := n.startAPI(cfg.Addresses.API); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// clusterSecret reads the gossip key from the config or the secret file.
func (n *Node) clusterSecret() ([]byte, error) {
	g := n.cfg.Gossip
	if g.Secret != "" {
		return DecodeSecret(g.Secret)
	}
	if g.SecretFile == "" {
		return nil, nil
	}
	path := g.SecretFile
	if n.repo != nil {
		path = n.repo.ResolvePath(path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gossip.secret_file: %w", err)
	}
	key, err := DecodeSecret(string(b))
	if err != nil {
		return nil, fmt.Errorf("gossip.secret_file %s: %w", path, err)
	}
	return key, nil
}

// onClose registers f to run on Close, before everything registered earlier.
func (n *Node) onClose(f func() error) { n.closers = append(n.closers, f) }

// Host is the node's libp2p host.
func (n *Node) Host() host.Host { return n.host }

// Gossip is the node's membership layer.
func (n *Node) Gossip() *gossip.Gossip { return n.gossip }

// Registerer is the node's private Prometheus registry, for feature metrics.
func (n *Node) Registerer() prometheus.Registerer { return n.registry }

// Gatherer is the same registry, read side (what /metrics serves).
func (n *Node) Gatherer() prometheus.Gatherer { return n.registry }

// Logger returns the node's logger tagged with subsystem (e.g. "chord"). Packages
// that add their own subsystem attribute (gossip, routers) should get BaseLogger.
func (n *Node) Logger(subsystem string) *slog.Logger {
	return n.logger.With("subsystem", subsystem)
}

// BaseLogger is the node's logger without a subsystem attribute.
func (n *Node) BaseLogger() *slog.Logger { return n.logger }

// Config is the configuration the node was started with.
func (n *Node) Config() Config { return n.cfg }

// Repo is the node's repo, or nil.
func (n *Node) Repo() *Repo { return n.repo }

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// APIAddr is the host:port the API server actually listens on ("" when disabled).
func (n *Node) APIAddr() string {
	if n.apiListener == nil {
		return ""
	}
	return n.apiListener.Addr().String()
}

// Join asks gossip to join the members at addrs now (host:port on the udp gossip
// transport, multiaddrs ending in /p2p/<peer ID> on libp2p) and returns how many
// it reached. It fails if none answered; gossip's error names the addresses and
// the likely cause (no answer, wrong cluster secret, another gossip transport).
func (n *Node) Join(addrs []string) (int, error) {
	joins, err := n.gossipJoinAddrs(addrs)
	if err != nil {
		return 0, err
	}
	return n.gossip.Join(joins)
}

// Leave broadcasts a graceful leave so other members mark this node "left" rather
// than failed. The node keeps running; Close it afterwards.
func (n *Node) Leave() error {
	return n.gossip.Leave(n.cfg.Gossip.LeaveTimeout.Std())
}

// StopRequested is closed when an API client asks the daemon to stop (the shutdown
// or leave calls); StopReason then says which. The daemon waits on it next to signals.
func (n *Node) StopRequested() <-chan struct{} { return n.stopRequests }

// StopReason is why a stop was requested ("" before that).
func (n *Node) StopReason() StopReason {
	n.stopMu.Lock()
	defer n.stopMu.Unlock()
	return n.stopReason
}

func (n *Node) requestStop(r StopReason) {
	n.stopOnce.Do(func() {
		n.stopMu.Lock()
		n.stopReason = r
		n.stopMu.Unlock()
		close(n.stopRequests)
	})
}

// Close stops everything New started, in reverse order, without leaving the
// cluster (call Leave first for that). It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		for i := len(n.closers) - 1; i >= 0; i-- {
			if err := n.closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// shutdownHTTP stops the API server, letting in-flight calls finish for a moment.
func shutdownHTTP(s *http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		return s.Close()
	}
	return nil
}
