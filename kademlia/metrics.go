package kademlia

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the router's Prometheus series, labelled algo="kademlia" so they sit
// beside Chord's and one-hop's on one node's registry. op is "lookup", "provide"
// or "findprovs".
type metrics struct {
	ops      *prometheus.CounterVec   // by op and result (ok, error)
	hops     *prometheus.HistogramVec // by op
	latency  *prometheus.HistogramVec // by op
	rpcs     *prometheus.CounterVec   // by op
	timeouts *prometheus.CounterVec   // by op
	table    prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, tableSize func() int) *metrics {
	labels := prometheus.Labels{"algo": "kademlia"}
	m := &metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_kademlia_operations_total", Help: "Lookups, provides and provider searches, by result.",
			ConstLabels: labels,
		}, []string{"op", "result"}),
		hops: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dhtnode_kademlia_lookup_hops", Help: "Referral depth of the peer that answered (0 = this node).",
			ConstLabels: labels, Buckets: []float64{0, 1, 2, 3, 4, 5, 6, 8, 10},
		}, []string{"op"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dhtnode_kademlia_lookup_duration_seconds", Help: "Wall time of an operation.",
			ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"op"}),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_kademlia_rpcs_total", Help: "DHT requests sent, by operation.",
			ConstLabels: labels,
		}, []string{"op"}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_kademlia_rpc_failures_total", Help: "DHT requests that failed or timed out, by operation.",
			ConstLabels: labels,
		}, []string{"op"}),
		table: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dhtnode_kademlia_table_peers", Help: "Peers in the k-buckets.",
			ConstLabels: labels,
		}, func() float64 { return float64(tableSize()) }),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.ops, m.hops, m.latency, m.rpcs, m.timeouts, m.table} {
			_ = reg.Register(c) // a second router on one registry keeps the first's series
		}
	}
	return m
}
