package blockstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// oldLayoutSink writes pieces as the one-file-per-piece layout did:
// pieces/<shard>/<name>, shard = the two characters before the last.
type oldLayoutSink struct{ dir string }

func (o oldLayoutSink) PutPiece(id merkle.PieceID, data []byte) error {
	name := nameOf(id)
	p := filepath.Join(o.dir, "pieces", name[len(name)-3:len(name)-1], name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// TestMigrateOldLayout opens a store written in the one-file-per-piece layout:
// its pieces move into segments (verified on the way; a corrupt one is
// quarantined, a temp file dropped), the piece files go, and the content
// reads back whole.
func TestMigrateOldLayout(t *testing.T) {
	dir := t.TempDir()
	data := testData(5*merkle.DefaultPieceSize+999, 30)
	other := testData(2*merkle.DefaultPieceSize, 31)
	res, err := content.AddReader(context.Background(), "f", bytes.NewReader(data), content.AddOptions{Sink: oldLayoutSink{dir}})
	if err != nil {
		t.Fatal(err)
	}
	res2, err := content.AddReader(context.Background(), "g", bytes.NewReader(other), content.AddOptions{Sink: oldLayoutSink{dir}})
	if err != nil {
		t.Fatal(err)
	}
	// The old store's metadata: both manifests, pinned and complete.
	db, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketManifests, bucketPins, bucketHave, bucketLinks} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		for _, r := range []*content.AddResult{res, res2} {
			bits := NewBitfield(r.Manifest.NumPieces())
			bits.SetAll()
			tx.Bucket(bucketManifests).Put(r.ID.Bytes(), r.Encoded)
			tx.Bucket(bucketHave).Put(r.ID.Bytes(), bits.Bytes())
			tx.Bucket(bucketPins).Put(r.ID.Bytes(), make([]byte, 8))
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	// One piece of g rotted on disk; a temp file of a crashed write is there too.
	bad, _ := res2.Manifest.Piece(1)
	name := nameOf(bad.ID)
	badPath := filepath.Join(dir, "pieces", name[len(name)-3:len(name)-1], name)
	b, _ := os.ReadFile(badPath)
	b[7] ^= 1
	writeFile(t, badPath, b)
	writeFile(t, filepath.Join(dir, "pieces", "aa", ".tmp-dead-1"), []byte("half"))

	s := openStore(t, dir)
	if _, err := os.Stat(filepath.Join(dir, "pieces")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the piece files survived the migration: %v", err)
	}
	st, err := s.Stat()
	if err != nil || st.Pieces != 6+1 || st.Segments == 0 || st.Quarantined != 1 || st.Contents != 2 {
		t.Fatalf("stat after migrating: %+v %v; want 7 pieces in segments, 1 quarantined", st, err)
	}
	if got := catFile(t, s, res.ID, 0); !bytes.Equal(got, data) {
		t.Fatal("migrated content differs")
	}
	v, err := s.Verify(context.Background())
	if err != nil || len(v.Corrupt) != 0 || len(v.Incomplete) != 1 || v.Incomplete[0].ID != res2.ID {
		t.Fatalf("verify after migrating: %+v %v; want g incomplete (its rotten piece is gone)", v, err)
	}
	// Reopening does nothing more.
	s.Close()
	s = openStore(t, dir)
	if got := catFile(t, s, res.ID, 0); !bytes.Equal(got, data) {
		t.Fatal("migrated content differs after a reopen")
	}
}

// TestSharedPiecesStoredOnce: two contents sharing pieces, added one after the
// other and at the same time, store each distinct piece once.
func TestSharedPiecesStoredOnce(t *testing.T) {
	s := openStore(t, t.TempDir())
	a := testData(8*merkle.DefaultPieceSize, 40)
	src := t.TempDir()
	done := make(chan error, 3)
	for _, n := range []string{"a1", "a2", "a3"} {
		p := writeFile(t, filepath.Join(src, n), a)
		go func() { _, err := s.Add(context.Background(), p, AddOptions{}); done <- err }()
	}
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	st, _ := s.Stat()
	if st.Pieces != 8 || st.PieceBytes != int64(len(a)) {
		t.Fatalf("three adds of one file: %+v; want 8 pieces stored once", st)
	}
	if st.DiskBytes > int64(len(a))+activeSegments*segAlign {
		t.Fatalf("segments take %d bytes on disk for %d of pieces: a duplicate was written and kept", st.DiskBytes, len(a))
	}
}

// TestGCReclaimsSpace: gc removes a segment whose pieces are all dead and
// punches holes where dead pieces sit among live ones; the live ones still
// verify, and a reopen changes nothing.
func TestGCReclaimsSpace(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	src := t.TempDir()
	keep := testData(6*merkle.DefaultPieceSize, 50)
	drop := testData(6*merkle.DefaultPieceSize, 51)
	// Interleaved in the same segments: added at the same time.
	var resKeep, resDrop *content.AddResult
	errs := make(chan error, 2)
	go func() {
		var err error
		resKeep, err = s.Add(context.Background(), writeFile(t, filepath.Join(src, "keep"), keep), AddOptions{Workers: 1})
		errs <- err
	}()
	go func() {
		var err error
		resDrop, err = s.Add(context.Background(), writeFile(t, filepath.Join(src, "drop"), drop), AddOptions{Workers: 1, NoPin: true})
		errs <- err
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	before, _ := s.Stat()
	gc, err := s.GC(context.Background())
	if err != nil || gc.RemovedPieces != 6 || gc.RemovedBytes != int64(len(drop)) {
		t.Fatalf("gc %+v %v", gc, err)
	}
	after, _ := s.Stat()
	if freed := before.DiskBytes - after.DiskBytes; freed < int64(len(drop)) {
		t.Fatalf("gc freed %d bytes on disk, want at least %d (%+v -> %+v)", freed, len(drop), before, after)
	}
	if got := catFile(t, s, resKeep.ID, 0); !bytes.Equal(got, keep) {
		t.Fatal("live content damaged by gc")
	}
	_ = resDrop
	// Everything dead: the segments still taking writes are all holes, and
	// go whole once the store closes.
	if err := s.Unpin(resKeep.ID); err != nil {
		t.Fatal(err)
	}
	if gc, err := s.GC(context.Background()); err != nil || gc.RemovedPieces != 6 {
		t.Fatalf("gc of everything: %+v %v", gc, err)
	}
	if st, _ := s.Stat(); st.DiskBytes != 0 || st.Pieces != 0 {
		t.Fatalf("after gc of everything: %+v", st)
	}
	s.Close()
	s = openStore(t, dir)
	if st, _ := s.Stat(); st.Segments != 0 || st.DiskBytes != 0 {
		t.Fatalf("after gc of everything and a reopen: %+v", st)
	}
}
