package exchange

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/internal/testfs"
	"github.com/dhtnode/dhtnode/merkle"
)

// linkStore is a memStore that can link a download's output, as the blockstore does: the
// pieces written there are served from there, verified. It knows one-file contents of a
// fixed piece size only.
type linkStore struct {
	*memStore
	pieceSize int64

	mu          sync.Mutex
	path, final string
	written     map[int]bool
	unlinked    int
}

var _ OutputLinker = (*linkStore)(nil)

func (s *linkStore) LinkOutput(_ content.ID, path, final string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Like the blockstore, the claims stand: the download moves what it claims along.
	if s.written == nil {
		s.written = map[int]bool{}
	}
	s.path, s.final = path, final
	return nil
}

func (s *linkStore) UnlinkOutput(content.ID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.path, s.final, s.written = "", "", nil
	s.unlinked++
	return nil
}

func (s *linkStore) OutputPieceWritten(_ content.ID, i int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == "" {
		return fmt.Errorf("piece %d written to an output that is not linked", i)
	}
	s.written[i] = true
	return nil
}

func (s *linkStore) Have(_ content.ID, n int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bf := content.NewBitfield(n)
	for i := range s.written {
		bf.Set(i)
	}
	return bf.Bytes(), nil
}

func (s *linkStore) ReadPiece(c content.ID, i int, id merkle.PieceID, buf []byte) error {
	if err := s.memStore.ReadPiece(c, i, id, buf); err == nil {
		return nil
	}
	s.mu.Lock()
	paths, held := []string{s.path, s.final}, s.written[i]
	s.mu.Unlock()
	if !held {
		return fmt.Errorf("piece %d: %w", i, ErrNotFound)
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		_, err = f.ReadAt(buf, int64(i)*s.pieceSize)
		f.Close()
		if err == nil && id.Verify(buf) == nil {
			return nil
		}
	}
	s.mu.Lock()
	delete(s.written, i)
	s.mu.Unlock()
	return fmt.Errorf("piece %d: linked output does not hold it", i)
}

// TestLinkedDownloadWritesOnceAndResumesFromItsOutput: with a store that links outputs, a
// download writes its pieces only to the output; cut off part way it keeps the hidden
// partial output, and the next run resumes from the pieces there that still verify
// (refetching one damaged meanwhile); the finished file is then served to a third peer.
func TestLinkedDownloadWritesOnceAndResumesFromItsOutput(t *testing.T) {
	const pieceSize = 64 << 10
	var ls *linkStore
	nodes := newTestNodes(t, 3, func(i int, cfg *Config, s *memStore) Store {
		if i != 1 {
			return nil
		}
		cfg.MaxRate = 2 << 20 // the first attempt is cut off part way
		ls = &linkStore{memStore: s, pieceSize: pieceSize}
		return ls
	})
	data := randomBytes(2<<20, 11)
	id := addFile(t, nodes[0].store, "f", data, pieceSize)
	dl := nodes[1]
	out := filepath.Join(t.TempDir(), "f")
	downloadHalf(t, dl, id, nodes[0], out)
	if n := dl.store.puts.Load(); n != 0 {
		t.Fatalf("%d pieces written to the store as well as the output", n)
	}
	ls.mu.Lock()
	partial, held := ls.path, len(ls.written)
	damaged := -1
	for i := range ls.written {
		damaged = i
		break
	}
	ls.mu.Unlock()
	if held == 0 || held >= 32 || partial != partialPath(out) {
		t.Fatalf("after the cut-off: %d of 32 pieces linked at %q", held, partial)
	}
	// Damage one held piece of the partial output behind the store's back.
	f, err := os.OpenFile(partial, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("the partial output was not kept: %v", err)
	}
	if _, err := f.WriteAt([]byte{^data[damaged*pieceSize]}, int64(damaged)*pieceSize); err != nil {
		t.Fatal(err)
	}
	f.Close()

	res, err := dl.x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[0]), Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != held-1 || res.Fetched[nodes[0].host.ID()] != 32-res.Resumed {
		t.Fatalf("resumed %d, fetched %v; %d were held, one of them damaged", res.Resumed, res.Fetched, held)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("output differs")
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Fatal("the partial output is still there after the commit")
	}
	if n := dl.store.puts.Load(); n != 0 {
		t.Fatalf("%d pieces written to the store", n)
	}
	ls.mu.Lock()
	linked, pieces := ls.path, len(ls.written)
	ls.mu.Unlock()
	if linked != out || pieces != 32 {
		t.Fatalf("after the commit the store links %q with %d pieces", linked, pieces)
	}

	// The finished output is what the downloader serves.
	out3 := filepath.Join(t.TempDir(), "f")
	if _, err := nodes[2].x.Download(testContext(t), Request{ID: id, Providers: infos(dl), Output: out3}); err != nil {
		t.Fatalf("download from the linked output: %v", err)
	}
	if got, _ := os.ReadFile(out3); !bytes.Equal(got, data) {
		t.Fatal("third peer's output differs")
	}
}

// TestLinkedDownloadThatGetsNothingLeavesNothing: a download that fails before any piece
// arrives removes its partial output and unlinks it.
func TestLinkedDownloadThatGetsNothingLeavesNothing(t *testing.T) {
	var ls *linkStore
	nodes := newTestNodes(t, 2, func(i int, cfg *Config, s *memStore) Store {
		if i == 1 {
			ls = &linkStore{memStore: s, pieceSize: 64 << 10}
			return ls
		}
		return &stallStore{Store: s, release: make(chan struct{})}
	})
	id := addFile(t, nodes[0].store, "f", randomBytes(1<<20, 3), 64<<10)
	ctx, cancel := contextWithCancel(t)
	out := filepath.Join(t.TempDir(), "f")
	go func() {
		// Cancel once the download has linked its output, i.e. is waiting on the stalled peer.
		for {
			ls.mu.Lock()
			linked := ls.path != ""
			ls.mu.Unlock()
			if linked {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if _, err := nodes[1].x.Download(ctx, Request{ID: id, Providers: infos(nodes[0]), Output: out}); err == nil {
		t.Fatal("download from a peer that sends nothing succeeded")
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 0 || ls.unlinked != 1 {
		t.Fatalf("left %d files behind, unlinked %d times", len(entries), ls.unlinked)
	}
}

// TestLinkedDownloadOntoFullDisk: a get whose output disk fills up fails with the disk's
// error and no visible output, and loses nothing: a get to a roomier place afterwards takes
// the pieces that did fit from the partial output instead of fetching them again. It needs
// root to mount a small tmpfs (CI runs as root).
func TestLinkedDownloadOntoFullDisk(t *testing.T) {
	mnt := testfs.Tmpfs(t, "1m")
	const pieceSize = 64 << 10
	var ls *linkStore
	nodes := newTestNodes(t, 2, func(i int, cfg *Config, s *memStore) Store {
		if i == 1 {
			ls = &linkStore{memStore: s, pieceSize: pieceSize}
			return ls
		}
		return nil
	})
	data := randomBytes(2<<20, 13)
	id := addFile(t, nodes[0].store, "f", data, pieceSize)
	full := filepath.Join(mnt, "f")
	_, err := nodes[1].x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[0]), Output: full})
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("get of 2 MiB onto a 1 MiB disk: %v", err)
	}
	if _, err := os.Stat(full); !os.IsNotExist(err) {
		t.Fatal("an incomplete output is visible")
	}
	ls.mu.Lock()
	kept := len(ls.written)
	ls.mu.Unlock()
	if kept == 0 {
		t.Fatal("no piece of the partial output is claimed: the disk took nothing?")
	}
	out := filepath.Join(t.TempDir(), "f")
	res, err := nodes[1].x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[0]), Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != kept {
		t.Fatalf("resumed %d pieces, the full disk held %d", res.Resumed, kept)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("output differs")
	}
}
