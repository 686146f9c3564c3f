package node

import (
	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/host"
)

// startChord builds the Chord router from the "routing.chord" section. It joins the
// ring through gossip: routers.go feeds it PeerUp for every live member (a lone node
// joins through the first one) and PeerDown for failed or departed ones.
//
// Chord checks what other nodes answer against this node's gossip view
// (memberGate.member), with or without a cluster secret: fingers, successor list and
// predecessor hold members only, a peer named in an answer is contacted only when it is
// a member, and the owner of a key is confirmed against the view, so lying members
// cannot misroute it. With a secret it also serves members only (a request from any
// other peer is refused unanswered, besides the connection gater). Without one the node
// is open: anyone may join gossip and so become a member, and Chord answers non-members
// too (ServeNonMembers) while taking none of them into its tables.
func (n *Node) startChord() (routing.Router, error) {
	cfg := n.cfg.Routing.Chord
	cfg.Logger = n.logger
	cfg.Registerer = n.registry
	cfg.IsMember = n.gate.member
	cfg.ServeNonMembers = !n.gate.enforce
	if n.newChord != nil {
		return n.newChord(n.host, cfg)
	}
	return chord.New(n.host, cfg)
}

// chordStarter builds a node's Chord router from its host and configuration. New uses
// chord.New; the package's tests put a lying member (chord.NewAdversary) into a real
// daemon cluster through it.
type chordStarter func(host.Host, chord.Config) (*chord.Chord, error)
