package blockstore

import (
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dhtnode/dhtnode/merkle"
)

// pieceName encodes a PieceID for the file system: lower-case base32 of its
// 33-byte binary form (53 characters), sharded flatfs-style by the two
// characters before the last ("next-to-last/2": 1024 directories).
var pieceName = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func nameOf(id merkle.PieceID) string {
	b, _ := id.MarshalBinary()
	return pieceName.EncodeToString(b)
}

func shardOf(name string) string { return name[len(name)-3 : len(name)-1] }

func parseName(name string) (merkle.PieceID, bool) {
	var id merkle.PieceID
	b, err := pieceName.DecodeString(name)
	if err != nil || id.UnmarshalBinary(b) != nil || nameOf(id) != name {
		return id, false
	}
	return id, true
}

func (s *Store) piecePath(id merkle.PieceID) string {
	name := nameOf(id)
	return filepath.Join(s.pieces, shardOf(name), name)
}

// PutPiece verifies that data hashes to id and stores it. A piece already
// present is not written again (identical pieces are stored once). It returns
// an error wrapping merkle.ErrMismatch or merkle.ErrLength for bad data, or
// the file-system error, in which case nothing is visible in the store.
func (s *Store) PutPiece(id merkle.PieceID, data []byte) error {
	if err := id.Verify(data); err != nil {
		return err
	}
	_, err := s.putVerified(id, data)
	return err
}

// putVerified stores data that the caller has just hashed to id: written to
// a temp file, then renamed into place, so a reader never sees a partial
// piece under its name. The file is durable only after the next syncPieces
// (on Linux; fsynced here elsewhere): a crash before it may leave a piece
// torn or empty under its name, which every read detects (it is verified),
// and no have bit, manifest or pin that claims it has been committed yet.
// created reports whether the file is new.
func (s *Store) putVerified(id merkle.PieceID, data []byte) (created bool, err error) {
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	final := s.piecePath(id)
	if _, err := os.Lstat(final); err == nil {
		return false, nil
	}
	shard := filepath.Dir(final)
	if _, ok := s.shards.Load(shard); !ok {
		if err := os.MkdirAll(shard, 0o755); err != nil {
			return false, fmt.Errorf("blockstore: storing piece %s: %w", id, err)
		}
		s.shards.Store(shard, struct{}{})
	}
	// The temp file lives next to its final name: a rename within one
	// directory is much cheaper than across directories (which ext4
	// serialises on a file-system-wide lock).
	if done, err := s.putDirect(shard, final, data); done {
		if err != nil {
			return false, fmt.Errorf("blockstore: storing piece %s: %w", id, err)
		}
		s.metrics.written.Inc()
		s.metrics.writtenByte.Add(float64(len(data)))
		return true, nil
	}
	f, err := os.CreateTemp(shard, tempPrefix+s.session+"-*")
	if err != nil {
		return false, fmt.Errorf("blockstore: storing piece %s: %w", id, err)
	}
	tmp := f.Name()
	fail := func(err error) (bool, error) {
		f.Close()
		os.Remove(tmp)
		return false, fmt.Errorf("blockstore: storing piece %s: %w", id, err)
	}
	// putDirect took every piece that O_DIRECT can carry; this path writes
	// through the page cache.
	if s.writeHook != nil {
		err = s.writeHook(f, data)
	} else {
		_, err = f.Write(data)
	}
	if err != nil {
		return fail(err)
	}
	if !s.cfg.NoSync {
		// Durable now (fsync), or, on Linux, writeback started and made
		// durable by the syncfs that precedes any commit claiming the piece.
		if err := pieceWritten(f); err != nil {
			return fail(err)
		}
		if batchedSync {
			s.unsynced.Store(true)
		}
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("blockstore: storing piece %s: %w", id, err)
	}
	s.metrics.written.Inc()
	s.metrics.writtenByte.Add(float64(len(data)))
	return true, nil
}

// HasPiece reports whether a file for id exists (without verifying it).
func (s *Store) HasPiece(id merkle.PieceID) bool {
	_, err := os.Lstat(s.piecePath(id))
	return err == nil
}

// hasPieceLen reports whether a file for id of exactly n bytes exists.
func (s *Store) hasPieceLen(id merkle.PieceID, n int) bool {
	st, err := os.Lstat(s.piecePath(id))
	return err == nil && st.Mode().IsRegular() && st.Size() == int64(n)
}

// GetPiece reads a piece and verifies it against id. It returns ErrNotFound,
// or ErrCorrupt (the file is quarantined and the piece is then missing).
func (s *Store) GetPiece(id merkle.PieceID) ([]byte, error) {
	return s.ReadPiece(id, nil)
}

// ReadPiece is GetPiece reading into buf's storage when it is large enough.
func (s *Store) ReadPiece(id merkle.PieceID, buf []byte) ([]byte, error) {
	return s.readPiece(id, buf, false)
}

// readPiece is ReadPiece; keep reads an uncached piece through the page cache,
// which keeps it there for the next read (see readPieceFile).
func (s *Store) readPiece(id merkle.PieceID, buf []byte, keep bool) ([]byte, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	path := s.piecePath(id)
	buf, size, err := s.readPieceFile(path, buf, id.MaxLen(), keep)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: piece %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("blockstore: reading piece %s: %w", id, err)
	}
	if buf == nil {
		return nil, s.quarantine(id, fmt.Errorf("file of %d bytes", size))
	}
	if err := id.Verify(buf); err != nil {
		return nil, s.quarantine(id, err)
	}
	s.metrics.read.Inc()
	return buf, nil
}

// quarantine moves a corrupt piece file out of the store and returns the
// ErrCorrupt to report.
func (s *Store) quarantine(id merkle.PieceID, why error) error {
	path := s.piecePath(id)
	dst := s.quarantineDst(id)
	if err := os.Rename(path, dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		os.Remove(path)
	}
	s.metrics.corrupt.Inc()
	s.log.Warn("corrupt piece quarantined", "piece", id.String(), "path", path, "moved_to", dst, "reason", why)
	return fmt.Errorf("%w: %s (%s): %v; moved to %s", ErrCorrupt, id, path, why, dst)
}

// quarantineDst is where the corrupt bytes of piece id are moved.
func (s *Store) quarantineDst(id merkle.PieceID) string {
	return filepath.Join(s.corrupt, nameOf(id))
}

// removePiece deletes a piece file (GC, rollback of a failed add).
func (s *Store) removePiece(id merkle.PieceID) error {
	err := os.Remove(s.piecePath(id))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// walkPieces calls fn for every piece file in the store.
func (s *Store) walkPieces(fn func(id merkle.PieceID, path string, size int64) error) error {
	shards, err := os.ReadDir(s.pieces)
	if err != nil {
		return fmt.Errorf("blockstore: listing pieces: %w", err)
	}
	for _, sh := range shards {
		if !sh.IsDir() {
			continue
		}
		dir := filepath.Join(s.pieces, sh.Name())
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("blockstore: listing pieces: %w", err)
		}
		for _, e := range entries {
			id, ok := parseName(e.Name())
			if !ok || !e.Type().IsRegular() {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			if err := fn(id, filepath.Join(dir, e.Name()), info.Size()); err != nil {
				return err
			}
		}
	}
	return nil
}
