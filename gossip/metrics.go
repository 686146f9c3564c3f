package gossip

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gossip series on the node's registry. A nil *metrics (no
// Registerer configured) is valid and records nothing.
type metrics struct {
	members *prometheus.GaugeVec   // by state
	events  *prometheus.CounterVec // by event type
	packets *prometheus.CounterVec // by direction
	bytes   *prometheus.CounterVec // by direction, kind (packet|stream)
	streams *prometheus.CounterVec // by direction
	// transportBytes is bytes by transport name and direction, packets and
	// streams together: the same count as bytes, labelled for comparing transports.
	transportBytes *prometheus.CounterVec
	refused        *prometheus.CounterVec // by reason
	joinErrs       prometheus.Counter
	joined         prometheus.Collector // gauge func, set by watchJoined; nil before
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "dhtnode", Subsystem: "gossip", Name: "members",
			Help: "Members known to this node by state (alive, suspect, dead, left), including itself.",
		}, []string{"state"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dhtnode", Subsystem: "gossip", Name: "events_total",
			Help: "Membership events delivered to subscribers, by type (join, leave, failed, update).",
		}, []string{"type"}),
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dhtnode", Subsystem: "gossip", Name: "packets_total",
			Help: "Gossip UDP packets (each may carry several memberlist messages), by direction.",
		}, []string{"direction"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dhtnode", Subsystem: "gossip", Name: "bytes_total",
			Help: "Gossip bytes by direction and kind (packet = UDP, stream = TCP push/pull and fallback pings).",
		}, []string{"direction", "kind"}),
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dhtnode", Subsystem: "gossip", Name: "streams_total",
			Help: "Gossip TCP streams opened, by direction (sent = dialled, received = accepted).",
		}, []string{"direction"}),
		transportBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dhtnode", Subsystem: "gossip", Name: "transport_bytes_total",
			Help: "Gossip bytes memberlist sent and received (packets and streams), by transport (udp, libp2p) and direction.",
		}, []string{"transport", "direction"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dhtnode", Subsystem: "gossip", Name: "refused_members_total",
			Help: "Alive or merge messages refused, by reason: malformed (does not decode), format (older metadata format), " +
				"signature (not signed by the claimed peer ID), address (signed for another gossip address: a replay from elsewhere), " +
				"stale (older than a record or leave already seen: a replay of the past).",
		}, []string{"reason"}),
		joinErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dhtnode", Subsystem: "gossip", Name: "join_failures_total",
			Help: "Join attempts (explicit, retry-join and reconnect) that reached no member.",
		}),
	}
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			m.unregister(reg)
			return nil, fmt.Errorf("register gossip metrics: %w", err)
		}
	}
	for _, s := range []State{StateAlive, StateSuspect, StateDead, StateLeft} {
		m.members.WithLabelValues(string(s)).Set(0)
	}
	for _, r := range refusedReasons {
		m.refused.WithLabelValues(r)
	}
	for _, t := range []EventType{EventJoin, EventLeave, EventFailed, EventUpdate} {
		m.events.WithLabelValues(string(t))
	}
	return m, nil
}

func (m *metrics) collectors() []prometheus.Collector {
	cs := []prometheus.Collector{m.members, m.events, m.packets, m.bytes, m.streams, m.transportBytes, m.refused, m.joinErrs}
	if m.joined != nil {
		cs = append(cs, m.joined)
	}
	return cs
}

// watchJoined registers dhtnode_gossip_joined, read from joined at each scrape,
// so that an alert can catch a node that runs but never got into its cluster
// (a wrong cluster secret, unreachable seeds).
func (m *metrics) watchJoined(reg prometheus.Registerer, joined func() bool) error {
	if m == nil || reg == nil {
		return nil
	}
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "dhtnode", Subsystem: "gossip", Name: "joined",
		Help: "1 if another cluster member is alive in this node's view, else 0 (see GET /api/v1/id for why not).",
	}, func() float64 {
		if joined() {
			return 1
		}
		return 0
	})
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("register gossip metrics: %w", err)
	}
	m.joined = g
	return nil
}

// unregister undoes newMetrics, so a New that fails later leaves the registry
// as it found it and can be retried.
func (m *metrics) unregister(reg prometheus.Registerer) {
	if m == nil || reg == nil {
		return
	}
	for _, c := range m.collectors() {
		reg.Unregister(c)
	}
}

func (m *metrics) setMembers(counts map[State]int) {
	if m == nil {
		return
	}
	for _, s := range []State{StateAlive, StateSuspect, StateDead, StateLeft} {
		m.members.WithLabelValues(string(s)).Set(float64(counts[s]))
	}
}

func (m *metrics) event(t EventType) {
	if m != nil {
		m.events.WithLabelValues(string(t)).Inc()
	}
}

func (m *metrics) refusedMember(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}

func (m *metrics) joinFailed() {
	if m != nil {
		m.joinErrs.Inc()
	}
}
