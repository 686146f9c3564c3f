package onehop

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the router's Prometheus series, all labelled algo="onehop" so they sit
// beside Chord's and Kademlia's on one node's registry.
type metrics struct {
	lookups *prometheus.CounterVec // by result: ok, error
	hops    prometheus.Histogram
	latency prometheus.Histogram
	rpcs    *prometheus.CounterVec // by type and result
	members prometheus.Gauge
	records prometheus.GaugeFunc
	stored  *prometheus.CounterVec // by result: ok, full, quota
}

func newMetrics(reg prometheus.Registerer, store *providerStore) *metrics {
	labels := prometheus.Labels{"algo": "onehop"}
	m := &metrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_onehop_lookups_total", Help: "Lookups by result.", ConstLabels: labels,
		}, []string{"result"}),
		hops: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dhtnode_onehop_lookup_hops", Help: "Referral depth of the node that answered a lookup.",
			ConstLabels: labels, Buckets: []float64{0, 1, 2, 3, 4, 6, 8},
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dhtnode_onehop_lookup_duration_seconds", Help: "Wall time of a lookup.",
			ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_onehop_rpcs_total", Help: "Requests sent, by type and result.", ConstLabels: labels,
		}, []string{"type", "result"}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dhtnode_onehop_view_members", Help: "Members in the one-hop membership view (self included).",
			ConstLabels: labels,
		}),
		records: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dhtnode_onehop_provider_records", Help: "Provider records held for other nodes.",
			ConstLabels: labels,
		}, func() float64 { _, n := store.counts(); return float64(n) }),
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_onehop_provider_stores_total", Help: "Provider records offered to this node, by result.",
			ConstLabels: labels,
		}, []string{"result"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.lookups, m.hops, m.latency, m.rpcs, m.members, m.records, m.stored} {
			_ = reg.Register(c) // a second router on one registry keeps the first's series
		}
	}
	return m
}
