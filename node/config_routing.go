package node

import (
	"errors"
	"fmt"
	"slices"

	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/kademlia"
	"github.com/dhtnode/dhtnode/onehop"
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
// Each router's section is that router's own Config type (chord.Config,
// kademlia.Config, onehop.Config), so each setting is defined once, in its package. A section is used only when its router is listed in Routers.
type RoutingConfig struct {
	// Routers lists the protocols to run side by side: "chord", "kademlia", "onehop".
	Routers []string `json:"routers"`
	// Default is the router content commands (add, get) use; it must be one of Routers.
	Default string `json:"default"`
	// Chord tunes the Chord ring (chord.Config: its JSON-tagged fields are the keys).
	Chord chord.Config `json:"chord"`
	// Kademlia tunes go-libp2p-kad-dht (kademlia.Config: its JSON-tagged fields are the keys).
	Kademlia kademlia.Config `json:"kademlia"`
	// Onehop tunes the one-hop baseline (onehop.Config: its JSON-tagged fields are the keys).
	Onehop onehop.Config `json:"onehop"`
}

// knownRouters are the names Validate accepts, in the order `lookup --via all` shows them.
var knownRouters = []string{"chord", "kademlia", "onehop"}

// DefaultRoutingConfig runs Chord and Kademlia and uses Kademlia by default.
func DefaultRoutingConfig() RoutingConfig {
	return RoutingConfig{
		Routers:  []string{"chord", "kademlia"},
		Default:  "kademlia",
		Chord:    chord.DefaultConfig(),
		Kademlia: kademlia.DefaultConfig(),
		Onehop:   onehop.DefaultConfig(),
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
