package blockstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// GCResult says what GC removed.
type GCResult struct {
	RemovedContents int          // unpinned manifests (with their download state)
	RemovedIDs      []content.ID // their IDs, so the caller can stop announcing them
	RemovedPieces   int          // pieces no pinned content uses
	RemovedBytes    int64        // their size
	RemovedSegments int          // segment files left with no piece, removed whole
}

// GC removes every manifest that is not pinned and every piece that no
// pinned manifest refers to (an unpinned partial download goes too: pin a
// download to keep it). It waits for running adds and piece writes, and
// blocks new ones while it runs.
func (s *Store) GC(ctx context.Context) (GCResult, error) {
	var res GCResult
	if err := s.checkOpen(); err != nil {
		return res, err
	}
	s.gcLock.Lock()
	defer s.gcLock.Unlock()
	// Downloaded pieces not yet committed get their index entries first, so
	// the walk below sees every piece.
	if err := s.flush(); err != nil {
		return res, fmt.Errorf("blockstore: gc: %w", err)
	}

	var pinned, unpinned []content.ID
	err := s.db.View(func(tx *bolt.Tx) error {
		pins := tx.Bucket(bucketPins)
		return tx.Bucket(bucketManifests).ForEach(func(k, _ []byte) error {
			id, err := content.IDFromBytes(k)
			if err != nil {
				return nil
			}
			if pins.Get(k) != nil {
				pinned = append(pinned, id)
			} else {
				unpinned = append(unpinned, id)
			}
			return nil
		})
	})
	if err != nil {
		return res, fmt.Errorf("blockstore: gc: %w", err)
	}
	keep := make(map[merkle.PieceID]struct{})
	for _, id := range pinned {
		m, err := s.manifest(id, nil)
		if err != nil {
			return res, fmt.Errorf("blockstore: gc: %w", err)
		}
		for g := 0; g < m.NumPieces(); g++ {
			ref, _ := m.Piece(g)
			keep[ref.ID] = struct{}{}
		}
	}
	// Metadata first: if we crash after this, the orphaned pieces are
	// removed by the next GC; the other order could leave a manifest whose
	// pieces are gone.
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, id := range unpinned {
			if err := tx.Bucket(bucketManifests).Delete(id.Bytes()); err != nil {
				return err
			}
			if err := tx.Bucket(bucketHave).Delete(id.Bytes()); err != nil {
				return err
			}
			if err := tx.Bucket(bucketLinks).Delete(id.Bytes()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("blockstore: gc: %w", err)
	}
	var scratch []string
	s.mu.Lock()
	for _, id := range unpinned {
		delete(s.manifests, key(id))
		delete(s.have, key(id))
		if l, ok := s.links[key(id)]; ok && l.Final != "" && l.Final != l.Path {
			scratch = append(scratch, l.Path)
		}
		delete(s.links, key(id))
	}
	s.mu.Unlock()
	// An unfinished download's scratch output is ours; a linked file that
	// is a user's finished output is not, and stays.
	for _, p := range scratch {
		if err := os.RemoveAll(p); err != nil {
			s.log.Warn("gc: removing an abandoned download's partial output", "path", p, "err", err)
		}
	}
	res.RemovedContents, res.RemovedIDs = len(unpinned), unpinned
	err = s.gcPieces(ctx, keep, &res)
	s.log.Info("garbage collected", "contents", res.RemovedContents, "pieces", res.RemovedPieces, "bytes", res.RemovedBytes,
		"segments_removed", res.RemovedSegments, "err", err)
	return res, err
}

// gcPieces forgets every indexed piece not in keep, then gives back its
// space: a segment left with no piece is removed, the others get holes
// punched where the dead pieces were (the index first: a crash in between
// leaves dead bytes, never an entry pointing at freed blocks).
func (s *Store) gcPieces(ctx context.Context, keep map[merkle.PieceID]struct{}, res *GCResult) error {
	type dead struct {
		id merkle.PieceID
		l  loc
	}
	var gone []dead
	err := s.walkIndex(func(id merkle.PieceID, l loc) error {
		if _, ok := keep[id]; !ok {
			gone = append(gone, dead{id, l})
		}
		return ctx.Err()
	})
	if err != nil || len(gone) == 0 {
		return err
	}
	const batch = 10000
	for i := 0; i < len(gone); i += batch {
		part := gone[i:min(i+batch, len(gone))]
		if err := s.db.Update(func(tx *bolt.Tx) error {
			for _, d := range part {
				if err := deleteIndex(tx, d.id, d.l); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("blockstore: gc: %w", err)
		}
	}
	segs := map[uint32]bool{}
	for _, d := range gone {
		res.RemovedPieces++
		res.RemovedBytes += int64(d.l.n)
		segs[d.l.seg] = true
	}
	for id := range segs {
		removed, _, err := s.trim(id)
		if err != nil {
			return fmt.Errorf("blockstore: gc: segment %s: %w", segName(id), err)
		}
		if removed {
			res.RemovedSegments++
		}
	}
	return nil
}

// StatResult describes the store.
type StatResult struct {
	Dir          string
	Pieces       int   // stored pieces (identical pieces stored once)
	PieceBytes   int64 // their total size
	Segments     int   // segment files holding them
	DiskBytes    int64 // blocks the segment files take on disk (holes excluded)
	Contents     int   // stored manifests
	Pinned       int   // pinned contents
	Linked       int   // contents whose bytes are in linked files (a get's output)
	LinkedBytes  int64 // bytes of their pieces held there
	Quarantined  int   // corrupt files moved aside
	MetadataSize int64 // size of the bbolt file
}

// Stat counts pieces, bytes and contents.
func (s *Store) Stat() (StatResult, error) {
	res := StatResult{Dir: s.cfg.Dir}
	if err := s.checkOpen(); err != nil {
		return res, err
	}
	// Downloaded pieces not committed yet are counted once indexed.
	if err := s.flush(); err != nil {
		return res, err
	}
	err := s.walkIndex(func(_ merkle.PieceID, l loc) error {
		res.Pieces++
		res.PieceBytes += int64(l.n)
		return nil
	})
	if err != nil {
		return res, err
	}
	res.Segments, res.DiskBytes = s.segs.usage()
	err = s.db.View(func(tx *bolt.Tx) error {
		res.Contents = tx.Bucket(bucketManifests).Stats().KeyN
		res.Pinned = tx.Bucket(bucketPins).Stats().KeyN
		res.MetadataSize = tx.Size()
		return nil
	})
	if err != nil {
		return res, err
	}
	res.Linked = len(s.linkedIDs())
	s.eachLinkedPiece(func(_ content.ID, ref content.PieceRef) bool {
		res.LinkedBytes += int64(ref.Len)
		return true
	})
	if q, err := os.ReadDir(s.corrupt); err == nil {
		res.Quarantined = len(q)
	}
	return res, nil
}

// VerifyResult is what Verify found.
type VerifyResult struct {
	Checked int              // stored and linked pieces read and hashed
	Corrupt []merkle.PieceID // corrupt pieces (stored ones now quarantined; linked ones marked missing)
	// Incomplete lists pinned contents that miss pieces after the check (a
	// get of the ID fetches them again).
	Incomplete []ContentInfo
}

// Verify reads and hashes every stored piece (in parallel), quarantines the
// corrupt ones and reports pinned content left incomplete. It returns an
// error only if it could not run; damage is in the result.
func (s *Store) Verify(ctx context.Context) (VerifyResult, error) {
	var res VerifyResult
	if err := s.checkOpen(); err != nil {
		return res, err
	}
	if err := s.flush(); err != nil {
		return res, err
	}
	// A job is a stored piece, or (linked set) piece global of a linked content.
	type job struct {
		piece  merkle.PieceID
		linked content.ID
		global int
	}
	var mu sync.Mutex
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for j := range jobs {
				var data []byte
				var err error
				if j.linked.Defined() {
					data, err = s.ReadContentPiece(j.linked, j.global, buf)
				} else {
					data, err = s.ReadPiece(j.piece, buf)
				}
				mu.Lock()
				res.Checked++
				if errors.Is(err, ErrCorrupt) {
					res.Corrupt = append(res.Corrupt, j.piece)
				}
				mu.Unlock()
				if err == nil {
					buf = data
				}
			}
		}()
	}
	werr := s.walkIndex(func(id merkle.PieceID, _ loc) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		jobs <- job{piece: id}
		return nil
	})
	// Then the pieces linked content holds in its files (those also in a
	// stored piece were checked above).
	if werr == nil {
		s.eachLinkedPiece(func(id content.ID, ref content.PieceRef) bool {
			if s.hasPieceLen(ref.ID, ref.Len) {
				return true
			}
			if werr = ctx.Err(); werr != nil {
				return false
			}
			jobs <- job{piece: ref.ID, linked: id, global: ref.Global}
			return true
		})
	}
	close(jobs)
	wg.Wait()
	if werr != nil {
		return res, werr
	}
	// Bring every content's bits in line with the files: the corrupt pieces
	// are gone now, and files may have been lost behind our back.
	ids, err := s.contentIDs()
	if err != nil {
		return res, err
	}
	for _, id := range ids {
		h, err := s.haveState(id)
		if err != nil {
			return res, err
		}
		m, err := s.manifest(id, nil)
		if err != nil {
			return res, err
		}
		s.mu.Lock()
		bits := h.bits.Clone()
		s.mu.Unlock()
		_, linked := s.Linked(id)
		if s.reconcile(m, bits, true, linked) {
			s.mu.Lock()
			h.bits, h.dirty = bits, true
			s.mu.Unlock()
		}
	}
	pins, err := s.Pins()
	if err != nil {
		return res, err
	}
	for _, id := range pins {
		info, err := s.Info(id)
		if err != nil {
			return res, err
		}
		if !info.Complete() {
			res.Incomplete = append(res.Incomplete, info)
		}
	}
	return res, nil
}

// eachLinkedPiece calls fn for every held piece of every linked content, until fn
// returns false.
func (s *Store) eachLinkedPiece(fn func(id content.ID, ref content.PieceRef) bool) {
	for _, id := range s.linkedIDs() {
		m, err := s.manifest(id, nil)
		if err != nil {
			continue
		}
		h, err := s.Have(id)
		if err != nil {
			continue
		}
		for g := 0; g < h.Len(); g++ {
			if !h.Has(g) {
				continue
			}
			if ref, err := m.Piece(g); err != nil || !fn(id, ref) {
				return
			}
		}
	}
}

// linkedIDs lists the linked contents.
func (s *Store) linkedIDs() []content.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]content.ID, 0, len(s.links))
	for k := range s.links {
		if id, err := content.IDFromBytes([]byte(k)); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}
