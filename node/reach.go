package node

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/gossip"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"
)

// reach is how the node crosses NATs, the way libp2p does it everywhere:
//
//   - AutoNAT (v1 and v2) asks connected peers to dial back and so learns whether
//     the node is publicly reachable; addresses.reachability can settle it instead.
//   - A publicly reachable node offers a Circuit Relay v2 service with resource
//     limits (relay.*); a node that is not reserves a slot on relays (AutoRelay),
//     taken from relay.static and from gossip members that advertise a public
//     address, and advertises the resulting /p2p-circuit addresses in gossip.
//   - DCUtR turns a relayed connection into a direct one by a coordinated
//     simultaneous dial through both NATs (hole punching).
//   - UPnP / NAT-PMP port mapping, where the router offers it.
//
// The member gate needs nothing special for relayed connections: the relay
// transport runs the same security handshake end to end, so InterceptSecured
// sees the remote's authenticated peer ID and admits members only, and a relay
// only serves peers it let connect (members, with a cluster secret).
//
// reach also owns the metrics no libp2p part exports in the node's own names:
// hole punches tried and won, and bytes relayed for others.
type reach struct {
	cfg    Config
	logger *slog.Logger

	gossip atomic.Pointer[gossip.Gossip] // relay candidates; set once gossip runs

	punches      *prometheus.CounterVec // by side and outcome
	directDials  *prometheus.CounterVec // by outcome
	relayedBytes prometheus.Counter
}

// newReach registers the reach metrics on reg.
func newReach(cfg Config, reg prometheus.Registerer, logger *slog.Logger) (*reach, error) {
	r := &reach{
		cfg:    cfg,
		logger: logger,
		punches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_holepunch_total",
			Help: "DCUtR hole punches finished, by side (initiator, receiver) and outcome (success, failed); one punch may take several attempts.",
		}, []string{"side", "outcome"}),
		directDials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_holepunch_direct_dials_total",
			Help: "Direct dials tried before hole punching (connection reversal to a peer that looks public), by outcome.",
		}, []string{"outcome"}),
		relayedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dhtnode_relay_relayed_bytes_total",
			Help: "Bytes this node's relay service carried for other peers, both directions.",
		}),
	}
	for _, c := range []prometheus.Collector{r.punches, r.directDials, r.relayedBytes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, side := range []string{"initiator", "receiver"} {
		for _, outcome := range []string{"success", "failed"} {
			r.punches.WithLabelValues(side, outcome)
		}
	}
	r.directDials.WithLabelValues("success")
	r.directDials.WithLabelValues("failed")
	return r, nil
}

// hostOptions are the libp2p options for NAT traversal; reg also receives
// libp2p's own relay and hole-punching metrics.
func (r *reach) hostOptions(reg prometheus.Registerer) ([]libp2p.Option, error) {
	static, err := r.cfg.Relay.staticRelays()
	if err != nil {
		return nil, err
	}
	// The relay transport is always on: without it the node could not dial others'
	// /p2p-circuit addresses, even when it needs no relay itself.
	opts := []libp2p.Option{
		libp2p.EnableRelay(),
		libp2p.EnableNATService(),
		libp2p.EnableAutoNATv2(),
	}
	switch r.cfg.Addresses.Reachability {
	case ReachPublic:
		opts = append(opts, libp2p.ForceReachabilityPublic())
	case ReachPrivate:
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	}
	if r.cfg.Relay.Service {
		res := relay.DefaultResources()
		res.MaxReservations = r.cfg.Relay.MaxReservations
		res.MaxCircuits = r.cfg.Relay.MaxCircuits
		res.Limit = &relay.RelayLimit{Duration: r.cfg.Relay.LimitDuration.Std(), Data: r.cfg.Relay.LimitData}
		if r.cfg.Relay.LimitData == 0 {
			res.Limit = nil // unlimited: relayed connections are not marked limited
		}
		inner := relay.NewMetricsTracer(relay.WithRegisterer(reg))
		opts = append(opts, libp2p.EnableRelayService(
			relay.WithResources(res),
			relay.WithMetricsTracer(relayTracer{MetricsTracer: inner, bytes: r.relayedBytes}),
		))
	}
	if r.cfg.Relay.Client {
		opts = append(opts, libp2p.EnableAutoRelayWithPeerSource(r.relayCandidates(static),
			autorelay.WithMinCandidates(1),
			autorelay.WithNumRelays(2),
			// Candidates come from our own config and member table, so asking again is
			// cheap; libp2p's defaults (30 s, 3 min) suit a DHT crawl, not this.
			autorelay.WithMinInterval(5*time.Second),
			autorelay.WithBootDelay(10*time.Second),
			autorelay.WithBackoff(time.Minute),
		))
	}
	if r.cfg.Addresses.HolePunching {
		inner := holepunch.NewMetricsTracer(holepunch.WithRegisterer(reg))
		opts = append(opts, libp2p.EnableHolePunching(holepunch.WithMetricsTracer(punchTracer{MetricsTracer: inner, r: r})))
	}
	if r.cfg.Addresses.NATPortMap && !loopbackOnly(r.cfg.Addresses.Listen) {
		opts = append(opts, libp2p.NATPortMap())
	}
	return opts, nil
}

// attach gives the relay client its second source of candidates, gossip.
func (r *reach) attach(gs *gossip.Gossip) { r.gossip.Store(gs) }

// relayCandidates is AutoRelay's peer source: the static relays first, then (with
// relay.from_gossip) alive members that advertise a public, non-relayed address.
// AutoRelay checks that a candidate speaks the relay protocol before reserving.
func (r *reach) relayCandidates(static []peer.AddrInfo) autorelay.PeerSource {
	return func(ctx context.Context, num int) <-chan peer.AddrInfo {
		out := slices.Clone(static)
		if gs := r.gossip.Load(); gs != nil && r.cfg.Relay.FromGossip {
			self := gs.Local().Name
			for _, m := range gs.Members() {
				if m.State != gossip.StateAlive || m.Name == self {
					continue
				}
				if info := m.AddrInfo(); hasPublicDirectAddr(info.Addrs) && !slices.ContainsFunc(out, func(s peer.AddrInfo) bool { return s.ID == info.ID }) {
					out = append(out, info)
				}
			}
		}
		if len(out) > num {
			out = out[:num]
		}
		ch := make(chan peer.AddrInfo, len(out))
		for _, info := range out {
			ch <- info
		}
		close(ch)
		return ch
	}
}

// info is the reach part of the id call.
func (r *reach) info(h host.Host) client.ReachInfo {
	out := client.ReachInfo{Reachability: "unknown", Relays: []string{}, ReachableAddrs: []string{}}
	if rh, ok := h.(interface{ Reachability() network.Reachability }); ok {
		switch rh.Reachability() {
		case network.ReachabilityPublic:
			out.Reachability = "public"
		case network.ReachabilityPrivate:
			out.Reachability = "private"
		}
	}
	if ch, ok := h.(interface {
		ConfirmedAddrs() (reachable, unreachable, unknown []ma.Multiaddr)
	}); ok {
		reachable, _, _ := ch.ConfirmedAddrs()
		for _, a := range reachable {
			out.ReachableAddrs = append(out.ReachableAddrs, a.String())
		}
	}
	// A reservation shows as a /p2p/<relay>/p2p-circuit address of ours.
	for _, a := range h.Addrs() {
		if id, ok := circuitRelay(a); ok && !slices.Contains(out.Relays, id.String()) {
			out.Relays = append(out.Relays, id.String())
		}
	}
	slices.Sort(out.Relays)
	slices.Sort(out.ReachableAddrs)
	out.RelayService = r.cfg.Relay.Service && out.Reachability == "public"
	return out
}

// circuitRelay returns the relay's peer ID of a /…/p2p/<relay>/p2p-circuit address.
func circuitRelay(a ma.Multiaddr) (peer.ID, bool) {
	relayPart, _ := ma.SplitFunc(a, func(c ma.Component) bool { return c.Protocol().Code == ma.P_CIRCUIT })
	if len(relayPart) == len(a) {
		return "", false
	}
	info, err := peer.AddrInfoFromP2pAddr(relayPart)
	if err != nil {
		return "", false
	}
	return info.ID, true
}

// isRelayed reports whether a is a /p2p-circuit address.
func isRelayed(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// hasPublicDirectAddr reports whether some address is public and not relayed.
func hasPublicDirectAddr(addrs []ma.Multiaddr) bool {
	return slices.ContainsFunc(addrs, func(a ma.Multiaddr) bool { return !isRelayed(a) && manet.IsPublicAddr(a) })
}

// loopbackOnly reports whether every listen address is on loopback, where no
// router could map a port (and tests must not send UPnP discovery to the LAN).
func loopbackOnly(listen []string) bool {
	for _, s := range listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil || !manet.IsIPLoopback(a) {
			return false
		}
	}
	return true
}

// relayTracer adds the relayed-bytes counter to libp2p's relay metrics.
type relayTracer struct {
	relay.MetricsTracer
	bytes prometheus.Counter
}

// BytesTransferred counts relayed bytes, then passes them on.
func (t relayTracer) BytesTransferred(n int) {
	t.bytes.Add(float64(n))
	t.MetricsTracer.BytesTransferred(n)
}

// punchTracer adds dhtnode's hole-punch counters to libp2p's hole-punch metrics.
type punchTracer struct {
	holepunch.MetricsTracer
	r *reach
}

// HolePunchFinished counts one finished hole punch by outcome.
func (t punchTracer) HolePunchFinished(side string, attempts int, theirs, ours []ma.Multiaddr, direct network.ConnMultiaddrs) {
	outcome := "failed"
	if direct != nil {
		outcome = "success"
	}
	t.r.punches.WithLabelValues(side, outcome).Inc()
	t.r.logger.Debug("hole punch finished", "side", side, "attempts", attempts, "outcome", outcome, "their_addrs", theirs, "our_addrs", ours)
	t.MetricsTracer.HolePunchFinished(side, attempts, theirs, ours, direct)
}

// DirectDialFinished counts a direct dial made instead of a hole punch.
func (t punchTracer) DirectDialFinished(success bool) {
	outcome := "failed"
	if success {
		outcome = "success"
	}
	t.r.directDials.WithLabelValues(outcome).Inc()
	t.MetricsTracer.DirectDialFinished(success)
}
