package node

import (
	"github.com/dhtnode/dhtnode/gossip"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
)

// memberCollector reports members by state at scrape time, straight from gossip,
// so the numbers can never drift from what `dhtnode members` shows.
type memberCollector struct {
	g    *gossip.Gossip
	desc *prometheus.Desc
}

func newMemberCollector(g *gossip.Gossip) *memberCollector {
	return &memberCollector{g: g, desc: prometheus.NewDesc("dhtnode_members",
		"Cluster members this node knows, by gossip state (alive, suspect, dead, left).", []string{"state"}, nil)}
}

func (c *memberCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *memberCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[gossip.State]int{gossip.StateAlive: 0, gossip.StateSuspect: 0, gossip.StateDead: 0, gossip.StateLeft: 0}
	for _, m := range c.g.Members() {
		counts[m.State]++
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), string(state))
	}
}

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
