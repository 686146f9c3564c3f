package node

import (
	"github.com/dhtnode/dhtnode/onehop"
	"github.com/dhtnode/dhtnode/routing"
)

// startOnehop builds the one-hop router from the "routing.onehop" section. Its view is
// the gossip membership: routers.go feeds it PeerUp for every live member and PeerDown
// for failed or departed ones, which is all the routing state it has.
// With a cluster secret it serves members only (gate.go), so nothing but gossip puts a
// peer into the view.
func (n *Node) startOnehop() (routing.Router, error) {
	cfg := n.cfg.Routing.Onehop
	cfg.Logger = n.logger
	cfg.Registerer = n.registry
	cfg.IsMember = n.gate.routerFilter("onehop") // nil without a cluster secret: open
	return onehop.New(n.host, cfg)
}
