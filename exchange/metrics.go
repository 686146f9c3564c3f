package exchange

import "github.com/prometheus/client_golang/prometheus"

// metrics are the exchange's Prometheus series, registered on the node's own registry.
type metrics struct {
	servedPieces  prometheus.Counter
	servedBytes   prometheus.Counter
	fetchedPieces prometheus.Counter
	fetchedBytes  prometheus.Counter
	badPieces     prometheus.Counter
	dupPieces     prometheus.Counter
	bannedPeers   prometheus.Counter
	stalledPeers  prometheus.Counter
	streamErrors  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "dhtnode", Subsystem: "exchange", Name: name, Help: help})
	}
	m := &metrics{
		servedPieces:  c("served_pieces_total", "Pieces sent to peers."),
		servedBytes:   c("served_bytes_total", "Piece bytes sent to peers."),
		fetchedPieces: c("fetched_pieces_total", "Verified pieces received from peers."),
		fetchedBytes:  c("fetched_bytes_total", "Verified piece bytes received from peers."),
		badPieces:     c("bad_pieces_total", "Pieces from peers that failed verification."),
		dupPieces:     c("duplicate_pieces_total", "Verified pieces received twice (endgame re-requests), dropped."),
		bannedPeers:   c("banned_peers_total", "Peers banned for sending bad pieces."),
		stalledPeers:  c("stalled_peers_total", "Peers dropped for stalling."),
		streamErrors:  c("stream_errors_total", "Exchange streams closed because of a protocol error."),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{m.servedPieces, m.servedBytes, m.fetchedPieces, m.fetchedBytes, m.badPieces, m.dupPieces, m.bannedPeers, m.stalledPeers, m.streamErrors} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
