package node

import (
	"errors"
	"fmt"
	"slices"

	"github.com/dhtnode/dhtnode/routing"
)

// Errors about routers.
var (
	// ErrUnknownRouter: no router of that name runs on this node.
	ErrUnknownRouter = errors.New("router not running on this node")
)

// routerState holds the node's routers (a field of Node). It is written once by
// startRouters, before the API starts, and only read afterwards, so it needs no lock.
type routerState struct {
	byName map[string]routing.Router
	order  []string // config order
	def    string
}

// routerStarter returns the function that starts the named router. Each lives in the
// router's own file: router_chord.go, router_kademlia.go, router_onehop.go.
func routerStarter(name string) func(*Node) (routing.Router, error) {
	switch name {
	case "chord":
		return (*Node).startChord
	case "kademlia":
		return (*Node).startKademlia
	case "onehop":
		return (*Node).startOnehop
	}
	return nil
}

// startRouters starts every router named in routing.routers, in order. Each is fed
// gossip events when it implements routing.MembershipListener (first a replay of the
// live members, then every change) and closed with the node when it has Close() error.
func (n *Node) startRouters() error {
	n.routers = routerState{byName: map[string]routing.Router{}, def: n.cfg.Routing.Default}
	for _, name := range n.cfg.Routing.Routers {
		start := routerStarter(name)
		if start == nil {
			return fmt.Errorf("start router %q: %w", name, ErrUnknownRouter)
		}
		r, err := start(n)
		if err != nil {
			return fmt.Errorf("start router %q: %w", name, err)
		}
		if c, ok := r.(interface{ Close() error }); ok {
			n.onClose(c.Close)
		}
		n.routers.byName[name] = r
		n.routers.order = append(n.routers.order, name)
		if l, ok := r.(routing.MembershipListener); ok {
			n.AddMembershipListener(l)
		}
		n.Logger("routing").Info("router started", "router", name, "default", name == n.routers.def)
	}
	return nil
}

// Router returns the running router called name ("chord", "kademlia", "onehop"), or
// nil when it does not run on this node.
func (n *Node) Router(name string) routing.Router { return n.routers.byName[name] }

// DefaultRouter is the router content commands use (routing.default), or nil when the
// node runs no router (then content can only be fetched from named peers).
func (n *Node) DefaultRouter() routing.Router { return n.routers.byName[n.routers.def] }

// Routers lists the running routers in config order.
func (n *Node) Routers() []routing.Router {
	out := make([]routing.Router, 0, len(n.routers.order))
	for _, name := range n.routers.order {
		out = append(out, n.routers.byName[name])
	}
	return out
}

// routersFor resolves a --via value: a router name, "all" (every running router), or ""
// (the default router).
func (n *Node) routersFor(via string) ([]routing.Router, error) {
	switch via {
	case "all":
		if len(n.routers.order) == 0 {
			return nil, fmt.Errorf("%w: no routers configured (routing.routers)", ErrUnknownRouter)
		}
		return n.Routers(), nil
	case "":
		if r := n.DefaultRouter(); r != nil {
			return []routing.Router{r}, nil
		}
		return nil, fmt.Errorf("%w: no default router configured (routing.default)", ErrUnknownRouter)
	}
	if r := n.Router(via); r != nil {
		return []routing.Router{r}, nil
	}
	return nil, fmt.Errorf("%w: %q (running: %v; known: %v)", ErrUnknownRouter, via, n.routers.order, slices.Clone(knownRouters))
}
