package node

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Gossip transports, the values of gossip.transport.
const (
	// GossipUDP is memberlist's own transport: UDP packets and TCP streams on
	// addresses.gossip. It needs every member to reach every other's gossip port.
	GossipUDP = "udp"
	// GossipLibp2p carries gossip on libp2p streams: one port, the libp2p
	// identity and encryption, and NAT traversal (relays, hole punching).
	GossipLibp2p = "libp2p"
	// DefaultGossipTransport is what `dhtnode init` writes: libp2p, because it
	// works behind NAT, where udp silently gets a member declared dead, for a cost
	// of well under 1 KB/s per member (docs/nat.md has the measurements).
	DefaultGossipTransport = GossipLibp2p
)

// configError names the config key a problem is under.
type configError struct {
	key string
	err error
}

// checkGossipTransport checks gossip.transport and the join addresses and
// settings that depend on it.
func checkGossipTransport(c Config) *configError {
	switch c.Gossip.Transport {
	case GossipUDP, GossipLibp2p:
		for _, j := range c.Gossip.Join {
			if err := checkJoinAddr(c.Gossip.Transport, j); err != nil {
				return &configError{"gossip.join", err}
			}
		}
		if c.Gossip.Transport == GossipUDP {
			break
		}
		if c.Addresses.GossipAdvertise != "" {
			return &configError{"addresses.gossip_advertise", fmt.Errorf("cannot be set with gossip.transport %q: members are reached at their libp2p addresses", GossipLibp2p)}
		}
	default:
		return &configError{"gossip.transport", fmt.Errorf("%q is not one of %s, %s", c.Gossip.Transport, GossipUDP, GossipLibp2p)}
	}
	return nil
}

// checkJoinAddr checks one join address for the gossip transport: host:port on
// udp, a /p2p/ multiaddr on libp2p.
func checkJoinAddr(transport, a string) error {
	if transport == GossipLibp2p {
		return checkP2pAddr(a)
	}
	if err := checkHostPort(a, true); err != nil {
		if _, merr := ma.NewMultiaddr(a); merr == nil {
			return fmt.Errorf("%q is a multiaddr: joining by multiaddr needs gossip.transport %q on every member; on %q join the member's gossip host:port", a, GossipLibp2p, GossipUDP)
		}
		return err
	}
	return nil
}

// checkP2pAddr accepts a multiaddr that ends in /p2p/<peer ID>.
func checkP2pAddr(s string) error {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return fmt.Errorf("%q: with gossip.transport %q a join address is a multiaddr ending in /p2p/<peer ID> (dhtnode id prints them): %v", s, GossipLibp2p, err)
	}
	if _, err := peer.AddrInfoFromP2pAddr(a); err != nil {
		return fmt.Errorf("%q: with gossip.transport %q a join address must end in /p2p/<peer ID>: %v", s, GossipLibp2p, err)
	}
	return nil
}
