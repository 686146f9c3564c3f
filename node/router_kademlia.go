package node

import (
	"github.com/dhtnode/dhtnode/kademlia"
	"github.com/dhtnode/dhtnode/routing"
)

// startKademlia starts the Kademlia router (go-libp2p-kad-dht) on the node's host
// from the "routing.kademlia" section. routers.go feeds it gossip (PeerUp for every
// live member, so its k-buckets fill at once; PeerDown for failed and departed ones)
// and closes it with the node. With a cluster secret its k-buckets, lookups and answers are
// confined to members (gate.go); kademlia.bootstrap peers then count only once
// gossip lists them.
func (n *Node) startKademlia() (routing.Router, error) {
	cfg := n.cfg.Routing.Kademlia
	cfg.Logger = n.logger // the router adds subsystem=kademlia itself
	cfg.Registerer = n.registry
	cfg.IsMember = n.gate.routerFilter("kademlia") // nil without a cluster secret: open
	r, err := kademlia.New(n.host, cfg)
	if err != nil {
		return nil, err
	}
	return r, nil
}
