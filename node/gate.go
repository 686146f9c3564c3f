package node

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/dhtnode/dhtnode/gossip"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// memberGate keeps peers that are not cluster members out of the node's libp2p host
// and routers when a cluster secret is set. Gossip with a secret is encrypted, and
// every member's metadata is signed by its libp2p key, so "alive or suspect in
// gossip" is the verified statement that a peer ID belongs to someone who holds the
// secret. Without a secret the gate admits everyone: the node is open, as gossip is.
//
// Two layers, both fed by the same membership predicate (isMember):
//
//  1. A libp2p connection gater. InterceptSecured runs right after the security
//     handshake has authenticated the remote peer ID and before the muxer is set
//     up: a non-member's connection is closed there, so it can open no stream on
//     any protocol (routers, content exchange, identify). InterceptPeerDial stops
//     this node from dialling non-members, so no connection exists on which a
//     non-member could open streams back.
//  2. Each router's IsMember seam (chord.Config, onehop.Config, kademlia.Config):
//     the stream handlers reset streams from non-members unanswered, and nothing a
//     non-member sends is adopted into a ring, view or k-bucket. Chord is given the
//     membership (member) without a secret too: there it answers everyone but still
//     adopts and believes members only, so lying members cannot route it to peers
//     that are in nobody's gossip view.
//
// Why a gater and not a libp2p private network (pnet, a PSK derived from the
// secret): go-libp2p refuses QUIC and WebTransport with a PSK (they bring their own
// encryption and cannot be wrapped), so pnet would turn the node into TCP-only, and
// NAT hole punching (DCUtR) works much worse over TCP than over QUIC. pnet would also
// make every peer that does not hold the key look like a broken network rather than
// a refused one, and it could never admit a non-member for one protocol. The gater
// keeps QUIC and refuses just as early in practice: a non-member pays one handshake
// and gets its connection closed before it can open a stream. What it costs is
// timing: gossip events arrive asynchronously, so a member that joined a moment ago
// may dial us before our dispatcher has delivered its join. isMember therefore
// falls back to gossip's own member table (updated the moment memberlist accepts the
// member) before refusing, and the routers retry members on their next round.
//
// With gossip over libp2p (gossip.transport libp2p) a joiner is not a member until
// its join has gone through, and it joins over a libp2p connection. Then the
// gater admits every authenticated connection and the gate moves to the stream:
// a wrapper around the resource manager refuses, at protocol negotiation, every
// stream to or from a non-member except the gossip protocols and identify
// (gate_stream.go). That covers every protocol on the host, libp2p's own
// (AutoNAT, relay, DCUtR) included, and layer 2 stays as it is.
type memberGate struct {
	enforce bool
	// streams: the gate works per stream rather than per connection (gossip
	// runs over libp2p, so non-members must reach the gossip protocols).
	streams bool
	logger  *slog.Logger
	refused *prometheus.CounterVec // by where: connection, dial, stream, onehop, kademlia

	mu      sync.RWMutex
	members map[peer.ID]struct{} // alive members, as the membership dispatcher delivered them

	gossip atomic.Pointer[gossip.Gossip] // fresher source, consulted on a miss
	host   atomic.Pointer[host.Host]     // to close connections of members that went down
}

var (
	_ connmgr.ConnectionGater    = (*memberGate)(nil)
	_ routing.MembershipListener = (*memberGate)(nil)
)

// newMemberGate builds the gate; enforce is whether a cluster secret is set,
// streams whether gossip runs over libp2p (then non-members may open gossip
// streams and nothing else). It logs in one line whether the node is open, so an
// operator sees it at start.
func newMemberGate(enforce, streams bool, reg prometheus.Registerer, logger *slog.Logger) (*memberGate, error) {
	g := &memberGate{
		enforce: enforce,
		streams: enforce && streams,
		logger:  logger,
		members: make(map[peer.ID]struct{}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_nonmembers_refused_total",
			Help: "Connections, dials, streams (gossip over libp2p) and router requests refused because the peer is not a cluster member (only with a cluster secret).",
		}, []string{"at"}), // at: connection, dial, stream, onehop, kademlia (chord counts its own)
	}
	if err := reg.Register(g.refused); err != nil {
		return nil, err
	}
	if enforce {
		logger.Info("cluster secret set: only gossip members may connect over libp2p and use the routers")
	} else {
		logger.Warn("no cluster secret: the node is open, anyone who can reach it may join gossip, route through it and fetch its content")
	}
	return g, nil
}

// hostOptions are the libp2p options the gate adds to the host: the connection gater
// when the gate enforces membership, nothing otherwise.
func (g *memberGate) hostOptions() []libp2p.Option {
	if !g.enforce {
		return nil
	}
	return []libp2p.Option{libp2p.ConnectionGater(g)}
}

// attach connects the gate to the parts started after the host: gossip (the fresh
// member table), the host itself and the membership dispatcher (ordered events). The
// membership is followed with or without a secret (Chord checks answers against it
// either way, see member); only an enforcing gate gets the host, to close the
// connections of members that went down.
func (g *memberGate) attach(h host.Host, gs *gossip.Gossip, m *memberFeed) {
	g.gossip.Store(gs)
	m.add(g)
	if g.enforce {
		g.host.Store(&h)
	}
}

// routerFilter is the IsMember seam for the router named at ("chord", "onehop",
// "kademlia"): nil without a secret (the router serves everyone), else the
// membership predicate, counting refusals.
func (g *memberGate) routerFilter(at string) func(peer.ID) bool {
	if !g.enforce {
		return nil
	}
	refused := g.refused.WithLabelValues(at)
	return func(p peer.ID) bool {
		if g.isMember(p) {
			return true
		}
		refused.Inc()
		return false
	}
}

// isMember reports whether p is a verified cluster member (or the gate is open).
func (g *memberGate) isMember(p peer.ID) bool {
	return !g.enforce || g.member(p)
}

// member reports whether p is alive or suspect in this node's gossip view, with or
// without a secret. Without one anybody may join gossip, so being a member proves
// little; but a peer that is not even in the view is no member at all, and that is
// what Chord needs to refuse invented peers, owners and neighbours that lying members
// name (router_chord.go). It counts nothing: a peer a lying answer names is no refused
// connection (Chord counts the lie).
func (g *memberGate) member(p peer.ID) bool {
	g.mu.RLock()
	_, ok := g.members[p]
	g.mu.RUnlock()
	if ok {
		return true
	}
	// A miss: the member may be newer than the last event we were given. Gossip's
	// table is what memberlist has accepted (metadata verified), right now.
	gs := g.gossip.Load()
	if gs == nil || p == "" {
		return false
	}
	for _, m := range gs.Members() {
		if m.PeerID == p {
			return m.State == gossip.StateAlive || m.State == gossip.StateSuspect
		}
	}
	return false
}

// PeerUp records a member that gossip reports alive.
func (g *memberGate) PeerUp(info peer.AddrInfo) {
	g.mu.Lock()
	g.members[info.ID] = struct{}{}
	g.mu.Unlock()
}

// PeerDown forgets a member that failed or left, and closes its connections so that
// it keeps no way in that it opened while it was a member.
func (g *memberGate) PeerDown(id peer.ID) {
	g.mu.Lock()
	delete(g.members, id)
	g.mu.Unlock()
	if h := g.host.Load(); h != nil {
		// Not on the dispatcher's goroutine: closing may wait on the network.
		go func() {
			if !g.isMember(id) { // it may have come back meanwhile
				_ = (*h).Network().ClosePeer(id)
			}
		}()
	}
}

// InterceptPeerDial refuses to dial non-members (with gossip over libp2p it
// admits them: a joiner dials its seed before either is a member to the other).
func (g *memberGate) InterceptPeerDial(p peer.ID) bool {
	if g.streams || g.isMember(p) {
		return true
	}
	g.refused.WithLabelValues("dial").Inc()
	return false
}

// InterceptAddrDial admits every address: the peer was judged in InterceptPeerDial.
func (g *memberGate) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

// InterceptAccept admits every inbound connection: its peer ID is not known before
// the security handshake, so InterceptSecured judges it.
func (g *memberGate) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured closes connections, in either direction, whose authenticated
// peer is not a member. It runs before the stream muxer, so no stream is opened.
// With gossip over libp2p it admits them and the stream gate decides.
func (g *memberGate) InterceptSecured(dir network.Direction, p peer.ID, addrs network.ConnMultiaddrs) bool {
	if g.streams || g.isMember(p) {
		return true
	}
	g.refused.WithLabelValues("connection").Inc()
	g.logger.Debug("refused a libp2p connection from a non-member", "peer", p, "direction", dir, "remote", addrs.RemoteMultiaddr())
	return false
}

// InterceptUpgraded admits every connection that got this far.
func (g *memberGate) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}
