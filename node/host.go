package node

import (
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// newHost builds the libp2p host: TCP and QUIC (no WebRTC/WebTransport), Noise and
// TLS, the repo's identity, a resource manager and connection manager from cfg, and
// libp2p's metrics on the node's private registry; bw counts bytes per protocol and
// peer; wrapRM may put a gate in front of the resource manager (gate_stream.go);
// extra options (NAT traversal from reach.go, the member gate) go last.
func newHost(cfg Config, key crypto.PrivKey, reg prometheus.Registerer, version string, bw metrics.Reporter,
	wrapRM func(network.ResourceManager) network.ResourceManager, extra ...libp2p.Option) (host.Host, error) {
	listen := make([]ma.Multiaddr, 0, len(cfg.Addresses.Listen))
	for _, s := range cfg.Addresses.Listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("addresses.listen %q: %w", s, err)
		}
		listen = append(listen, a)
	}
	if err := checkListenPorts(listen); err != nil {
		return nil, err
	}
	var announce []ma.Multiaddr
	for _, s := range cfg.Addresses.Announce {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("addresses.announce %q: %w", s, err)
		}
		announce = append(announce, a)
	}

	rm, err := newResourceManager(cfg.Swarm.ResourceMgr)
	if err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(cfg.Swarm.ConnMgr.LowWater, cfg.Swarm.ConnMgr.HighWater,
		connmgr.WithGracePeriod(cfg.Swarm.ConnMgr.GracePeriod.Std()))
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("connection manager: %w", err)
	}

	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrs(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		// TLS first: on TCP its AES-GCM (hardware AES here: ~4.7 GB/s) beats Noise's
		// ChaCha20-Poly1305 (~2.3 GB/s), and piece transfers are bound by it.
		// Noise stays for peers that only speak Noise. QUIC always uses TLS.
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.ResourceManager(wrapRM(rm)),
		libp2p.ConnectionManager(cm),
		libp2p.PrometheusRegisterer(reg),
		libp2p.BandwidthReporter(bw),
		// Pieces travel faster and cheaper over TCP than over QUIC (dialranker.go).
		libp2p.SwarmOpts(swarm.WithDialRanker(tcpFirstDialRanker)),
		libp2p.UserAgent("dhtnode/" + version),
	}
	if len(announce) > 0 {
		// Relay addresses stay: they are how a node behind NAT is reached, and the
		// announced addresses cannot know them in advance.
		opts = append(opts, libp2p.AddrsFactory(func(in []ma.Multiaddr) []ma.Multiaddr {
			out := slices.Clone(announce)
			for _, a := range in {
				if isRelayed(a) {
					out = append(out, a)
				}
			}
			return out
		}))
	}
	opts = append(opts, extra...)
	h, err := libp2p.New(opts...)
	if err != nil {
		// libp2p.New closes the managers it was given when it fails.
		return nil, fmt.Errorf("start libp2p host on %v: %w", cfg.Addresses.Listen, err)
	}
	return h, nil
}

// newResourceManager scales libp2p's default limits to the configured memory and
// file descriptors (0 = from the machine) and caps system-wide connections and
// streams when asked. Its stats go to the registry libp2p.PrometheusRegisterer sets up.
func newResourceManager(c ResourceMgrConfig) (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	var concrete rcmgr.ConcreteLimitConfig
	if c.MaxMemoryMB > 0 || c.MaxFileDescriptors > 0 {
		auto := limits.AutoScale()
		mem := int64(c.MaxMemoryMB) << 20
		fds := c.MaxFileDescriptors
		if mem == 0 {
			mem = auto.ToPartialLimitConfig().System.Memory.Build(0)
		}
		if fds == 0 {
			fds = int(auto.ToPartialLimitConfig().System.FD.Build(0))
		}
		concrete = limits.Scale(mem, fds)
	} else {
		concrete = limits.AutoScale()
	}
	if c.MaxConns > 0 || c.MaxStreams > 0 {
		var system rcmgr.ResourceLimits
		if c.MaxConns > 0 {
			system.Conns = rcmgr.LimitVal(c.MaxConns)
		}
		if c.MaxStreams > 0 {
			system.Streams = rcmgr.LimitVal(c.MaxStreams)
		}
		concrete = rcmgr.PartialLimitConfig{System: system}.Build(concrete)
	}
	reporter, err := rcmgr.NewStatsTraceReporter()
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(concrete), rcmgr.WithTraceReporter(reporter))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	return rm, nil
}
