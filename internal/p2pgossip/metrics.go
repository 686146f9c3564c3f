package p2pgossip

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// dropReasons are the values of the dropped counter's reason label.
var dropReasons = []string{"queue_full", "inbound_full", "stale", "unreachable", "send_error", "too_large", "malformed", "stream_backlog"}

// metrics count what the transport puts on and takes off libp2p streams. They
// always exist; without a Registerer nobody reads them.
type metrics struct {
	bytes   *prometheus.CounterVec // by direction, kind (packet|stream)
	packets *prometheus.CounterVec // by direction
	streams *prometheus.CounterVec // by direction
	dropped *prometheus.CounterVec // by reason
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_gossip_libp2p_bytes_total",
			Help: "Gossip bytes carried on libp2p streams by the libp2p gossip transport, by direction and kind (packet, stream); frame headers not included.",
		}, []string{"direction", "kind"}),
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_gossip_libp2p_packets_total",
			Help: "Gossip packets sent and received as frames on libp2p packet streams, by direction.",
		}, []string{"direction"}),
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_gossip_libp2p_streams_total",
			Help: "Gossip streams (push/pull, fallback pings) opened over libp2p, by direction.",
		}, []string{"direction"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_gossip_libp2p_dropped_total",
			Help: "Gossip packets or streams the libp2p gossip transport dropped, by reason: queue_full (a peer's send queue), inbound_full, stale (waited too long), unreachable (no stream could be opened), send_error, too_large, malformed (bad frame received), stream_backlog (memberlist did not take a stream).",
		}, []string{"reason"}),
	}
	for _, r := range dropReasons {
		m.dropped.WithLabelValues(r)
	}
	for _, d := range []string{"sent", "received"} {
		m.packets.WithLabelValues(d)
		m.streams.WithLabelValues(d)
		m.bytes.WithLabelValues(d, "packet")
		m.bytes.WithLabelValues(d, "stream")
	}
	if reg == nil {
		return m, nil
	}
	for i, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			for _, done := range m.collectors()[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("p2pgossip: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.bytes, m.packets, m.streams, m.dropped}
}

func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range m.collectors() {
		reg.Unregister(c)
	}
}

func (m *metrics) drop(reason string) { m.dropped.WithLabelValues(reason).Inc() }
