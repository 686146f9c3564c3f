package blockstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/dhtnode/dhtnode/merkle"
)

// cachedPages is how many pages of path's n bytes at off the page cache holds.
func cachedPages(t *testing.T, path string, off int64, n int) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cs unix.Cachestat_t
	if err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{Off: uint64(off), Len: uint64(n)}, &cs, 0); err != nil {
		t.Skipf("cachestat: %v", err)
	}
	return cs.Cache
}

// evict drops path's pages from the page cache from byte off for n bytes.
func evict(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), off, int64(n), unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

// TestReadPieceCacheStates reads a piece wholly cached (copied from the page
// cache), uncached and partly cached (read with O_DIRECT), and finds damage
// on disk that only the direct read sees.
func TestReadPieceCacheStates(t *testing.T) {
	s := openStore(t, t.TempDir())
	data := testData(3*merkle.DefaultPieceSize, 21)
	res, err := s.Add(context.Background(), writeFile(t, filepath.Join(t.TempDir(), "f"), data), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.noDirect.Load() {
		t.Skip("this file system refuses O_DIRECT")
	}
	ref, _ := res.Manifest.Piece(1)
	want := data[ref.Offset : ref.Offset+int64(ref.Len)]
	path, l := pieceAt(t, s, ref.ID)
	pages := uint64(ref.Len / pageSize)
	read := func(state string, cached uint64) {
		t.Helper()
		if got := cachedPages(t, path, l.off, l.n); got != cached {
			// Memory pressure evicted pages, or readahead added some: not the
			// state this case is about.
			t.Skipf("%s: %d pages cached, want %d", state, got, cached)
		}
		got, err := s.ContentPiece(res.ID, 1)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: ContentPiece = %d bytes, %v", state, len(got), err)
		}
		if after := cachedPages(t, path, l.off, l.n); after > cached {
			t.Fatalf("%s: reading filled the page cache from %d to %d pages", state, cached, after)
		}
	}
	evict(t, path, l.off, l.n)
	read("uncached", 0)
	if _, err := os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	read("cached", pages)
	evict(t, path, l.off+int64(l.n/2), l.n/2)
	read("half cached", pages/2)

	// Damage on disk under a clean cached copy cannot happen through the
	// file system, so damage it through the cache, write it back and drop
	// the cached pages: the direct read must see the bad byte.
	damage(t, s, ref.ID, func(b []byte) { b[len(b)-1] ^= 1 })
	evict(t, path, l.off, l.n)
	if _, err := s.ContentPiece(res.ID, 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged piece read from disk: %v, want ErrCorrupt", err)
	}
}
