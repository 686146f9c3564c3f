package kademlia

import (
	"net"
	"sync"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p-kad-dht/amino"
	"github.com/libp2p/go-libp2p-kbucket/peerdiversity"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// diversityOption returns kad-dht's routing-table diversity option for mode, or nil.
//
// Why: kad-dht groups peers by IP (/16 for IPv4, /8 for the legacy class-A blocks,
// the ASN for IPv6) and admits at most 2 peers per group per bucket and 3 per
// table (IPFS's values). On the Internet that stops one operator from filling our
// buckets with Sybils (an eclipse attack). But every peer on 127.0.0.1 is one
// group, and so is every libp2p mocknet host (all in 100::/64), so a local cluster
// would keep only 3 peers in the whole table and route badly.
func diversityOption(mode string, h host.Host) dht.Option {
	switch mode {
	case DiversityStrict:
		return dht.RoutingTablePeerDiversityFilter(
			dht.NewRTPeerDiversityFilter(h, amino.DefaultMaxPeersPerIPGroupPerCpl, amino.DefaultMaxPeersPerIPGroup))
	case DiversityPublic:
		return dht.RoutingTablePeerDiversityFilter(newPublicOnlyFilter(h))
	default:
		return nil
	}
}

// publicOnlyFilter applies kad-dht's IP-group limits to peers reached over public
// addresses and admits peers whose every connection is loopback, private or
// link-local: a LAN or one-machine cluster is not where the eclipse defence helps,
// and it is where the filter hurts most. It tracks which groups it passed on to
// kad-dht's filter so that Decrement always mirrors Increment, even when a peer's
// connections change in between.
type publicOnlyFilter struct {
	h     host.Host
	inner peerdiversity.PeerIPGroupFilter

	mu      sync.Mutex
	counted map[peerdiversity.PeerGroupInfo]bool
}

var _ peerdiversity.PeerIPGroupFilter = (*publicOnlyFilter)(nil)

func newPublicOnlyFilter(h host.Host) *publicOnlyFilter {
	return &publicOnlyFilter{
		h:       h,
		inner:   dht.NewRTPeerDiversityFilter(h, amino.DefaultMaxPeersPerIPGroupPerCpl, amino.DefaultMaxPeersPerIPGroup),
		counted: make(map[peerdiversity.PeerGroupInfo]bool),
	}
}

func (f *publicOnlyFilter) Allow(g peerdiversity.PeerGroupInfo) bool {
	if f.exempt(g.Id) {
		return true
	}
	return f.inner.Allow(g)
}

func (f *publicOnlyFilter) Increment(g peerdiversity.PeerGroupInfo) {
	if f.exempt(g.Id) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.counted[g] {
		f.counted[g] = true
		f.inner.Increment(g)
	}
}

func (f *publicOnlyFilter) Decrement(g peerdiversity.PeerGroupInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counted[g] {
		delete(f.counted, g)
		f.inner.Decrement(g)
	}
}

func (f *publicOnlyFilter) PeerAddresses(p peer.ID) []ma.Multiaddr {
	return f.inner.PeerAddresses(p)
}

// exempt reports whether every connection to p is local (loopback, private, link-local).
func (f *publicOnlyFilter) exempt(p peer.ID) bool {
	conns := f.h.Network().ConnsToPeer(p)
	if len(conns) == 0 {
		return false
	}
	for _, c := range conns {
		if !isLocalAddr(c.RemoteMultiaddr()) {
			return false
		}
	}
	return true
}

// isLocalAddr reports whether a's IP is loopback, private (RFC 1918, RFC 4193) or link-local.
func isLocalAddr(a ma.Multiaddr) bool {
	ip, err := manet.ToIP(a)
	if err != nil {
		return false
	}
	return isLocalIP(ip)
}

func isLocalIP(ip net.IP) bool {
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast()
}
