package node

import (
	"fmt"
	"sync/atomic"

	"github.com/dhtnode/dhtnode/gossip"
	"github.com/dhtnode/dhtnode/internal/p2pgossip"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
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
// host:port on udp; on libp2p the first advertised multiaddr with /p2p/<id>
// (direct addresses before relayed ones).
func (n *Node) gossipJoinAddr() string {
	if !n.overLibp2p() {
		return n.gossip.Local().Addr
	}
	addrs := n.host.Addrs()
	var pick ma.Multiaddr
	for _, a := range addrs {
		if !isRelayed(a) {
			pick = a
			break
		}
	}
	if pick == nil && len(addrs) > 0 {
		pick = addrs[0]
	}
	if pick == nil {
		return "/p2p/" + n.host.ID().String()
	}
	return fmt.Sprintf("%s/p2p/%s", pick, n.host.ID())
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
