package node

import (
	"fmt"
	"sync/atomic"

	"github.com/dhtnode/dhtnode/gossip"
	"github.com/dhtnode/dhtnode/internal/p2pgossip"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// gossipNet is the node's end of gossip.transport: nothing for udp (gossip binds
// its own sockets), the libp2p gossip transport for libp2p.
type gossipNet struct {
	tr *p2pgossip.Transport          // nil on udp
	gs atomic.Pointer[gossip.Gossip] // set once gossip runs; member addresses for dials
}

// overLibp2p reports whether gossip runs over libp2p.
func (n *Node) overLibp2p() bool { return n.gossipNet.tr != nil }

// setupGossipTransport fills the transport part of gcfg from gossip.transport:
// for libp2p it starts the transport on the node's host and turns the join
// multiaddrs into memberlist's join syntax.
func (n *Node) setupGossipTransport(gcfg *gossip.Config) error {
	if n.cfg.Gossip.Transport != GossipLibp2p {
		gcfg.TransportName = GossipUDP
		return nil
	}
	tr, err := p2pgossip.New(p2pgossip.Config{
		Host:       n.host,
		Addrs:      n.memberAddrs,
		Logger:     n.Logger("gossip-transport"),
		Registerer: n.registry,
	})
	if err != nil {
		return err
	}
	n.gossipNet.tr = tr
	gcfg.Transport = tr
	gcfg.TransportName = GossipLibp2p
	gcfg.BindAddr, gcfg.AdvertiseAddr = "", ""
	gcfg.RetryJoin, err = n.gossipJoinAddrs(n.cfg.Gossip.Join)
	if err != nil {
		_ = tr.Shutdown()
		return err
	}
	return nil
}

// gossipStarted lets the transport find members' addresses in gossip.
func (n *Node) gossipStarted(g *gossip.Gossip) { n.gossipNet.gs.Store(g) }

// memberAddrs is a member's libp2p addresses from its signed gossip metadata,
// for the transport's dial when the peerstore has none.
func (n *Node) memberAddrs(id peer.ID) []ma.Multiaddr {
	g := n.gossipNet.gs.Load()
	if g == nil {
		return nil
	}
	for _, m := range g.Members() {
		if m.PeerID == id {
			return m.Addrs
		}
	}
	return nil
}

// gossipJoinAddrs turns join addresses into what gossip.Join takes: unchanged on
// udp (host:port), memberlist's "peer-ID/derived-address" on libp2p.
func (n *Node) gossipJoinAddrs(addrs []string) ([]string, error) {
	for _, a := range addrs {
		if err := n.checkJoinAddr(a); err != nil {
			return nil, err
		}
	}
	if !n.overLibp2p() {
		return addrs, nil
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		j, err := n.gossipNet.tr.JoinAddr(a)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// gossipJoinAddr is the address others pass to join this node: the gossip
// host:port on udp; on libp2p an advertised multiaddr with /p2p/<id>, the one
// most others can dial: public before private, private before loopback, direct
// before relayed, and QUIC before TCP within each (see pickJoinAddr).
func (n *Node) gossipJoinAddr() string {
	if !n.overLibp2p() {
		return n.gossip.Local().Addr
	}
	if a := pickJoinAddr(n.host.Addrs()); a != nil {
		return fmt.Sprintf("%s/p2p/%s", a, n.host.ID())
	}
	return "/p2p/" + n.host.ID().String()
}

// pickJoinAddr ranks addrs for gossipJoinAddr; nil if there are none. QUIC goes
// before TCP as in libp2p's own dialing, and for hole punching: a node learns its
// external address on a transport only when enough peers it is connected to over
// that transport report it, so a NATed member that joined over TCP often knows no
// QUIC address to punch with, and TCP punches fail more often (in the NAT lab,
// 4 of 6 gets stayed relayed with a TCP join, none of 3 with a QUIC join).
func pickJoinAddr(addrs []ma.Multiaddr) ma.Multiaddr {
	var pick ma.Multiaddr
	best := 8
	for _, a := range addrs {
		r := 3 // relayed
		switch {
		case isRelayed(a):
		case manet.IsPublicAddr(a):
			r = 0
		case manet.IsIPLoopback(a):
			r = 2
		default:
			r = 1
		}
		r *= 2
		if _, err := a.ValueForProtocol(ma.P_QUIC_V1); err != nil {
			r++
		}
		if r < best {
			pick, best = a, r
		}
	}
	return pick
}

// gossipWhere names where gossip runs, for errors: the bind address or libp2p.
func (n *Node) gossipWhere() string {
	if n.overLibp2p() {
		return "libp2p"
	}
	return n.cfg.Addresses.Gossip
}

// checkJoinAddr checks a join address for this node's gossip transport.
func (n *Node) checkJoinAddr(a string) error {
	t := GossipUDP
	if n.overLibp2p() {
		t = GossipLibp2p
	}
	return checkJoinAddr(t, a)
}
