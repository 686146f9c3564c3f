package blockstore

import (
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/dhtnode/dhtnode/merkle"
)

// pieceName encodes a PieceID for the file system (quarantined pieces, and the
// piece files of the layout before segments): lower-case base32 of its
// 33-byte binary form (53 characters).
var pieceName = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func nameOf(id merkle.PieceID) string {
	b, _ := id.MarshalBinary()
	return pieceName.EncodeToString(b)
}

func parseName(name string) (merkle.PieceID, bool) {
	var id merkle.PieceID
	b, err := pieceName.DecodeString(name)
	if err != nil || id.UnmarshalBinary(b) != nil || nameOf(id) != name {
		return id, false
	}
	return id, true
}

// pendingPiece is a piece written to a segment whose index entry is not
// committed yet: an add commits it with its manifest, a download's flush with
// its have bits. Until then reads find it here.
type pendingPiece struct {
	id   merkle.PieceID
	loc  loc
	done chan struct{} // closed when the write ended; err says how
	err  error
	refs int  // running adds that will commit or roll back this piece
	keep bool // a download stored it: the next flush commits it
}

// PutPiece verifies that data hashes to id and stores it. A piece already
// present is not written again (identical pieces are stored once). It returns
// an error wrapping merkle.ErrMismatch or merkle.ErrLength for bad data, or
// the file-system error, in which case nothing is visible in the store. The
// piece is committed to the index by the next flush.
func (s *Store) PutPiece(id merkle.PieceID, data []byte) error {
	if err := id.Verify(data); err != nil {
		return err
	}
	_, _, err := s.putVerified(id, data, true)
	return err
}

// putVerified stores data that the caller has just hashed to id, unless the
// index or a pending write already has it (identical pieces are stored
// once). keep: a download's piece, committed by the next flush; otherwise an
// add's, which holds a reference on the returned pending piece (nil when the
// piece was indexed already) and commits or rolls it back. created reports
// whether this call wrote it.
func (s *Store) putVerified(id merkle.PieceID, data []byte, keep bool) (p *pendingPiece, created bool, err error) {
	if err := s.checkOpen(); err != nil {
		return nil, false, err
	}
	for {
		s.pmu.Lock()
		if p := s.pending[id]; p != nil {
			if keep {
				p.keep = true
			} else {
				p.refs++
			}
			s.pmu.Unlock()
			<-p.done
			if p.err == nil {
				return p, false, nil
			}
			// Its writer failed (and dropped it): write it ourselves.
			continue
		}
		s.pmu.Unlock()
		if l, ok := s.indexed(id); ok && l.n == len(data) {
			return nil, false, nil
		}
		s.pmu.Lock()
		if s.pending[id] != nil {
			s.pmu.Unlock()
			continue
		}
		p = &pendingPiece{id: id, done: make(chan struct{}), keep: keep}
		if !keep {
			p.refs = 1
		}
		s.pending[id] = p
		s.pmu.Unlock()
		l, err := s.segs.append(data, s.writeHook, s.scratch)
		s.pmu.Lock()
		p.loc, p.err = l, err
		if err != nil {
			delete(s.pending, id)
		}
		s.pmu.Unlock()
		close(p.done)
		if err != nil {
			return nil, false, fmt.Errorf("blockstore: storing piece %s: %w", id, err)
		}
		s.metrics.written.Inc()
		s.metrics.writtenByte.Add(float64(len(data)))
		return p, true, nil
	}
}

// scratch lends an aligned buffer of n bytes for a direct write of unaligned data.
func (s *Store) scratch(n int) ([]byte, func()) {
	b := s.directBuf(n)
	return b, func() { s.putDirectBuf(b) }
}

// indexed looks piece id up in the committed index.
func (s *Store) indexed(id merkle.PieceID) (loc, bool) {
	var l loc
	var ok bool
	_ = s.db.View(func(tx *bolt.Tx) error {
		l, ok = decodeLoc(tx.Bucket(bucketIndex).Get(pieceKey(id)))
		return nil
	})
	return l, ok
}

// locate finds piece id: a finished pending write, else the index.
func (s *Store) locate(id merkle.PieceID) (loc, bool) {
	s.pmu.Lock()
	p := s.pending[id]
	s.pmu.Unlock()
	if p != nil {
		select {
		case <-p.done:
			if p.err == nil {
				return p.loc, true
			}
		default:
		}
	}
	return s.indexed(id)
}

// HasPiece reports whether the store holds id (without verifying it).
func (s *Store) HasPiece(id merkle.PieceID) bool {
	_, ok := s.locate(id)
	return ok
}

// hasPieceLen reports whether the store holds id with exactly n bytes.
func (s *Store) hasPieceLen(id merkle.PieceID, n int) bool {
	l, ok := s.locate(id)
	return ok && l.n == n
}

// GetPiece reads a piece and verifies it against id. It returns ErrNotFound,
// or ErrCorrupt (its bytes are quarantined and the piece is then missing).
func (s *Store) GetPiece(id merkle.PieceID) ([]byte, error) {
	return s.ReadPiece(id, nil)
}

// ReadPiece is GetPiece reading into buf's storage when it is large enough.
func (s *Store) ReadPiece(id merkle.PieceID, buf []byte) ([]byte, error) {
	return s.readPiece(id, buf, false)
}

// readPiece is ReadPiece; keep reads an uncached piece through the page cache,
// which keeps it there for the next read (see readSeg).
func (s *Store) readPiece(id merkle.PieceID, buf []byte, keep bool) ([]byte, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	l, ok := s.locate(id)
	if !ok || l.n <= 0 || l.n > id.MaxLen() {
		return nil, fmt.Errorf("%w: piece %s", ErrNotFound, id)
	}
	data, err := s.readSegment(l, buf, keep)
	if errors.Is(err, os.ErrNotExist) {
		return nil, s.quarantine(id, l, fmt.Errorf("%w: %v", errSegmentGone, err))
	}
	if err != nil {
		return nil, fmt.Errorf("blockstore: reading piece %s: %w", id, err)
	}
	if err := id.Verify(data); err != nil {
		return nil, s.quarantine(id, l, err)
	}
	s.metrics.read.Inc()
	return data, nil
}

// quarantine copies the corrupt bytes of piece id (at l) out of the store,
// forgets the piece (its index entry goes, its blocks are punched out) and
// returns the ErrCorrupt to report.
func (s *Store) quarantine(id merkle.PieceID, l loc, why error) error {
	dst := s.quarantineDst(id)
	if raw, err := s.readSegment(l, nil, true); err == nil {
		_ = os.WriteFile(dst, raw, 0o644)
	}
	s.pmu.Lock()
	if p := s.pending[id]; p != nil && p.loc == l {
		delete(s.pending, id)
	}
	s.pmu.Unlock()
	_ = s.db.Update(func(tx *bolt.Tx) error {
		if cur, ok := decodeLoc(tx.Bucket(bucketIndex).Get(pieceKey(id))); ok && cur == l {
			return deleteIndex(tx, id, l)
		}
		return nil
	})
	s.segs.punch(l)
	s.metrics.corrupt.Inc()
	where := fmt.Sprintf("%s@%d", s.segs.path(l.seg), l.off)
	s.log.Warn("corrupt piece quarantined", "piece", id.String(), "at", where, "moved_to", dst, "reason", why)
	return fmt.Errorf("%w: %s (%s): %v; moved to %s", ErrCorrupt, id, where, why, dst)
}

// quarantineDst is where the corrupt bytes of piece id are moved.
func (s *Store) quarantineDst(id merkle.PieceID) string {
	return filepath.Join(s.corrupt, nameOf(id))
}

// walkIndex calls fn for every indexed piece, outside any transaction (fn may
// read pieces, and a read may quarantine).
func (s *Store) walkIndex(fn func(id merkle.PieceID, l loc) error) error {
	type entry struct {
		id merkle.PieceID
		l  loc
	}
	var all []entry
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIndex).ForEach(func(k, v []byte) error {
			var e entry
			var ok bool
			if e.l, ok = decodeLoc(v); ok && e.id.UnmarshalBinary(k) == nil {
				all = append(all, e)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("blockstore: listing pieces: %w", err)
	}
	for _, e := range all {
		if err := fn(e.id, e.l); err != nil {
			return err
		}
	}
	return nil
}
