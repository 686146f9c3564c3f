package node

import (
	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/routing"
)

// startChord builds the Chord router from the "routing.chord" section. It joins the
// ring through gossip: routers.go feeds it PeerUp for every live member (a lone node
// joins through the first one) and PeerDown for failed or departed ones.
// With a cluster secret it serves members only (gate.go): a request from any other
// peer is refused unanswered, so only gossip brings peers into the ring; and it checks
// what other nodes answer against that membership, so lying members cannot misroute it.
func (n *Node) startChord() (routing.Router, error) {
	cfg := n.cfg.Routing.Chord.ChordConfig()
	cfg.Logger = n.logger
	cfg.Registerer = n.registry
	cfg.IsMember = n.gate.routerFilter("chord") // nil without a cluster secret: open
	return chord.New(n.host, cfg)
}
