package blockstore

import (
	"bytes"
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// TestHaveBitsFollowSync: a downloaded piece is written but neither synced nor
// indexed; the flush that commits its index entry and have bit syncs first: the
// segment's data and, since the segment is new, the directory holding its name.
func TestHaveBitsFollowSync(t *testing.T) {
	dir := t.TempDir()
	data := testData(3*merkle.DefaultPieceSize, 9)
	res, err := content.AddReader(context.Background(), "f", bytes.NewReader(data), content.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir)
	if _, err := s.PinManifest(res.ID, res.Encoded); err != nil {
		t.Fatal(err)
	}
	if err := s.PutContentPiece(res.ID, 1, data[merkle.DefaultPieceSize:2*merkle.DefaultPieceSize]); err != nil {
		t.Fatal(err)
	}
	ref, _ := res.Manifest.Piece(1)
	s.segs.mu.Lock()
	dirty, dirNew := len(s.segs.dirty), s.segs.dirNew
	s.segs.mu.Unlock()
	if _, ok := s.indexed(ref.ID); ok || dirty == 0 || !dirNew {
		t.Fatalf("a piece was written to a new segment: indexed before the flush %v, dirty segments %d, new segment name unsynced %v", ok, dirty, dirNew)
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	s.segs.mu.Lock()
	dirty, dirNew = len(s.segs.dirty), s.segs.dirNew
	s.segs.mu.Unlock()
	if dirty != 0 || dirNew {
		t.Fatalf("flush committed have bits without syncing the segments (%d left) and their directory (%v left) first", dirty, dirNew)
	}
	if _, ok := s.indexed(ref.ID); !ok {
		t.Fatal("flush did not commit the piece's index entry")
	}
	var saved []byte
	s.db.View(func(tx *bolt.Tx) error {
		saved = append(saved, tx.Bucket(bucketHave).Get(res.ID.Bytes())...)
		return nil
	})
	if bits, err := BitfieldFromBytes(3, saved); err != nil || !bits.Has(1) || bits.Count() != 1 {
		t.Fatalf("saved bits %08b (%v)", saved, err)
	}
}

// TestReconcileSkipsUnindexedPiece: a downloaded piece whose index entry a
// crash lost (it was written, never committed) does not count as present
// when bits are rebuilt, and its bytes are reclaimed on open.
func TestReconcileSkipsUnindexedPiece(t *testing.T) {
	dir := t.TempDir()
	data := testData(3*merkle.DefaultPieceSize, 10)
	res, err := content.AddReader(context.Background(), "f", bytes.NewReader(data), content.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(Config{Dir: dir, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PinManifest(res.ID, res.Encoded); err != nil {
		t.Fatal(err)
	}
	for g := 0; g < 2; g++ {
		if err := s.PutContentPiece(res.ID, g, data[g*merkle.DefaultPieceSize:(g+1)*merkle.DefaultPieceSize]); err != nil {
			t.Fatal(err)
		}
	}
	ref, _ := res.Manifest.Piece(1)
	s.Close()
	db, err := bolt.Open(dir+"/meta.db", 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := decodeLoc(nil)
	db.Update(func(tx *bolt.Tx) error {
		l, _ = decodeLoc(tx.Bucket(bucketIndex).Get(pieceKey(ref.ID)))
		return deleteIndex(tx, ref.ID, l)
	})
	db.Close()
	wipeHaveBits(t, dir, res.ID)
	unclean(t, dir)
	s = openStore(t, dir)
	h, err := s.Have(res.ID)
	if err != nil || h.Count() != 1 || !h.Has(0) || h.Has(1) {
		t.Fatalf("reconciled have %08b (%v), want piece 0 only", h.Bytes(), err)
	}
	if st, _ := s.Stat(); st.DiskBytes > merkle.DefaultPieceSize+segAlign {
		t.Fatalf("the unindexed piece's bytes survived open: %+v", st)
	}
}
