package exchange

import (
	"context"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	dto "github.com/prometheus/client_model/go"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// discardStore keeps manifests but drops pieces, so every benchmark iteration fetches
// everything again and the numbers measure the protocol, not a disk.
type discardStore struct{ *memStore }

func (discardStore) HasPiece(merkle.PieceID) bool                           { return false }
func (discardStore) PutPiece(content.ID, int, merkle.PieceID, []byte) error { return nil }

func loopbackHost(b *testing.B) host.Host {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Close() })
	return h
}

// BenchmarkTransfer measures a download over real libp2p TCP connections on 127.0.0.1 (Noise,
// yamux) from 1 and from 4 seeders, 256 KiB pieces, verified, not written.
func BenchmarkTransfer(b *testing.B) {
	const size = 256 << 20
	data := randomBytes(size, 1)
	shared := newMemStore(b)
	id := addFile(b, shared, "bench", data, merkle.DefaultPieceSize)
	for _, seeders := range []int{1, 4} {
		b.Run(fmt.Sprintf("seeders=%d", seeders), func(b *testing.B) {
			var provs []peer.AddrInfo
			for i := 0; i < seeders; i++ {
				h := loopbackHost(b)
				x, err := New(h, shared, testDecode, DefaultConfig())
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = x.Close() })
				provs = append(provs, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
			}
			h := loopbackHost(b)
			x, err := New(h, discardStore{newMemStore(b)}, testDecode, DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := x.Download(context.Background(), Request{ID: id, Providers: provs}); err != nil {
					b.Fatal(err)
				}
			}
			var dups dto.Metric
			_ = x.metrics.dupPieces.Write(&dups)
			b.ReportMetric(dups.GetCounter().GetValue()/float64(b.N), "dups/op")
		})
	}
}
