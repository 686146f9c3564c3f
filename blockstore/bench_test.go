package blockstore

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const benchSize = 256 << 20

// benchFile writes a 256 MiB file once per benchmark and reads it back, so it
// is in the page cache (the "from page cache" condition).
func benchFile(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "big")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	chunk := testData(1<<20, 1)
	for i := 0; i < benchSize>>20; i++ {
		chunk[0] = byte(i) // distinct pieces, no dedup
		chunk[1] = byte(i >> 8)
		f.Write(chunk)
	}
	f.Close()
	f, _ = os.Open(path)
	io.Copy(io.Discard, f)
	f.Close()
	return path
}

// BenchmarkSHA256File is the yardstick: single-core crypto/sha256 reading the
// same file from the page cache.
func BenchmarkSHA256File(b *testing.B) {
	path := benchFile(b)
	b.SetBytes(benchSize)
	for b.Loop() {
		f, _ := os.Open(path)
		h := sha256.New()
		io.CopyBuffer(h, f, make([]byte, 1<<20))
		f.Close()
		h.Sum(nil)
	}
}

// benchAdd measures adds into a store in use (its shard directories exist,
// as in any repo after its first add); each iteration removes the content
// again (unpin + GC, untimed) so every add writes all its pieces.
func benchAdd(b *testing.B, cfg Config, opts AddOptions) {
	path := benchFile(b)
	cfg.Dir = filepath.Join(b.TempDir(), "store")
	cfg.FlushInterval = time.Hour
	s, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	warm, err := s.Add(context.Background(), path, AddOptions{NoPin: true})
	if err != nil {
		b.Fatal(err)
	}
	_ = warm
	b.SetBytes(benchSize)
	for b.Loop() {
		b.StopTimer()
		if _, err := s.GC(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.Add(context.Background(), path, opts); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if !opts.OnlyHash {
			res, _ := s.Add(context.Background(), path, AddOptions{OnlyHash: true})
			s.Unpin(res.ID)
		}
		b.StartTimer()
	}
}

// BenchmarkAdd is add of 256 MiB: read, hash, write + fsync every piece,
// syncfs, commit.
func BenchmarkAdd(b *testing.B) { benchAdd(b, Config{}, AddOptions{}) }

// BenchmarkAddNoSync is BenchmarkAdd without fsync (Config.NoSync).
func BenchmarkAddNoSync(b *testing.B) { benchAdd(b, Config{NoSync: true}, AddOptions{}) }

// BenchmarkAddOnlyHash is add -n: read and hash only.
func BenchmarkAddOnlyHash(b *testing.B) { benchAdd(b, Config{}, AddOptions{OnlyHash: true}) }

// BenchmarkCat writes a stored 256 MiB file to io.Discard, verifying every piece.
func BenchmarkCat(b *testing.B) {
	path := benchFile(b)
	s, err := Open(Config{Dir: filepath.Join(b.TempDir(), "store"), NoSync: true, FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	res, err := s.Add(context.Background(), path, AddOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	for b.Loop() {
		if err := s.WriteFile(context.Background(), res.ID, 0, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
