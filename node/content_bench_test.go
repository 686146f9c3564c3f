package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/merkle"
)

// BenchmarkGet measures a whole get between in-process nodes on 127.0.0.1: libp2p TCP,
// verification, blockstore writes (fsync off and on) and the output file, from 1 and 4
// seeders. Each iteration starts from an empty downloader store.
func BenchmarkGet(b *testing.B) {
	const size = 256 << 20
	dir := b.TempDir()
	src := filepath.Join(dir, "payload")
	data := make([]byte, size)
	_, _ = rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		b.Fatal(err)
	}
	data = nil
	for _, seeders := range []int{1, 4} {
		for _, noSync := range []bool{true, false} {
			b.Run(fmt.Sprintf("seeders=%d/nosync=%v", seeders, noSync), func(b *testing.B) {
				var from []string
				var id string
				for range seeders {
					n := benchNode(b, true)
					res, err := n.Add(context.Background(), src, AddOptions{})
					if err != nil {
						b.Fatal(err)
					}
					id = res.ID
					from = append(from, p2pAddrOf(n))
				}
				cid, provs, err := contentRef(id, from)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(size)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					dl := benchNode(b, noSync)
					out := filepath.Join(b.TempDir(), "out")
					b.StartTimer()
					if _, err := dl.Get(context.Background(), cid, GetOptions{Output: out, From: provs}); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					_ = dl.Close()
					_ = os.Remove(out)
					b.StartTimer()
				}
			})
		}
	}
}

func benchNode(b *testing.B, noSync bool) *Node {
	b.Helper()
	cfg := testConfig()
	cfg.Addresses.API = ""
	cfg.Content.NoSync = noSync
	cfg.Swarm.ResourceMgr.MaxMemoryMB = 0
	repo, err := InitRepo(filepath.Join(b.TempDir(), "repo"), cfg)
	if err != nil {
		b.Fatal(err)
	}
	n, err := New(cfg, repo)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.Close() })
	return n
}

// BenchmarkGetBaseline is the ceiling BenchmarkGet is read against: the same two hosts
// (the daemon's libp2p config: TCP, TLS 1.3, yamux) moving the same bytes over one
// stream in 256 KiB pieces, with nothing else ("stream") and with each piece's Merkle
// hash computed on both ends, as a seeder and a downloader must ("stream+hash"). A get
// also reads the pieces, writes the output and carries proofs; whatever it adds on top
// of stream+hash is the cost of those.
func BenchmarkGetBaseline(b *testing.B) {
	const size = 256 << 20
	const pieceSize = 256 << 10
	height := bits.Len(uint(pieceSize/merkle.BlockSize)) - 1
	for _, hash := range []bool{false, true} {
		name := "stream"
		if hash {
			name = "stream+hash"
		}
		b.Run(name, func(b *testing.B) {
			seeder, getter := benchNode(b, true), benchNode(b, true)
			const proto = "/dhtnode/bench/baseline"
			seeder.Host().SetStreamHandler(proto, func(s network.Stream) {
				defer s.Close()
				piece := make([]byte, pieceSize)
				_, _ = rand.Read(piece)
				for sent := 0; sent < size; sent += pieceSize {
					if hash {
						_ = merkle.HashPiece(piece, height)
					}
					if _, err := s.Write(piece); err != nil {
						return
					}
				}
			})
			ai := peer.AddrInfo{ID: seeder.ID(), Addrs: seeder.Host().Addrs()}
			if err := getter.Host().Connect(context.Background(), ai); err != nil {
				b.Fatal(err)
			}
			piece := make([]byte, pieceSize)
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s, err := getter.Host().NewStream(context.Background(), seeder.ID(), proto)
				if err != nil {
					b.Fatal(err)
				}
				for got := 0; got < size; got += pieceSize {
					if _, err := io.ReadFull(s, piece); err != nil {
						b.Fatalf("after %d bytes: %v", got, err)
					}
					if hash {
						_ = merkle.HashPiece(piece, height)
					}
				}
				_ = s.Close()
			}
		})
	}
}
