package blockstore

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// TestHaveBitsFollowSync: with batched durability a stored piece is not yet
// synced, and the flush that writes its have bit syncs first.
func TestHaveBitsFollowSync(t *testing.T) {
	if !batchedSync {
		t.Skip("pieces are fsynced one by one on this platform")
	}
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
	if !s.unsynced.Load() {
		t.Fatal("a piece was written but the store does not know it is unsynced")
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	if s.unsynced.Load() {
		t.Fatal("flush wrote have bits without syncing the pieces first")
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

// TestReconcileSkipsTornPiece: a piece file a crash left short (written and
// renamed, never synced) does not count as present when bits are rebuilt.
func TestReconcileSkipsTornPiece(t *testing.T) {
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
	path := s.piecePath(ref.ID)
	s.Close()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	wipeHaveBits(t, dir, res.ID)
	s = openStore(t, dir)
	h, err := s.Have(res.ID)
	if err != nil || h.Count() != 1 || !h.Has(0) || h.Has(1) {
		t.Fatalf("reconciled have %08b (%v), want piece 0 only", h.Bytes(), err)
	}
}
