package blockstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/content"
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
		// Every piece distinct, none stored once for several: mark each
		// 256 KiB piece of the chunk, not only the first (which left three
		// pieces in four identical across the file, and adds writing a quarter
		// of it).
		for p := 0; p < len(chunk); p += 256 << 10 {
			chunk[p] = byte(i)
			chunk[p+1] = byte(i >> 8)
		}
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
func benchAdd(b *testing.B, cfg Config, opts AddOptions) { benchAddMode(b, cfg, opts, false) }

func benchAddMode(b *testing.B, cfg Config, opts AddOptions, buffered bool) {
	path := benchFile(b)
	cfg.Dir = filepath.Join(b.TempDir(), "store")
	cfg.FlushInterval = time.Hour
	s, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if buffered {
		s.noDirect.Store(true)
	}
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

// BenchmarkAdd is add of 256 MiB: read, hash, append every piece to the
// segments, fdatasync them, commit.
func BenchmarkAdd(b *testing.B) { benchAdd(b, Config{}, AddOptions{}) }

// BenchmarkAddBuffered is BenchmarkAdd writing through the page cache
// instead of with O_DIRECT, the two ways a segment can be written.
func BenchmarkAddBuffered(b *testing.B) { benchAddMode(b, Config{}, AddOptions{}, true) }

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

// BenchmarkSmallContents adds b.N contents of 4 KiB each (each add commits its
// own manifest, pin and index entries after an fdatasync, as `dhtnode add`
// does), then reports what a repo of that many costs: listing them, a gc that
// removes half, and reopening the store (daemon start-up). Run it with
// -benchtime=100000x for the 100,000-content repo.
func BenchmarkSmallContents(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "store")
	s, err := Open(Config{Dir: dir, FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	data := testData(4096, 7)
	var ids []content.ID
	b.SetBytes(int64(len(data)))
	i := 0
	for b.Loop() {
		binary.LittleEndian.PutUint64(data, uint64(i))
		i++
		res, err := s.AddReader(context.Background(), "small", bytes.NewReader(data), AddOptions{NoPin: i%2 == 0})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	b.StopTimer()
	t0 := time.Now()
	list, err := s.List()
	if err != nil || len(list) != len(ids) {
		b.Fatalf("list: %d %v", len(list), err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "ls-s")
	t0 = time.Now()
	gc, err := s.GC(context.Background())
	if err != nil || gc.RemovedContents != len(ids)/2 {
		b.Fatalf("gc: %+v %v", gc, err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "gc-s")
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	t0 = time.Now()
	s, err = Open(Config{Dir: dir, FlushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "open-s")
	s.Close()
}
