package node

import (
	"errors"
	"fmt"
	"slices"
)

// RoutingConfig picks which lookup protocols the node runs. It is the "routing"
// section of config.json.
type RoutingConfig struct {
	// Routers lists the protocols to run side by side: "chord", "kademlia".
	Routers []string `json:"routers"`
	// Default is the router content commands use; it must be one of Routers.
	Default string `json:"default"`
}

// knownRouters are the names Validate accepts.
var knownRouters = []string{"chord", "kademlia", "onehop"}

// DefaultRoutingConfig runs Chord and Kademlia and uses Kademlia by default.
func DefaultRoutingConfig() RoutingConfig {
	return RoutingConfig{Routers: []string{"chord", "kademlia"}, Default: "kademlia"}
}

// Validate checks that every router is known and the default is among them.
func (c RoutingConfig) Validate() error {
	for _, r := range c.Routers {
		if !slices.Contains(knownRouters, r) {
			return fmt.Errorf("routers: unknown router %q (known: %v)", r, knownRouters)
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
	return nil
}
