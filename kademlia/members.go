package kademlia

import (
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// memberOptions confines kad-dht to the peers isMember admits: its routing table
// takes no one else (RoutingTableFilter: kad-dht otherwise adds any peer that
// identify shows speaking our DHT protocol), and lookups query no one else
// (QueryFilter: peers named in other peers' answers are skipped). nil isMember
// leaves kad-dht open, with its defaults.
func memberOptions(isMember func(peer.ID) bool) []dht.Option {
	if isMember == nil {
		return nil
	}
	return []dht.Option{
		dht.RoutingTableFilter(func(_ any, p peer.ID) bool { return isMember(p) }),
		dht.QueryFilter(func(_ any, ai peer.AddrInfo) bool { return isMember(ai.ID) }),
	}
}

// memberHost is the host kad-dht is given when only members may use it: every
// stream handler kad-dht registers first resets streams from peers isMember
// rejects, so a non-member gets no answer (kad-dht has no inbound filter of its own).
type memberHost struct {
	host.Host
	isMember func(peer.ID) bool
}

// SetStreamHandler registers handler behind the membership check.
func (h memberHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.Host.SetStreamHandler(pid, func(s network.Stream) {
		if !h.isMember(s.Conn().RemotePeer()) {
			_ = s.Reset()
			return
		}
		handler(s)
	})
}

// dhtHost is h, or h behind the membership check when isMember is set.
func dhtHost(h host.Host, isMember func(peer.ID) bool) host.Host {
	if isMember == nil {
		return h
	}
	return memberHost{Host: h, isMember: isMember}
}
