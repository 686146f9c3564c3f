package blockstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/internal/testfs"
	"github.com/dhtnode/dhtnode/merkle"
)

func testData(size int, seed byte) []byte {
	out := make([]byte, 0, size+32)
	var in [9]byte
	in[8] = seed
	for i := uint64(0); len(out) < size; i++ {
		binary.LittleEndian.PutUint64(in[:], i)
		s := sha256.Sum256(in[:])
		out = append(out, s[:]...)
	}
	return out[:size:size]
}

// wipeHaveBits deletes the saved have bits of id from a closed store's metadata, as a
// crash that lost the last flush would leave them.
func wipeHaveBits(t *testing.T, dir string, id content.ID) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketHave).Delete(id.Bytes()) }); err != nil {
		t.Fatal(err)
	}
}

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(Config{Dir: dir, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func catFile(t *testing.T, s *Store, id content.ID, file int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.WriteFile(context.Background(), id, file, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// snapshot describes the store for "as it was" comparisons: the pieces it
// holds, the counts, manifests and pins.
func snapshot(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	s.walkIndex(func(id merkle.PieceID, l loc) error {
		fmt.Fprintf(&b, "%s %d\n", id, l.n)
		return nil
	})
	st, err := s.Stat()
	if err != nil {
		t.Fatal(err)
	}
	list, _ := s.List()
	pins, _ := s.Pins()
	s.pmu.Lock()
	pending := len(s.pending)
	s.pmu.Unlock()
	fmt.Fprintf(&b, "pieces=%d bytes=%d contents=%d pinned=%d list=%d pins=%d pending=%d", st.Pieces, st.PieceBytes, st.Contents, st.Pinned, len(list), len(pins), pending)
	return b.String()
}

// pieceAt is where piece id's bytes are: its segment file and place in it.
func pieceAt(t *testing.T, s *Store, id merkle.PieceID) (string, loc) {
	t.Helper()
	l, ok := s.locate(id)
	if !ok {
		t.Fatalf("piece %s is not stored", id)
	}
	return s.segs.path(l.seg), l
}

// damage rewrites the stored bytes of piece id with f, behind the store's back.
func damage(t *testing.T, s *Store, id merkle.PieceID, f func([]byte)) {
	t.Helper()
	path, l := pieceAt(t, s, id)
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	b := make([]byte, l.n)
	if _, err := fh.ReadAt(b, l.off); err != nil {
		t.Fatal(err)
	}
	f(b)
	if _, err := fh.WriteAt(b, l.off); err != nil {
		t.Fatal(err)
	}
}

// unclean makes a closed store look as a crash leaves it: no segment is marked
// clean, so the next Open trims them all.
func unclean(t *testing.T, dir string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketSegments); err != nil {
			return err
		}
		_, err := tx.CreateBucket(bucketSegments)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func TestPutGetPiece(t *testing.T) {
	s := openStore(t, t.TempDir())
	data := testData(100000, 1)
	id, _ := merkle.PieceIDOf(data, 3)
	if err := s.PutPiece(id, data); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetPiece(id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetPiece: %v", err)
	}
	if _, created, err := s.putVerified(id, data, true); created || err != nil {
		t.Fatalf("identical piece written twice (created=%v, %v)", created, err)
	}
	bad := append([]byte(nil), data...)
	bad[5] ^= 1
	if err := s.PutPiece(id, bad); !errors.Is(err, merkle.ErrMismatch) {
		t.Fatalf("PutPiece(bad data) = %v", err)
	}
	other, _ := merkle.PieceIDOf(testData(10, 2), 0)
	if _, err := s.GetPiece(other); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetPiece(missing) = %v", err)
	}
	if name := nameOf(id); len(name) != 53 {
		t.Fatalf("name %q", name)
	} else if back, ok := parseName(name); !ok || back != id {
		t.Fatal("name does not parse back")
	}
}

func TestCorruptPieceNeverServed(t *testing.T) {
	s := openStore(t, t.TempDir())
	data := testData(3*merkle.DefaultPieceSize+5, 3)
	src := writeFile(t, filepath.Join(t.TempDir(), "f"), data)
	res, err := s.Add(context.Background(), src, AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := res.Manifest.Piece(1)
	for name, damage := range map[string]func(){
		"flipped byte": func() { damage(t, s, ref.ID, func(b []byte) { b[len(b)/3] ^= 0x40 }) },
		"zeroed":       func() { damage(t, s, ref.ID, func(b []byte) { clear(b) }) },
		"last byte":    func() { damage(t, s, ref.ID, func(b []byte) { b[len(b)-1]++ }) },
	} {
		damage()
		_, err := s.ContentPiece(res.ID, 1)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: ContentPiece = %v, want ErrCorrupt", name, err)
		}
		if s.HasPiece(ref.ID) {
			t.Fatalf("%s: corrupt piece still indexed", name)
		}
		if h, _ := s.Have(res.ID); h.Has(1) || h.Count() != 3 {
			t.Fatalf("%s: have bit not cleared (%d/%d)", name, h.Count(), h.Len())
		}
		var buf bytes.Buffer
		if err := s.WriteFile(context.Background(), res.ID, 0, &buf); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: WriteFile with a missing piece = %v", name, err)
		}
		if buf.Len() > int(ref.Offset) {
			t.Fatalf("%s: WriteFile wrote past the missing piece", name)
		}
		// A peer re-sends it: the content is whole again.
		if err := s.PutContentPiece(res.ID, 1, data[ref.Offset:ref.Offset+int64(ref.Len)]); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(catFile(t, s, res.ID, 0), data) {
			t.Fatalf("%s: content differs after refetch", name)
		}
	}
	st, _ := s.Stat()
	if st.Quarantined != 1 { // the same piece was quarantined three times
		t.Fatalf("quarantined %d files", st.Quarantined)
	}
}

func TestAddCatGCPins(t *testing.T) {
	s := openStore(t, t.TempDir())
	dir := t.TempDir()
	a := testData(5*merkle.DefaultPieceSize+123, 4)
	b := append(append([]byte(nil), a[:2*merkle.DefaultPieceSize]...), testData(100000, 5)...) // shares 2 pieces with a
	resA, err := s.Add(context.Background(), writeFile(t, filepath.Join(dir, "a"), a), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resB, err := s.Add(context.Background(), writeFile(t, filepath.Join(dir, "b"), b), AddOptions{NoPin: true})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stat()
	if st.Pieces != 6+1 || st.Contents != 2 || st.Pinned != 1 {
		t.Fatalf("stat %+v: want 7 pieces (2 shared), 2 contents, 1 pinned", st)
	}
	if !bytes.Equal(catFile(t, s, resB.ID, 0), b) || !bytes.Equal(catFile(t, s, resA.ID, 0), a) {
		t.Fatal("cat differs from the added bytes")
	}
	list, _ := s.List()
	if len(list) != 2 || list[0].Name != "a" || !list[0].Pinned || list[1].Pinned || !list[0].Complete() || !list[1].Complete() {
		t.Fatalf("list %+v", list)
	}
	gc, err := s.GC(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if gc.RemovedContents != 1 || gc.RemovedPieces != 1 {
		t.Fatalf("gc %+v: want B's manifest and its one unshared piece removed", gc)
	}
	if !bytes.Equal(catFile(t, s, resA.ID, 0), a) {
		t.Fatal("pinned content damaged by GC")
	}
	if _, _, err := s.Manifest(resB.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unpinned manifest survived GC: %v", err)
	}
	if err := s.Unpin(resA.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Unpin(resA.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second unpin: %v", err)
	}
	gc, _ = s.GC(context.Background())
	if st, _ := s.Stat(); gc.RemovedPieces != 6 || st.Pieces != 0 || st.Contents != 0 {
		t.Fatalf("after unpin+gc: %+v, %+v", gc, st)
	}
	if err := s.Pin(resA.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pin without manifest: %v", err)
	}
}

func TestOnlyHashStoresNothing(t *testing.T) {
	s := openStore(t, t.TempDir())
	src := writeFile(t, filepath.Join(t.TempDir(), "f"), testData(700000, 6))
	before := snapshot(t, s)
	only, err := s.Add(context.Background(), src, AddOptions{OnlyHash: true})
	if err != nil {
		t.Fatal(err)
	}
	if snapshot(t, s) != before {
		t.Fatal("add -n stored something")
	}
	res, err := s.Add(context.Background(), src, AddOptions{})
	if err != nil || res.ID != only.ID {
		t.Fatalf("stored add ID %v differs from -n %v (%v)", res.ID, only.ID, err)
	}
}

func TestDownloadStateAndResume(t *testing.T) {
	dir := t.TempDir()
	data := testData(7*merkle.DefaultPieceSize, 7)
	res, err := content.AddReader(context.Background(), "f", bytes.NewReader(data), content.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	piece := func(g int) []byte {
		ref, _ := res.Manifest.Piece(g)
		return data[ref.Offset : ref.Offset+int64(ref.Len)]
	}
	s, err := Open(Config{Dir: dir, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutContentPiece(res.ID, 0, piece(0)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("piece before manifest: %v", err)
	}
	bad := append([]byte(nil), res.Encoded...)
	bad[10] ^= 1
	if _, err := s.PutManifest(res.ID, bad); !errors.Is(err, content.ErrHashMismatch) {
		t.Fatalf("PutManifest(wrong bytes) = %v", err)
	}
	if _, err := s.PinManifest(res.ID, res.Encoded); err != nil {
		t.Fatal(err)
	}
	if gc, _ := s.GC(context.Background()); gc.RemovedContents != 0 {
		t.Fatal("GC removed a pinned download")
	}
	for _, g := range []int{0, 3, 6} {
		if err := s.PutContentPiece(res.ID, g, piece(g)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutContentPiece(res.ID, 1, piece(2)); !errors.Is(err, merkle.ErrMismatch) {
		t.Fatalf("wrong piece accepted: %v", err)
	}
	if err := s.PutContentPiece(res.ID, 1, piece(1)[1:]); !errors.Is(err, merkle.ErrLength) {
		t.Fatalf("short piece accepted: %v", err)
	}
	h, _ := s.Have(res.ID)
	if h.Count() != 3 || !h.Has(3) || h.Has(1) {
		t.Fatalf("have %08b", h.Bytes())
	}
	data2, ref, proof, err := s.PieceProof(res.ID, 3)
	if err != nil || merkle.VerifyPiece(res.Manifest.Files[0].Root, mustLayout(t, res.Manifest), ref.Index, data2, proof) != nil {
		t.Fatalf("PieceProof does not verify: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen: state survived the close.
	s = openStore(t, dir)
	if h, _ := s.Have(res.ID); h.Count() != 3 {
		t.Fatalf("after reopen have %d", h.Count())
	}
	if err := s.PutVerifiedContentPiece(res.ID, 5, piece(5)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Simulate a crash that lost the last flush: wipe the saved bits.
	wipeHaveBits(t, dir, res.ID)
	s = openStore(t, dir)
	if h, _ := s.Have(res.ID); h.Count() != 4 || !h.Has(5) {
		t.Fatalf("reconciled have %08b, want pieces 0 3 5 6", h.Bytes())
	}
	info, _ := s.Info(res.ID)
	if info.Complete() || !info.Pinned || info.Have != 4 || info.Pieces != 7 {
		t.Fatalf("info %+v", info)
	}
}

func mustLayout(t *testing.T, m *content.Manifest) merkle.Layout {
	l, err := m.Layout(0)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestCrashLeftovers: bytes past the last indexed piece of a segment (a torn
// or orphaned tail) and a segment no index entry points at are reclaimed by
// the next Open after a crash; indexed pieces are untouched.
func TestCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	data := testData(1000, 1)
	id, _ := merkle.PieceIDOf(data, 0)
	if err := s.PutPiece(id, data); err != nil {
		t.Fatal(err)
	}
	path, _ := pieceAt(t, s, id)
	s.Close()
	// A crash mid-write: a tail past the indexed piece, and a whole segment of
	// pieces never indexed.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(bytes.Repeat([]byte("half a piece"), 1000))
	f.Close()
	stale := writeFile(t, filepath.Join(dir, "segments", segName(99)), bytes.Repeat([]byte("x"), 3*segAlign))
	legacyTmp := writeFile(t, filepath.Join(dir, "tmp", "piece-1"), []byte("half a piece"))
	unclean(t, dir)
	s = openStore(t, dir)
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an unindexed segment survived open: %v", err)
	}
	if _, err := os.Stat(legacyTmp); err != nil {
		// Only a store of the old layout (pieces/) is migrated; tmp/ stays otherwise.
		t.Logf("tmp: %v", err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != segAlign {
		t.Fatalf("segment after open: %v, %d bytes; want its torn tail cut to %d", err, st.Size(), segAlign)
	}
	if got, err := s.GetPiece(id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("indexed piece after trimming: %v", err)
	}
	// A second process must not touch the live store.
	if _, err := Open(Config{Dir: dir}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open of a store in use: %v", err)
	}
}

// TestDiskFullLeavesStoreAsItWas fails writes midway (the seam every write
// goes through) and checks that nothing of the failed add is visible.
func TestDiskFullLeavesStoreAsItWas(t *testing.T) {
	s := openStore(t, t.TempDir())
	src := t.TempDir()
	if _, err := s.Add(context.Background(), writeFile(t, filepath.Join(src, "old"), testData(600000, 8)), AddOptions{}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s)
	var writes int
	s.writeHook = func(f *os.File, off int64, data []byte) error {
		writes++ // hook calls are serialised by Workers: 1 below
		if writes > 3 {
			f.WriteAt(data[:len(data)/2], off)
			return syscall.ENOSPC
		}
		_, err := f.WriteAt(data, off)
		return err
	}
	_, err := s.Add(context.Background(), writeFile(t, filepath.Join(src, "new"), testData(10*merkle.DefaultPieceSize, 9)), AddOptions{Workers: 1})
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("add on a full disk: %v", err)
	}
	if after := snapshot(t, s); after != before {
		t.Fatalf("store changed by a failed add:\nbefore %s\nafter  %s", before, after)
	}
}

// TestPermissionErrorLeavesStoreAsItWas puts directories where the next
// segment files must go (as root, chmod does not stop us, so this is the
// honest injection).
func TestPermissionErrorLeavesStoreAsItWas(t *testing.T) {
	s := openStore(t, t.TempDir())
	data := testData(4*merkle.DefaultPieceSize, 10)
	pre, _ := content.AddReader(context.Background(), "f", bytes.NewReader(data), content.AddOptions{})
	for i := range uint32(activeSegments) {
		if err := os.Mkdir(s.segs.path(s.segs.next+i), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, s)
	_, err := s.Add(context.Background(), writeFile(t, filepath.Join(t.TempDir(), "f"), data), AddOptions{})
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "storing piece") {
		t.Fatalf("add with an unwritable segment: %v", err)
	}
	if after := snapshot(t, s); after != before {
		t.Fatalf("store changed by a failed add:\nbefore %s\nafter  %s", before, after)
	}
	if _, _, err := s.Manifest(pre.ID); !errors.Is(err, ErrNotFound) {
		t.Fatal("manifest of a failed add is visible")
	}
}

// TestRealFullDisk adds to a 2 MiB tmpfs. It needs root and mount(2); the
// seam test above covers the same path everywhere else.
func TestRealFullDisk(t *testing.T) {
	mnt := testfs.Tmpfs(t, "2m") // skipped without root: TestDiskFullLeavesStoreAsItWas covers this path
	s, err := Open(Config{Dir: filepath.Join(mnt, "blocks"), FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	small := writeFile(t, filepath.Join(t.TempDir(), "small"), testData(300000, 11))
	if _, err := s.Add(context.Background(), small, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, s)
	big := writeFile(t, filepath.Join(t.TempDir(), "big"), testData(4<<20, 12))
	_, err = s.Add(context.Background(), big, AddOptions{})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("add of 4 MiB into 2 MiB: %v", err)
	}
	if after := snapshot(t, s); after != before {
		t.Fatalf("store changed by a failed add:\nbefore %s\nafter  %s", before, after)
	}
}

func TestVerify(t *testing.T) {
	s := openStore(t, t.TempDir())
	data := testData(3*merkle.DefaultPieceSize, 13)
	res, err := s.Add(context.Background(), writeFile(t, filepath.Join(t.TempDir(), "f"), data), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Verify(context.Background())
	if err != nil || v.Checked != 3 || len(v.Corrupt) != 0 || len(v.Incomplete) != 0 {
		t.Fatalf("clean verify: %+v %v", v, err)
	}
	ref, _ := res.Manifest.Piece(2)
	damage(t, s, ref.ID, func(b []byte) { b[0] ^= 1 })
	v, err = s.Verify(context.Background())
	if err != nil || len(v.Corrupt) != 1 || v.Corrupt[0] != ref.ID || len(v.Incomplete) != 1 || v.Incomplete[0].Have != 2 {
		t.Fatalf("verify with one corrupt piece: %+v %v", v, err)
	}
	// A second content sharing piece 0 with the first; piece 0 is then zeroed
	// behind the store's back: both contents are reported incomplete.
	res2, err := s.Add(context.Background(), writeFile(t, filepath.Join(t.TempDir(), "g"), data[:merkle.DefaultPieceSize+1]), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref0, _ := res.Manifest.Piece(0)
	if ref2, _ := res2.Manifest.Piece(0); ref2.ID != ref0.ID {
		t.Fatal("test setup: piece 0 not shared")
	}
	damage(t, s, ref0.ID, func(b []byte) { clear(b) })
	v, err = s.Verify(context.Background())
	if err != nil || len(v.Corrupt) != 1 || len(v.Incomplete) != 2 {
		t.Fatalf("verify with a lost shared piece: %+v %v", v, err)
	}
	for _, id := range []content.ID{res.ID, res2.ID} {
		if h, _ := s.Have(id); h.Has(0) {
			t.Fatalf("%s still claims the lost piece", id)
		}
	}
}

func TestAddDirectory(t *testing.T) {
	s := openStore(t, t.TempDir())
	dir := filepath.Join(t.TempDir(), "d")
	files := map[string][]byte{"x/1": testData(5, 1), "x/2": testData(300000, 2), "y": nil, "z": testData(16384, 3)}
	for p, d := range files {
		writeFile(t, filepath.Join(dir, p), d)
	}
	var last content.AddProgress
	res, err := s.Add(context.Background(), dir, AddOptions{Recursive: true, Progress: func(p content.AddProgress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if last.Bytes != 5+300000+16384 {
		t.Fatalf("progress %+v", last)
	}
	for i, f := range res.Manifest.Files {
		if got := catFile(t, s, res.ID, i); !bytes.Equal(got, files[f.Path]) {
			t.Fatalf("%s differs", f.Path)
		}
	}
}

func TestBitfield(t *testing.T) {
	b := NewBitfield(10)
	b.Set(0)
	b.Set(9)
	b.Set(10) // ignored
	if b.Count() != 2 || !b.Has(9) || b.Has(1) || b.Complete() {
		t.Fatal("bitfield ops")
	}
	if got := b.Bytes(); got[0] != 0x80 || got[1] != 0x40 {
		t.Fatalf("bit order %08b", got)
	}
	back, err := BitfieldFromBytes(10, b.Bytes())
	if err != nil || back.Count() != 2 {
		t.Fatal(err)
	}
	if _, err := BitfieldFromBytes(10, []byte{0, 0x20}); !errors.Is(err, ErrBitfield) {
		t.Fatal("spare bit accepted")
	}
	if _, err := BitfieldFromBytes(10, []byte{0}); !errors.Is(err, ErrBitfield) {
		t.Fatal("short bitfield accepted")
	}
}

// TestGCDuringAdd runs GC while an add is storing pieces: the add's pieces
// are not pinned yet, but GC must wait for it and then keep them.
func TestGCDuringAdd(t *testing.T) {
	s := openStore(t, t.TempDir())
	data := testData(12*merkle.DefaultPieceSize, 14)
	src := writeFile(t, filepath.Join(t.TempDir(), "f"), data)
	gcDone := make(chan GCResult, 1)
	started := false
	res, err := s.Add(context.Background(), src, AddOptions{Workers: 1, Progress: func(p content.AddProgress) {
		if !started && p.Bytes > 4*merkle.DefaultPieceSize {
			started = true
			go func() {
				r, err := s.GC(context.Background())
				if err != nil {
					t.Error(err)
				}
				gcDone <- r
			}()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	var gc GCResult
	select {
	case gc = <-gcDone:
	case <-time.After(60 * time.Second):
		t.Fatal("GC never finished")
	}
	if gc.RemovedPieces != 0 || gc.RemovedContents != 0 {
		t.Fatalf("GC during add removed %+v", gc)
	}
	if !bytes.Equal(catFile(t, s, res.ID, 0), data) {
		t.Fatal("content damaged by a concurrent GC")
	}
}
