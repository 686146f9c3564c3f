package node

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Reachability values for addresses.reachability.
const (
	// ReachAuto lets AutoNAT find out whether others can dial this node.
	ReachAuto = "auto"
	// ReachPublic declares the node publicly reachable: it skips AutoNAT's verdict
	// and offers the relay service at once (a server with a public address).
	ReachPublic = "public"
	// ReachPrivate declares the node behind NAT: it reserves relay slots at once
	// instead of waiting for AutoNAT to conclude so.
	ReachPrivate = "private"
)

// RelayConfig is the "relay" section of config.json: Circuit Relay v2, as a service
// for others and as a client for this node when it is not reachable. Every key is
// optional and defaults as documented.
type RelayConfig struct {
	// Service offers a relay (Circuit Relay v2 hop) to other peers while this node is
	// publicly reachable, with the limits below. With a cluster secret only members can
	// connect at all, so only members can reserve. Default true.
	Service bool `json:"service"`
	// Client reserves slots on relays while this node is not publicly reachable, so
	// others can reach it through them and then hole-punch a direct connection
	// (DCUtR). Default true.
	Client bool `json:"client"`
	// Static lists relays to reserve on, as multiaddrs ending in /p2p/<peer ID>. They
	// are tried before relays learned from gossip. Default none.
	Static []string `json:"static"`
	// FromGossip lets the client use gossip members that advertise a public address as
	// relay candidates. Default true.
	FromGossip bool `json:"from_gossip"`
	// MaxReservations bounds the slots this node's relay service holds for others
	// (default 128, libp2p's).
	MaxReservations int `json:"max_reservations"`
	// MaxCircuits bounds the relayed connections open at once for one reserving peer
	// (default 16, libp2p's).
	MaxCircuits int `json:"max_circuits"`
	// LimitDuration ends a relayed connection after this long (default 2m, libp2p's).
	// 0s together with limit_data 0 relays without limit.
	LimitDuration Duration `json:"limit_duration"`
	// LimitData ends a relayed connection after this many bytes in either direction
	// (default 131072, libp2p's 128 KiB). A connection through a limited relay carries
	// only hole punching and small requests: content waits for the direct connection
	// hole punching makes. 0 together with limit_duration 0s relays without limit,
	// which lets content flow through the relay when no hole can be punched
	// (symmetric NAT); do that only in a cluster with a secret.
	LimitData int64 `json:"limit_data"`
}

// DefaultRelayConfig returns the defaults documented on RelayConfig.
func DefaultRelayConfig() RelayConfig {
	return RelayConfig{
		Service:         true,
		Client:          true,
		Static:          []string{},
		FromGossip:      true,
		MaxReservations: 128,
		MaxCircuits:     16,
		LimitDuration:   Duration(2 * time.Minute),
		LimitData:       128 << 10,
	}
}

// Validate checks every setting and names the key at fault.
func (c RelayConfig) Validate() error {
	if _, err := c.staticRelays(); err != nil {
		return err
	}
	switch {
	case c.MaxReservations < 1:
		return fmt.Errorf("relay.max_reservations: %d < 1", c.MaxReservations)
	case c.MaxCircuits < 1:
		return fmt.Errorf("relay.max_circuits: %d < 1", c.MaxCircuits)
	case c.LimitDuration < 0:
		return fmt.Errorf("relay.limit_duration: must not be negative")
	case c.LimitData < 0:
		return fmt.Errorf("relay.limit_data: %d < 0", c.LimitData)
	case (c.LimitDuration == 0) != (c.LimitData == 0):
		return fmt.Errorf("relay.limit_duration and relay.limit_data: set both to 0 for an unlimited relay, or neither")
	}
	return nil
}

// staticRelays parses Static into AddrInfos, one per relay peer.
func (c RelayConfig) staticRelays() ([]peer.AddrInfo, error) {
	addrs := make([]ma.Multiaddr, 0, len(c.Static))
	for _, s := range c.Static {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("relay.static: %q is not a multiaddr: %v", s, err)
		}
		addrs = append(addrs, a)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil {
		return nil, fmt.Errorf("relay.static: %v (each address must end in /p2p/<peer ID>)", err)
	}
	return infos, nil
}

// validateReach checks the reach keys of the addresses section.
func (a AddressesConfig) validateReach() error {
	switch a.Reachability {
	case ReachAuto, ReachPublic, ReachPrivate:
		return nil
	}
	return fmt.Errorf("addresses.reachability: %q is not one of auto, public, private", a.Reachability)
}
