package node

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dhtnode/dhtnode/chord"
)

// RoutingConfig picks which lookup protocols the node runs and tunes each one. It is
// the "routing" section of config.json:
//
//	"routing": {
//	  "routers": ["chord", "kademlia"],
//	  "default": "kademlia",
//	  "chord": {"successors": 8, "stabilize_interval": "1s", ...},
//	  "kademlia": {...},
//	  "onehop": {...}
//	}
//
// Each router's section has its own type, defined next to the code that starts the
// router: ChordConfig below, KademliaConfig in router_kademlia.go, OnehopConfig in
// router_onehop.go. A section is used only when its router is listed in Routers.
type RoutingConfig struct {
	// Routers lists the protocols to run side by side: "chord", "kademlia", "onehop".
	Routers []string `json:"routers"`
	// Default is the router content commands (add, get) use; it must be one of Routers.
	Default string `json:"default"`
	// Chord tunes the Chord ring.
	Chord ChordConfig `json:"chord"`
	// Kademlia tunes go-libp2p-kad-dht (type and defaults in router_kademlia.go).
	Kademlia KademliaConfig `json:"kademlia"`
	// Onehop tunes the one-hop baseline (type and defaults in router_onehop.go).
	Onehop OnehopConfig `json:"onehop"`
}

// knownRouters are the names Validate accepts, in the order `lookup --via all` shows them.
var knownRouters = []string{"chord", "kademlia", "onehop"}

// DefaultRoutingConfig runs Chord and Kademlia and uses Kademlia by default.
func DefaultRoutingConfig() RoutingConfig {
	return RoutingConfig{
		Routers:  []string{"chord", "kademlia"},
		Default:  "kademlia",
		Chord:    DefaultChordConfig(),
		Kademlia: DefaultKademliaConfig(),
		Onehop:   DefaultOnehopConfig(),
	}
}

// Validate checks that every router is known and listed once, that the default is
// among them, and each listed router's section.
func (c RoutingConfig) Validate() error {
	for i, r := range c.Routers {
		if !slices.Contains(knownRouters, r) {
			return fmt.Errorf("routers: unknown router %q (known: %v)", r, knownRouters)
		}
		if slices.Contains(c.Routers[:i], r) {
			return fmt.Errorf("routers: %q listed twice", r)
		}
	}
	if len(c.Routers) == 0 {
		if c.Default != "" {
			return errors.New("default: set but routers is empty")
		}
		return nil
	}
	if !slices.Contains(c.Routers, c.Default) {
		return fmt.Errorf("default: %q is not in routers %v", c.Default, c.Routers)
	}
	if slices.Contains(c.Routers, "chord") {
		if err := c.Chord.Validate(); err != nil {
			return fmt.Errorf("chord: %w", err)
		}
	}
	if slices.Contains(c.Routers, "kademlia") {
		if err := c.Kademlia.Validate(); err != nil {
			return fmt.Errorf("kademlia: %w", err)
		}
	}
	if slices.Contains(c.Routers, "onehop") {
		if err := c.Onehop.Validate(); err != nil {
			return fmt.Errorf("onehop: %w", err)
		}
	}
	return nil
}

// ChordConfig is the "routing.chord" section: chord.Config as it is spelled in
// config.json. Every field is documented on chord.Config; defaults suit a LAN.
type ChordConfig struct {
	// Successors is the successor list length r; records live on r nodes. Default 8.
	Successors int `json:"successors"`
	// StabilizeInterval: how often the ring is repaired. Default "1s".
	StabilizeInterval Duration `json:"stabilize_interval"`
	// FixFingersInterval: how often one finger is refreshed. Default "1s".
	FixFingersInterval Duration `json:"fix_fingers_interval"`
	// CheckPredecessorInterval: how often the predecessor is pinged. Default "1s".
	CheckPredecessorInterval Duration `json:"check_predecessor_interval"`
	// RPCTimeout bounds each Chord request. Default "2s".
	RPCTimeout Duration `json:"rpc_timeout"`
	// ReferralWidth: how many next hops a node suggests, for fallback. Default 3.
	ReferralWidth int `json:"referral_width"`
	// RouteViaSuccessors lets lookups use the whole successor list for shortcuts (fewer
	// hops, unlike the paper). Default false.
	RouteViaSuccessors bool `json:"route_via_successors"`
	// MaxLookupRPCs bounds the requests of one lookup. Default 32.
	MaxLookupRPCs int `json:"max_lookup_rpcs"`
	// ProviderTTL: how long a provider record lives unless republished. Default "24h".
	ProviderTTL Duration `json:"provider_ttl"`
	// RepublishInterval: how often this node re-announces what it provides. Default "1h".
	RepublishInterval Duration `json:"republish_interval"`
	// MaxProvidersPerKey, MaxRecordsPerPeer, MaxRecords bound the provider records this
	// node stores for others. Defaults 64, 10000, 200000.
	MaxProvidersPerKey int `json:"max_providers_per_key"`
	MaxRecordsPerPeer  int `json:"max_records_per_peer"`
	MaxRecords         int `json:"max_records"`
}

// DefaultChordConfig is chord.DefaultConfig in config-file form.
func DefaultChordConfig() ChordConfig {
	d := chord.DefaultConfig()
	return ChordConfig{
		Successors:               d.Successors,
		StabilizeInterval:        Duration(d.StabilizeInterval),
		FixFingersInterval:       Duration(d.FixFingersInterval),
		CheckPredecessorInterval: Duration(d.CheckPredecessorInterval),
		RPCTimeout:               Duration(d.RPCTimeout),
		ReferralWidth:            d.ReferralWidth,
		RouteViaSuccessors:       d.RouteViaSuccessors,
		MaxLookupRPCs:            d.MaxLookupRPCs,
		ProviderTTL:              Duration(d.ProviderTTL),
		RepublishInterval:        Duration(d.RepublishInterval),
		MaxProvidersPerKey:       d.MaxProvidersPerKey,
		MaxRecordsPerPeer:        d.MaxRecordsPerPeer,
		MaxRecords:               d.MaxRecords,
	}
}

// ChordConfig converts the section to chord.Config (without logger and registry).
func (c ChordConfig) ChordConfig() chord.Config {
	return chord.Config{
		Successors:               c.Successors,
		StabilizeInterval:        time.Duration(c.StabilizeInterval),
		FixFingersInterval:       time.Duration(c.FixFingersInterval),
		CheckPredecessorInterval: time.Duration(c.CheckPredecessorInterval),
		RPCTimeout:               time.Duration(c.RPCTimeout),
		ReferralWidth:            c.ReferralWidth,
		RouteViaSuccessors:       c.RouteViaSuccessors,
		MaxLookupRPCs:            c.MaxLookupRPCs,
		LookupStall:              chord.DefaultConfig().LookupStall, // not configurable: a LAN answers in ms
		LiarBan:                  chord.DefaultConfig().LiarBan,     // not configurable: minutes suit a LAN
		ProviderTTL:              time.Duration(c.ProviderTTL),
		RepublishInterval:        time.Duration(c.RepublishInterval),
		MaxProvidersPerKey:       c.MaxProvidersPerKey,
		MaxRecordsPerPeer:        c.MaxRecordsPerPeer,
		MaxRecords:               c.MaxRecords,
	}
}

// Validate reports the first setting chord would refuse.
func (c ChordConfig) Validate() error { return c.ChordConfig().Validate() }
