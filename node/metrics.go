package node

// Members by state (dhtnode_gossip_members{state}) and gossip traffic counters
// (dhtnode_gossip_*) are registered by the gossip package on the node's registry;
// libp2p registers its own (libp2p_*, including the resource manager's
// libp2p_rcmgr_*). The node adds only what no part owns.

import (
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
)

// newInfoCollector exports a constant 1 labelled with version and peer ID, the
// usual way to join build and identity data onto other series.
func newInfoCollector(version string, id peer.ID) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "dhtnode_info",
		Help:        "Build and identity of this node; always 1.",
		ConstLabels: prometheus.Labels{"version": version, "peer_id": id.String()},
	})
	g.Set(1)
	return g
}
