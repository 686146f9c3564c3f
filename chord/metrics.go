package chord

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are one node's Chord instruments. Names carry the chord prefix and an
// algo="chord" label, so a dashboard can put them beside Kademlia's.
type metrics struct {
	lookupHops      prometheus.Histogram
	lookupSeconds   prometheus.Histogram
	rpcs            *prometheus.CounterVec // sent, by type and result
	served          *prometheus.CounterVec // received, by type
	malformed       prometheus.Counter
	stabilizeRounds prometheus.Counter
	records         prometheus.GaugeFunc
	lies            *prometheus.CounterVec // caught, by kind (the peer goes in the log line)
	bans            prometheus.Counter
	refused         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, records func() float64) (*metrics, error) {
	labels := prometheus.Labels{"algo": "chord"}
	m := &metrics{
		lookupHops: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dhtnode_chord_lookup_hops", ConstLabels: labels,
			Help:    "Referral depth of the node that answered a lookup (0 = this node owned the key).",
			Buckets: prometheus.LinearBuckets(0, 1, 16),
		}),
		lookupSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dhtnode_chord_lookup_duration_seconds", ConstLabels: labels,
			Help:    "Time from the start of a lookup to its answer.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_chord_rpcs_total", ConstLabels: labels,
			Help: "Chord requests sent, by type and result (ok, error).",
		}, []string{"type", "result"}),
		served: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_chord_requests_served_total", ConstLabels: labels,
			Help: "Chord requests received and answered, by type.",
		}, []string{"type"}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dhtnode_chord_malformed_messages_total", ConstLabels: labels,
			Help: "Messages from peers that did not decode; their streams were reset.",
		}),
		stabilizeRounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dhtnode_chord_stabilize_rounds_total", ConstLabels: labels,
			Help: "Stabilization rounds run.",
		}),
		records: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dhtnode_chord_provider_records", ConstLabels: labels,
			Help: "Provider records stored on this node (as owner or replica).",
		}, records),
		lies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_chord_lies_detected_total", ConstLabels: labels,
			Help: "Answers from members that contradicted the verified membership, by kind (non_member, wrong_owner); the log names the peer.",
		}, []string{"kind"}),
		bans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dhtnode_chord_liar_bans_total", ConstLabels: labels,
			Help: "Times a peer caught lying repeatedly was dropped from the tables for a while.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dhtnode_chord_nonmember_requests_refused_total", ConstLabels: labels,
			Help: "Requests from peers outside the verified membership whose streams were reset unanswered.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.lookupHops, m.lookupSeconds, m.rpcs, m.served, m.malformed, m.stabilizeRounds, m.records, m.lies, m.bans, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("chord: registering metrics (one Chord per registry): %w", err)
		}
	}
	return m, nil
}
