package blockstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// TestLinkedContent: a download that writes its output once links it; the store then
// serves, cats and verifies pieces from that file, survives a reopen, notices when the
// file is edited or moved (clearing the bits, never touching the file), and GC removes
// only an abandoned download's scratch file.
func TestLinkedContent(t *testing.T) {
	dir := t.TempDir()
	out := t.TempDir()
	data := testData(5*merkle.DefaultPieceSize+1000, 9)
	res, err := content.AddReader(context.Background(), "f", bytes.NewReader(data), content.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(Config{Dir: dir, FlushInterval: 3600e9})
	if err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(out, ".f.partial")
	final := filepath.Join(out, "f")
	if err := s.LinkContent(res.ID, Link{Path: partial, Final: final}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("link before the manifest: %v", err)
	}
	if _, err := s.PinManifest(res.ID, res.Encoded); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkContent(res.ID, Link{Path: partial, Final: final}); err != nil {
		t.Fatal(err)
	}
	// The "download": every piece but 2 written into the scratch file.
	f := make([]byte, len(data))
	for g := 0; g < res.Manifest.NumPieces(); g++ {
		if g == 2 {
			continue
		}
		ref, _ := res.Manifest.Piece(g)
		copy(f[ref.Offset:], data[ref.Offset:ref.Offset+int64(ref.Len)])
		if err := s.MarkLinkedPiece(res.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, partial, f)
	if got, _ := s.Have(res.ID); got.Count() != 5 || got.Has(2) {
		t.Fatalf("have %08b", got.Bytes())
	}
	st, err := s.Stat()
	if err != nil || st.Pieces != 0 || st.Linked != 1 || st.LinkedBytes != int64(len(data)-merkle.DefaultPieceSize) {
		t.Fatalf("stat %+v, %v: want no piece files, one linked content", st, err)
	}
	ref4, _ := res.Manifest.Piece(4)
	if got, err := s.ContentPiece(res.ID, 4); err != nil || !bytes.Equal(got, data[ref4.Offset:ref4.Offset+int64(ref4.Len)]) {
		t.Fatalf("linked piece 4: %v", err)
	}
	// Complete it, rename as a download commits, and crash before the new link is saved:
	// reads fall back to Final.
	ref2, _ := res.Manifest.Piece(2)
	copy(f[ref2.Offset:], data[ref2.Offset:ref2.Offset+int64(ref2.Len)])
	writeFile(t, partial, f)
	if err := s.MarkLinkedPiece(res.ID, 2); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(partial, final); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	if l, ok := s.Linked(res.ID); !ok || l.Where() != final {
		t.Fatalf("link after reopen: %+v %v", l, ok)
	}
	if got := catFile(t, s, res.ID, 0); !bytes.Equal(got, data) {
		t.Fatal("cat of linked content differs")
	}
	if err := s.LinkContent(res.ID, Link{Path: final}); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Info(res.ID); !info.Complete() || info.Linked != final {
		t.Fatalf("info %+v", info)
	}
	// Someone edits the file: the damaged piece is refused and marked missing, the
	// file is left alone.
	f[ref4.Offset+10] ^= 1
	writeFile(t, final, f)
	if _, err := s.ContentPiece(res.ID, 4); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("edited linked piece: %v", err)
	}
	if h, _ := s.Have(res.ID); h.Has(4) || h.Count() != 5 {
		t.Fatalf("have after a bad read %08b", h.Bytes())
	}
	if b, _ := os.ReadFile(final); !bytes.Equal(b, f) {
		t.Fatal("the store touched a linked file")
	}
	f[ref4.Offset+10] ^= 1
	f[ref2.Offset] ^= 1
	writeFile(t, final, f)
	v, err := s.Verify(context.Background())
	if err != nil || v.Checked != 5 || len(v.Corrupt) != 1 || v.Corrupt[0] != ref2.ID || len(v.Incomplete) != 1 {
		t.Fatalf("verify %+v, %v: want 5 linked pieces checked, piece 2 corrupt", v, err)
	}
	// Truncated: nothing verifies.
	writeFile(t, final, f[:100])
	if _, err := s.ContentPiece(res.ID, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("piece of a truncated linked file: %v", err)
	}
	// Moved away: not found, bit cleared.
	if err := os.Remove(final); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ContentPiece(res.ID, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("piece of a removed linked file: %v", err)
	}
	// GC of an unpinned download removes its scratch file, never a finished output.
	writeFile(t, final, data)
	scratch := writeFile(t, filepath.Join(out, ".g.partial"), data[:10])
	res2, err := content.AddReader(context.Background(), "g", bytes.NewReader(data[:10]), content.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutManifest(res2.ID, res2.Encoded); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkContent(res2.ID, Link{Path: scratch, Final: filepath.Join(out, "g")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Unpin(res.ID); err != nil {
		t.Fatal(err)
	}
	if gc, err := s.GC(context.Background()); err != nil || gc.RemovedContents != 2 {
		t.Fatalf("gc %+v %v", gc, err)
	}
	if _, err := os.Stat(scratch); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("scratch file of an abandoned download survived GC: %v", err)
	}
	if _, err := os.Stat(final); err != nil {
		t.Fatalf("GC removed a finished linked file: %v", err)
	}
	if _, ok := s.Linked(res.ID); ok {
		t.Fatal("link survived GC of its content")
	}
}
