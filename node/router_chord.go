package node

import (
	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/routing"
)

// startChord builds the Chord router from the "routing.chord" section. It joins the
// ring through gossip: routers.go feeds it PeerUp for every live member (a lone node
// joins through the first one) and PeerDown for failed or departed ones, and checks
// what other nodes answer against that membership.
func (n *Node) startChord() (routing.Router, error) {
	cfg := n.cfg.Routing.Chord.ChordConfig()
	cfg.Logger = n.logger
	cfg.Registerer = n.registry
	// Gossip's signed membership: Chord believes no answer that names a non-member.
	cfg.Members = n.members.isMember
	return chord.New(n.host, cfg)
}
