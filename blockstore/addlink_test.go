package blockstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dhtnode/dhtnode/merkle"
)

// TestAddLinked: add --link stores no piece, serves the file from where it is
// (verified), survives a reopen, and stops serving a piece the moment the file
// is edited or moved; Verify reports it; GC forgets the link but never touches
// the file.
func TestAddLinked(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	data := testData(4*merkle.DefaultPieceSize+500, 60)
	src := writeFile(t, filepath.Join(t.TempDir(), "f"), data)
	only, err := s.Add(context.Background(), src, AddOptions{OnlyHash: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.AddLinked(context.Background(), src, AddOptions{})
	if err != nil || res.ID != only.ID {
		t.Fatalf("add --link: %v, ID %v want %v", err, res.ID, only.ID)
	}
	st, _ := s.Stat()
	if st.Pieces != 0 || st.Linked != 1 || st.LinkedBytes != int64(len(data)) || st.Contents != 1 || st.Pinned != 1 {
		t.Fatalf("stat after add --link: %+v", st)
	}
	if got := catFile(t, s, res.ID, 0); !bytes.Equal(got, data) {
		t.Fatal("cat of linked content differs")
	}
	s.Close()
	s = openStore(t, dir)
	if info, err := s.Info(res.ID); err != nil || !info.Complete() || info.Linked != src || !info.Pinned {
		t.Fatalf("info after reopen: %+v %v", info, err)
	}
	// Edited: the changed piece is refused, the rest still served.
	edited := append([]byte(nil), data...)
	edited[merkle.DefaultPieceSize+3] ^= 1
	writeFile(t, src, edited)
	if _, err := s.ContentPiece(res.ID, 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("piece of an edited linked file: %v", err)
	}
	if _, err := s.ContentPiece(res.ID, 2); err != nil {
		t.Fatalf("untouched piece of an edited linked file: %v", err)
	}
	var buf bytes.Buffer
	if err := s.WriteFile(context.Background(), res.ID, 0, &buf); err == nil || buf.Len() > merkle.DefaultPieceSize {
		t.Fatalf("cat of an edited linked file: %v after %d bytes", err, buf.Len())
	}
	writeFile(t, src, data)
	edited[3*merkle.DefaultPieceSize] ^= 1
	writeFile(t, src, edited)
	v, err := s.Verify(context.Background())
	if err != nil || len(v.Corrupt) != 1 || len(v.Incomplete) != 1 {
		t.Fatalf("verify of an edited linked file: %+v %v", v, err)
	}
	// Moved: nothing is served; verify says it is incomplete.
	if err := os.Rename(src, src+".moved"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ContentPiece(res.ID, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("piece of a moved linked file: %v", err)
	}
	if v, err := s.Verify(context.Background()); err != nil || len(v.Incomplete) != 1 || v.Incomplete[0].Have != 0 {
		t.Fatalf("verify of a moved linked file: %+v %v", v, err)
	}
	// GC of unpinned linked content forgets it and leaves the user's file.
	if err := s.Unpin(res.ID); err != nil {
		t.Fatal(err)
	}
	if gc, err := s.GC(context.Background()); err != nil || gc.RemovedContents != 1 {
		t.Fatalf("gc: %+v %v", gc, err)
	}
	if _, err := os.Stat(src + ".moved"); err != nil {
		t.Fatalf("gc touched the user's file: %v", err)
	}
}

// TestAddLinkedDirectory: add --link -r serves each file of a tree from where it is.
func TestAddLinkedDirectory(t *testing.T) {
	s := openStore(t, t.TempDir())
	dir := filepath.Join(t.TempDir(), "d")
	files := map[string][]byte{"x/1": testData(5, 1), "x/2": testData(300000, 2), "z": testData(merkle.DefaultPieceSize+1, 3)}
	for p, d := range files {
		writeFile(t, filepath.Join(dir, p), d)
	}
	res, err := s.AddLinked(context.Background(), dir, AddOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stat(); st.Pieces != 0 || st.Linked != 1 {
		t.Fatalf("stat %+v", st)
	}
	for i, f := range res.Manifest.Files {
		if got := catFile(t, s, res.ID, i); !bytes.Equal(got, files[f.Path]) {
			t.Fatalf("%s differs", f.Path)
		}
	}
	if v, err := s.Verify(context.Background()); err != nil || len(v.Corrupt) != 0 || len(v.Incomplete) != 0 || v.Checked != res.Manifest.NumPieces() {
		t.Fatalf("verify %+v %v", v, err)
	}
}
