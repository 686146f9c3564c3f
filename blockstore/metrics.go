package blockstore

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	written     prometheus.Counter
	writtenByte prometheus.Counter
	read        prometheus.Counter
	corrupt     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "dhtnode_blockstore_pieces_written_total",
			Help: "Pieces written to disk (not counting duplicates already present)."}),
		writtenByte: prometheus.NewCounter(prometheus.CounterOpts{Name: "dhtnode_blockstore_bytes_written_total",
			Help: "Bytes of pieces written to disk."}),
		read: prometheus.NewCounter(prometheus.CounterOpts{Name: "dhtnode_blockstore_pieces_read_total",
			Help: "Pieces read and verified."}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{Name: "dhtnode_blockstore_corrupt_pieces_total",
			Help: "Pieces found corrupt on disk and quarantined."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.written, m.writtenByte, m.read, m.corrupt} {
			_ = reg.Register(c) // a second store on one registry keeps the first one's series
		}
	}
	return m
}
