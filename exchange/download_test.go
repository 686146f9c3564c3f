package exchange

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

func TestDownloadTwoNodesSizes(t *testing.T) {
	nodes := newTestNodes(t, 2, nil)
	a, b := nodes[0], nodes[1]
	const ps = 64 << 10
	sizes := []int{0, 1, merkle.BlockSize - 1, merkle.BlockSize, merkle.BlockSize + 1, ps - 1, ps, ps + 1, 5*ps + 777, 37 * ps}
	dir := t.TempDir()
	for k, size := range sizes {
		data := randomBytes(size, uint64(k+1))
		id := addFile(t, a.store, "f", data, ps)
		out := filepath.Join(dir, "out", strings.Repeat("x", k+1))
		_ = os.MkdirAll(filepath.Dir(out), 0o755)
		res, err := b.x.Download(testContext(t), Request{ID: id, Providers: infos(a), Output: out})
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		got, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("size %d: output differs (err %v, %d bytes)", size, err, len(got))
		}
		if res.Size != int64(size) || res.Resumed != 0 {
			t.Fatalf("size %d: result %+v", size, res)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".dhtnode-partial")); !os.IsNotExist(err) {
			t.Fatalf("size %d: temporary output left behind", size)
		}
	}
}

func TestDownloadFourNodesUsesEveryProvider(t *testing.T) {
	nodes := newTestNodes(t, 4, func(i int, cfg *Config, s *memStore) Store {
		if i == 3 {
			cfg.MaxRate = 12 << 20 // a few hundred ms: long enough for every provider to join
		}
		return nil
	})
	data := randomBytes(3<<20+12345, 7)
	var id = addFile(t, nodes[0].store, "big", data, 64<<10)
	for _, n := range nodes[1:3] {
		addFile(t, n.store, "big", data, 64<<10)
	}
	out := filepath.Join(t.TempDir(), "big")
	res, err := nodes[3].x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[:3]...), Output: out})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatal("output differs")
	}
	if len(res.Fetched) < 2 {
		t.Fatalf("pieces came from %d providers, want several: %v", len(res.Fetched), res.Fetched)
	}
	// The downloader is now a provider too.
	out2 := filepath.Join(t.TempDir(), "again")
	if _, err := nodes[1].x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[3]), Output: out2}); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptProviderIsBannedAndNothingCorruptIsWritten(t *testing.T) {
	data := randomBytes(4<<20, 11)
	nodes := newTestNodes(t, 5, func(i int, cfg *Config, s *memStore) Store {
		if i == 4 {
			// Slow enough (about half a second) that every provider gets its share of
			// the requests however the goroutines are scheduled.
			cfg.MaxRate = 8 << 20
		}
		if i == 0 {
			return &corruptStore{Store: s}
		}
		return nil
	})
	const ps = 32 << 10
	id := addFile(t, nodes[0].store, "f", data, ps)
	for _, n := range nodes[1:4] {
		addFile(t, n.store, "f", data, ps)
	}
	dl := nodes[4]
	out := filepath.Join(t.TempDir(), "f")
	res, err := dl.x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[:4]...), Output: out})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatal("output differs")
	}
	bad := nodes[0].host.ID()
	if _, banned := dl.x.Banned()[bad]; !banned {
		t.Fatalf("corrupt peer not banned; bad counts %v, fetched %v", res.Bad, res.Fetched)
	}
	if res.Bad[bad] != 4 {
		t.Fatalf("corrupt peer has %d strikes, want 4", res.Bad[bad])
	}
	logs := dl.logs.String()
	if !strings.Contains(logs, "banning provider") || !strings.Contains(logs, bad.String()) {
		t.Fatalf("ban not logged with the peer ID:\n%s", logs)
	}
	// A later download refuses the banned peer outright.
	_, err = dl.x.Download(testContext(t), Request{ID: addFile(t, nodes[0].store, "g", []byte("hello"), ps), Providers: infos(nodes[0])})
	if !errors.Is(err, ErrVerification) && !errors.Is(err, ErrNoProviders) {
		t.Fatalf("download from banned peer: %v", err)
	}
}

func TestOnlyCorruptProviderFailsNamingIt(t *testing.T) {
	nodes := newTestNodes(t, 2, func(i int, cfg *Config, s *memStore) Store {
		if i == 0 {
			return &corruptStore{Store: s}
		}
		return nil
	})
	id := addFile(t, nodes[0].store, "f", randomBytes(1<<20, 3), 16<<10)
	_, err := nodes[1].x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[0])})
	if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), nodes[0].host.ID().String()) {
		t.Fatalf("got %v, want a verification error naming the peer", err)
	}
}

func TestUnknownIDAndNoProviders(t *testing.T) {
	nodes := newTestNodes(t, 2, nil)
	s := newMemStore(t)
	id := addFile(t, s, "f", []byte("never added anywhere"), 16<<10)
	_, err := nodes[1].x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[0])})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown ID: got %v", err)
	}
	_, err = nodes[1].x.Download(testContext(t), Request{ID: id})
	if !errors.Is(err, ErrNoProviders) {
		t.Fatalf("no providers: got %v", err)
	}
}

func TestResumeSkipsStoredPieces(t *testing.T) {
	nodes := newTestNodes(t, 2, func(i int, cfg *Config, s *memStore) Store {
		if i == 1 {
			cfg.MaxRate = 2 << 20 // 2 MB/s: the first attempt is cut off part way
		}
		return nil
	})
	data := randomBytes(2<<20, 5)
	id := addFile(t, nodes[0].store, "f", data, 64<<10)
	dl := nodes[1]
	out := filepath.Join(t.TempDir(), "f")
	downloadHalf(t, dl, id, nodes[0], out)
	before := int(dl.store.puts.Load())
	if before == 0 || before >= 32 {
		t.Fatalf("first attempt stored %d of 32 pieces", before)
	}
	res, err := dl.x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[0]), Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != before {
		t.Fatalf("resumed %d pieces, %d were stored", res.Resumed, before)
	}
	if got := int(dl.store.puts.Load()) - before; got != 32-before {
		t.Fatalf("second attempt fetched %d pieces, want %d", got, 32-before)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatal("output differs")
	}
}

func TestDownloadFromPeerStillDownloading(t *testing.T) {
	nodes := newTestNodes(t, 3, func(i int, cfg *Config, s *memStore) Store {
		if i == 1 {
			cfg.MaxRate = 4 << 20
		}
		return nil
	})
	a, b, c := nodes[0], nodes[1], nodes[2]
	data := randomBytes(2<<20, 9)
	id := addFile(t, a.store, "f", data, 64<<10)
	errc := make(chan error, 1)
	go func() {
		_, err := b.x.Download(testContext(t), Request{ID: id, Providers: infos(a)})
		errc <- err
	}()
	// Wait until b holds some pieces, then fetch from b alone.
	deadline := time.Now().Add(30 * time.Second)
	for b.store.pieceCount() < 4 {
		if time.Now().After(deadline) {
			t.Fatal("b never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	out := filepath.Join(t.TempDir(), "f")
	if _, err := c.x.Download(testContext(t), Request{ID: id, Providers: infos(b), Output: out}); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, data) {
		t.Fatal("output differs")
	}
}

func TestDirectoryDownload(t *testing.T) {
	nodes := newTestNodes(t, 2, nil)
	a := nodes[0]
	files := map[string][]byte{
		"readme.txt":     []byte("hello"),
		"sub/a.bin":      randomBytes(200<<10, 1),
		"sub/deeper/b":   randomBytes(17<<10, 2),
		"empty":          nil,
		"sub/zeros.bin":  make([]byte, 300<<10),
		"sub/zeros2.bin": make([]byte, 64<<10),
	}
	desc := &content.Manifest{Kind: content.KindDir, Name: "tree", PieceSize: 64 << 10}
	for _, p := range []string{"empty", "readme.txt", "sub/a.bin", "sub/deeper/b", "sub/zeros.bin", "sub/zeros2.bin"} {
		desc.Files = append(desc.Files, fileSpec(t, a.store, p, files[p], 64<<10))
	}
	id := addManifest(t, a.store, desc)
	out := filepath.Join(t.TempDir(), "tree")
	if _, err := nodes[1].x.Download(testContext(t), Request{ID: id, Providers: infos(a), Output: out}); err != nil {
		t.Fatal(err)
	}
	for p, want := range files {
		got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(p)))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s differs: %v", p, err)
		}
	}
}

func TestEscapingPathsRefused(t *testing.T) {
	for _, bad := range []string{"../evil", "/etc/passwd", "a/../../evil", "", ".", "a//b", "./a"} {
		if err := CheckPath(bad); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("CheckPath(%q) = %v", bad, err)
		}
	}
	nodes := newTestNodes(t, 2, nil)
	a := nodes[0]
	desc := &content.Manifest{Kind: content.KindDir, Name: "tree", PieceSize: 16 << 10, Files: []content.File{fileSpec(t, a.store, "../evil", []byte("x"), 16<<10)}}
	id := addManifest(t, a.store, desc)
	dir := t.TempDir()
	_, err := nodes[1].x.Download(testContext(t), Request{ID: id, Providers: infos(a), Output: filepath.Join(dir, "tree")})
	if !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("got %v, want ErrUnsafePath", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "evil")); !os.IsNotExist(err) {
		t.Fatal("escaping file was written")
	}
}

func TestOutputExistsRefused(t *testing.T) {
	nodes := newTestNodes(t, 2, nil)
	id := addFile(t, nodes[0].store, "f", []byte("data"), 16<<10)
	out := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(out, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := nodes[1].x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[0]), Output: out})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("got %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "mine" {
		t.Fatal("existing file overwritten")
	}
}

func TestCancelledDownloadReportsTheContext(t *testing.T) {
	nodes := newTestNodes(t, 2, func(i int, cfg *Config, s *memStore) Store {
		cfg.MaxRate = 1 << 20
		return nil
	})
	id := addFile(t, nodes[0].store, "f", randomBytes(4<<20, 8), 64<<10)
	ctx, cancel := contextWithCancel(t)
	_, err := nodes[1].x.Download(ctx, Request{ID: id, Providers: infos(nodes[0]), ProgressInterval: 10 * time.Millisecond,
		Progress: func(p Progress) {
			if p.Pieces > 0 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// evenStore reports through HaveReporter that it holds only the even pieces.
type evenStore struct{ Store }

func (evenStore) Have(_ content.ID, n int) ([]byte, error) {
	bf := content.NewBitfield(n)
	for i := 0; i < n; i += 2 {
		bf.Set(i)
	}
	return bf.Bytes(), nil
}

func TestHaveReporterLimitsWhatIsAsked(t *testing.T) {
	nodes := newTestNodes(t, 2, func(i int, cfg *Config, s *memStore) Store {
		cfg.StallTimeout = 500 * time.Millisecond
		if i == 0 {
			return evenStore{s}
		}
		return nil
	})
	data := randomBytes(40*(16<<10), 17)
	id := addFile(t, nodes[0].store, "f", data, 16<<10)
	// The provider holds every piece but says it has only the even ones: it is asked for
	// exactly those, and the download ends incomplete.
	res, err := nodes[1].x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[0])})
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("got %v, want ErrIncomplete", err)
	}
	// It says why: nothing after "pieces missing:" told the user nothing.
	if !strings.Contains(err.Error(), "pieces missing: 20 of them held by none of the 1 providers") {
		t.Errorf("incomplete download should name why: %v", err)
	}
	if got := res.Fetched[nodes[0].host.ID()]; got != 20 {
		t.Fatalf("fetched %d pieces, want the 20 even ones", got)
	}
}

// TestDownloadReusesPieceBuffers: the downloader gives every received piece's buffer back
// to its pool, so a transfer allocates a window of buffers, not one per piece (a lost
// buffer costs a fresh zeroed 260 KiB allocation and its garbage collection per piece).
func TestDownloadReusesPieceBuffers(t *testing.T) {
	nodes := newTestNodes(t, 2, nil)
	a, b := nodes[0], nodes[1]
	const ps = 64 << 10
	id := addFile(t, a.store, "f", randomBytes(40*ps, 9), ps)
	if _, err := b.x.Download(testContext(t), Request{ID: id, Providers: infos(a)}); err != nil {
		t.Fatal(err)
	}
	b.x.bufs.mu.Lock()
	defer b.x.bufs.mu.Unlock()
	pooled := 0
	for n, l := range b.x.bufs.free {
		if n > ps {
			pooled += len(l)
		}
	}
	if pooled == 0 {
		t.Fatalf("no piece frame buffer came back to the pool (pool: %d bytes)", b.x.bufs.bytes)
	}
}

// downloadHalf starts a download of id from provider to out and cancels it once half the
// pieces are in (the downloader's MaxRate must make that happen before the end), checking
// that it failed and left no visible output.
func downloadHalf(t *testing.T, dl *testNode, id content.ID, provider *testNode, out string) {
	t.Helper()
	ctx, cancel := contextWithCancel(t)
	_, err := dl.x.Download(ctx, Request{ID: id, Providers: infos(provider), Output: out, ProgressInterval: 10 * time.Millisecond,
		Progress: func(p Progress) {
			if p.Pieces >= p.TotalPieces/2 {
				cancel()
			}
		}})
	if err == nil {
		t.Fatal("first attempt finished; the cancel came too late")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatal("an incomplete output is visible")
	}
}
