package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
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
				b.SetBytes(size)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					dl := benchNode(b, noSync)
					out := filepath.Join(b.TempDir(), "out")
					b.StartTimer()
					if _, err := dl.Get(context.Background(), id, GetOptions{Output: out, From: from}); err != nil {
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
