package blockstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// haveState is the download state of one content, cached in memory and
// written to bbolt by the flusher.
type haveState struct {
	bits  *Bitfield
	dirty bool
}

func key(id content.ID) string { return string(id.Bytes()) }

// PutManifest verifies raw against id (content.Decode) and stores it. Storing
// a manifest again is a no-op. It returns the decoded manifest, or an error
// wrapping content.ErrHashMismatch, content.ErrMalformed, ... for bad bytes.
// An unpinned manifest is removed by the next GC: a download should use
// PinManifest.
func (s *Store) PutManifest(id content.ID, raw []byte) (*content.Manifest, error) {
	return s.putManifest(id, raw, false)
}

// PinManifest is PutManifest and Pin in one transaction, so a GC cannot drop
// the manifest in between: how a download starts.
func (s *Store) PinManifest(id content.ID, raw []byte) (*content.Manifest, error) {
	return s.putManifest(id, raw, true)
}

func (s *Store) putManifest(id content.ID, raw []byte, pin bool) (*content.Manifest, error) {
	m, err := content.Decode(id, raw)
	if err != nil {
		return nil, err
	}
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	s.gcLock.RLock()
	defer s.gcLock.RUnlock()
	err = s.db.Update(func(tx *bolt.Tx) error {
		if pin {
			var v [8]byte
			putUnixNow(v[:])
			if err := tx.Bucket(bucketPins).Put(id.Bytes(), v[:]); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketManifests)
		if b.Get(id.Bytes()) != nil {
			return nil
		}
		return b.Put(id.Bytes(), raw)
	})
	if err != nil {
		return nil, fmt.Errorf("blockstore: storing manifest %s: %w", id, err)
	}
	s.mu.Lock()
	if old := s.manifests[key(id)]; old != nil {
		m = old
	} else {
		s.manifests[key(id)] = m
	}
	s.mu.Unlock()
	return m, nil
}

// Manifest returns a stored manifest, decoded, and its bytes. It returns
// ErrNotFound if the store does not have it.
func (s *Store) Manifest(id content.ID) (*content.Manifest, []byte, error) {
	if err := s.checkOpen(); err != nil {
		return nil, nil, err
	}
	var raw []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketManifests).Get(id.Bytes()); v != nil {
			raw = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("blockstore: reading manifest %s: %w", id, err)
	}
	if raw == nil {
		return nil, nil, fmt.Errorf("%w: content %s", ErrNotFound, id)
	}
	m, err := s.manifest(id, raw)
	return m, raw, err
}

// manifest returns the cached decoded manifest, decoding raw if needed.
func (s *Store) manifest(id content.ID, raw []byte) (*content.Manifest, error) {
	s.mu.Lock()
	m := s.manifests[key(id)]
	s.mu.Unlock()
	if m != nil {
		return m, nil
	}
	if raw == nil {
		var err error
		if m, raw, err = s.Manifest(id); err != nil || m != nil {
			return m, err
		}
	}
	m, err := content.Decode(id, raw)
	if err != nil {
		// The database is ours; a manifest that no longer matches its ID is damage.
		return nil, fmt.Errorf("%w: manifest %s in the database: %v", ErrCorrupt, id, err)
	}
	s.mu.Lock()
	s.manifests[key(id)] = m
	s.mu.Unlock()
	return m, nil
}

// Pin marks content as wanted: GC keeps its manifest and pieces. The manifest
// must be stored (ErrNotFound otherwise); pinning before all pieces are here
// is how a download protects its partial state.
func (s *Store) Pin(id content.ID) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketManifests).Get(id.Bytes()) == nil {
			return fmt.Errorf("%w: content %s (pin needs its manifest)", ErrNotFound, id)
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], uint64(time.Now().Unix()))
		return tx.Bucket(bucketPins).Put(id.Bytes(), v[:])
	})
}

// Unpin removes a pin (ErrNotFound if there was none). The content stays
// until the next GC.
func (s *Store) Unpin(id content.ID) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPins)
		if b.Get(id.Bytes()) == nil {
			return fmt.Errorf("%w: no pin for %s", ErrNotFound, id)
		}
		return b.Delete(id.Bytes())
	})
}

// Pinned reports whether id is pinned.
func (s *Store) Pinned(id content.ID) (bool, error) {
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketPins).Get(id.Bytes()) != nil
		return nil
	})
	return ok, err
}

// Pins lists pinned content IDs, sorted by their string form.
func (s *Store) Pins() ([]content.ID, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var ids []content.ID
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPins).ForEach(func(k, _ []byte) error {
			id, err := content.IDFromBytes(k)
			if err == nil {
				ids = append(ids, id)
			}
			return nil
		})
	})
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	return ids, err
}

// ContentInfo summarises one stored content for listings.
type ContentInfo struct {
	ID        content.ID
	Kind      content.Kind
	Name      string
	Size      int64
	Files     int
	Pieces    int // total pieces
	Have      int // pieces present and verified
	Pinned    bool
	PinnedAt  time.Time // zero if not pinned
	PieceSize int64
	// Linked is where a linked content's bytes are (see LinkContent); "" when
	// they are in piece files.
	Linked string
}

// Complete reports whether every piece is present.
func (c ContentInfo) Complete() bool { return c.Have == c.Pieces }

// Info describes one stored content; ErrNotFound if its manifest is absent.
func (s *Store) Info(id content.ID) (ContentInfo, error) {
	m, _, err := s.Manifest(id)
	if err != nil {
		return ContentInfo{}, err
	}
	h, err := s.Have(id)
	if err != nil {
		return ContentInfo{}, err
	}
	info := ContentInfo{ID: id, Kind: m.Kind, Name: m.Name, Size: m.Size, Files: len(m.Files),
		Pieces: m.NumPieces(), Have: h.Count(), PieceSize: m.PieceSize}
	if l, ok := s.Linked(id); ok {
		info.Linked = l.Where()
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketPins).Get(id.Bytes()); len(v) == 8 {
			info.Pinned = true
			info.PinnedAt = time.Unix(int64(binary.BigEndian.Uint64(v)), 0)
		}
		return nil
	})
	return info, err
}

// List describes every content whose manifest is stored (complete, partial,
// pinned or not), sorted by name then ID. It reads manifests and pins in one
// transaction: a repo of 100,000 contents is listed without 200,000 of them.
func (s *Store) List() ([]ContentInfo, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	type row struct {
		id     content.ID
		raw    []byte
		pinned time.Time
		isPin  bool
	}
	var rows []row
	err := s.db.View(func(tx *bolt.Tx) error {
		pins := tx.Bucket(bucketPins)
		return tx.Bucket(bucketManifests).ForEach(func(k, v []byte) error {
			id, err := content.IDFromBytes(k)
			if err != nil {
				return nil
			}
			r := row{id: id}
			s.mu.Lock()
			cached := s.manifests[key(id)] != nil
			s.mu.Unlock()
			if !cached {
				r.raw = append([]byte(nil), v...)
			}
			if p := pins.Get(k); len(p) == 8 {
				r.isPin, r.pinned = true, time.Unix(int64(binary.BigEndian.Uint64(p)), 0)
			}
			rows = append(rows, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("blockstore: listing contents: %w", err)
	}
	out := make([]ContentInfo, 0, len(rows))
	for _, r := range rows {
		m, err := s.manifest(r.id, r.raw)
		if err != nil {
			return nil, err
		}
		h, err := s.haveState(r.id)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		have := h.bits.Count()
		s.mu.Unlock()
		info := ContentInfo{ID: r.id, Kind: m.Kind, Name: m.Name, Size: m.Size, Files: len(m.Files),
			Pieces: m.NumPieces(), Have: have, PieceSize: m.PieceSize, Pinned: r.isPin, PinnedAt: r.pinned}
		if l, ok := s.Linked(r.id); ok {
			info.Linked = l.Where()
		}
		out = append(out, info)
	}
	// IDs are compared by their string form, computed once each.
	strs := make(map[content.ID]string, len(out))
	for _, c := range out {
		strs[c.ID] = c.ID.String()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return strs[out[i].ID] < strs[out[j].ID]
	})
	return out, nil
}

// Have returns a copy of the bitfield of verified pieces of id (its length
// is Manifest.NumPieces). ErrNotFound if the manifest is absent. The first
// call after Open looks for the files of pieces the saved bits miss, so
// pieces stored just before a crash (after the last flush) are not fetched
// again. A set bit is advisory: reads are verified, and a piece found missing
// or corrupt clears its bit.
func (s *Store) Have(id content.ID) (*Bitfield, error) {
	h, err := s.haveState(id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return h.bits.Clone(), nil
}

func (s *Store) haveState(id content.ID) (*haveState, error) {
	s.mu.Lock()
	h := s.have[key(id)]
	s.mu.Unlock()
	if h != nil {
		return h, nil
	}
	m, err := s.manifest(id, nil)
	if err != nil {
		return nil, err
	}
	var saved []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketHave).Get(id.Bytes()); v != nil {
			saved = append([]byte(nil), v...)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("blockstore: reading download state of %s: %w", id, err)
	}
	bits, err := BitfieldFromBytes(m.NumPieces(), saved)
	if err != nil {
		bits = NewBitfield(m.NumPieces())
	}
	// Complete content (every add) costs no stat at all.
	dirty := s.reconcile(m, bits, false, false)
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.have[key(id)]; cur != nil {
		return cur, nil
	}
	h = &haveState{bits: bits, dirty: dirty}
	s.have[key(id)] = h
	return h, nil
}

// reconcile updates bits from the piece files: the missing bits only, or
// (full) every bit. A linked content's set bits stand for its linked file, not
// for piece files: with linked, reconcile never clears a bit. It reports
// whether anything changed.
func (s *Store) reconcile(m *content.Manifest, bits *Bitfield, full, linked bool) bool {
	changed := false
	for g := 0; g < bits.Len(); g++ {
		if (!full || linked) && bits.Has(g) {
			continue
		}
		ref, _ := m.Piece(g)
		// A file of the wrong length is a piece a crash tore before it was
		// synced: not present (reads would reject it anyway).
		if present := s.hasPieceLen(ref.ID, ref.Len); present != bits.Has(g) {
			changed = true
			if present {
				bits.Set(g)
			} else {
				bits.Clear(g)
			}
		}
	}
	return changed
}

// flush commits, in one transaction after the segments are synced, the index
// entries of downloaded pieces and dirty download state (have bits).
func (s *Store) flush() error {
	s.mu.Lock()
	pending := map[string][]byte{}
	for k, h := range s.have {
		if h.dirty {
			pending[k] = h.bits.Bytes()
			h.dirty = false
		}
	}
	s.mu.Unlock()
	s.pmu.Lock()
	var kept []*pendingPiece
	for _, p := range s.pending {
		if !p.keep {
			continue
		}
		select {
		case <-p.done:
			if p.err == nil {
				kept = append(kept, p)
			}
		default:
		}
	}
	s.pmu.Unlock()
	if len(pending) == 0 && len(kept) == 0 {
		return nil
	}
	// Every piece whose bit is in pending was written before the snapshot
	// above: make them durable before the entries and bits that claim them.
	err := s.syncPieces()
	if err == nil {
		ids := make([]string, 0, len(pending))
		for k := range pending {
			ids = append(ids, k)
		}
		err = s.syncLinked(ids)
	}
	var dups []loc
	if err == nil {
		err = s.db.Update(func(tx *bolt.Tx) error {
			var err error
			if dups, err = indexPieces(tx, kept); err != nil {
				return err
			}
			b := tx.Bucket(bucketHave)
			for k, v := range pending {
				if tx.Bucket(bucketManifests).Get([]byte(k)) == nil {
					continue // removed by GC meanwhile
				}
				if err := b.Put([]byte(k), v); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		s.mu.Lock()
		for k := range pending {
			if h := s.have[k]; h != nil {
				h.dirty = true
			}
		}
		s.mu.Unlock()
		return fmt.Errorf("blockstore: writing download state: %w", err)
	}
	s.pmu.Lock()
	for _, p := range kept {
		if s.pending[p.id] == p {
			delete(s.pending, p.id)
		}
	}
	s.pmu.Unlock()
	for _, l := range dups {
		s.segs.punch(l)
	}
	return nil
}

// PutContentPiece verifies data as piece global of content id (against the
// manifest, which must be stored) and stores it, marking it present. Bad data
// returns an error wrapping merkle.ErrMismatch or merkle.ErrLength: blame the
// peer that sent it. ErrNotFound if the manifest is absent.
func (s *Store) PutContentPiece(id content.ID, global int, data []byte) error {
	m, err := s.manifest(id, nil)
	if err != nil {
		return err
	}
	ref, err := m.Piece(global)
	if err != nil {
		return err
	}
	if len(data) != ref.Len {
		return fmt.Errorf("%w: piece %d of %s has %d bytes, want %d", merkle.ErrLength, global, id, len(data), ref.Len)
	}
	if err := ref.ID.Verify(data); err != nil {
		return fmt.Errorf("piece %d of %s: %w", global, id, err)
	}
	return s.putContentPiece(id, global, ref, data)
}

// PutVerifiedContentPiece is PutContentPiece for a caller that has already
// verified data against piece global's PieceID (the exchange does, to blame
// the right peer): it skips the second hash. Passing unverified data here
// would store garbage, though reads would still refuse to serve it.
func (s *Store) PutVerifiedContentPiece(id content.ID, global int, data []byte) error {
	m, err := s.manifest(id, nil)
	if err != nil {
		return err
	}
	ref, err := m.Piece(global)
	if err != nil {
		return err
	}
	if len(data) != ref.Len {
		return fmt.Errorf("%w: piece %d of %s has %d bytes, want %d", merkle.ErrLength, global, id, len(data), ref.Len)
	}
	return s.putContentPiece(id, global, ref, data)
}

func (s *Store) putContentPiece(id content.ID, global int, ref content.PieceRef, data []byte) error {
	s.gcLock.RLock()
	defer s.gcLock.RUnlock()
	if _, _, err := s.putVerified(ref.ID, data, true); err != nil {
		return err
	}
	return s.markHave(id, global, true)
}

func (s *Store) markHave(id content.ID, global int, present bool) error {
	h, err := s.haveState(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.bits.Has(global) != present {
		if present {
			h.bits.Set(global)
		} else {
			h.bits.Clear(global)
		}
		h.dirty = true
	}
	return nil
}

// ContentPiece reads piece global of content id, verified. It returns
// ErrNotFound (no manifest, or the piece is missing) or ErrCorrupt (the file
// was damaged; it is quarantined and the piece marked missing, so a get
// fetches it again).
func (s *Store) ContentPiece(id content.ID, global int) ([]byte, error) {
	return s.ReadContentPiece(id, global, nil)
}

// ReadContentPiece is ContentPiece reading into buf when it is large enough.
func (s *Store) ReadContentPiece(id content.ID, global int, buf []byte) ([]byte, error) {
	return s.readContentPiece(id, global, buf, false)
}

// readContentPiece is ReadContentPiece; keep as for readPiece.
func (s *Store) readContentPiece(id content.ID, global int, buf []byte, keep bool) ([]byte, error) {
	m, err := s.manifest(id, nil)
	if err != nil {
		return nil, err
	}
	ref, err := m.Piece(global)
	if err != nil {
		return nil, err
	}
	data, err := s.readPiece(ref.ID, buf, keep)
	quarantined := ""
	if errors.Is(err, ErrCorrupt) {
		quarantined = s.quarantineDst(ref.ID)
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
		if l, ok := s.Linked(id); ok {
			var lerr error
			if data, lerr = s.readLinked(m, l, ref, buf, keep); lerr == nil || !errors.Is(err, ErrCorrupt) {
				err = lerr
			}
		}
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
		s.markHave(id, global, false)
	}
	if err != nil {
		return nil, &PieceError{Content: id, Index: global, Piece: ref.ID, Quarantined: quarantined, Err: err}
	}
	return data, nil
}

// PieceError is a failed read of one piece of a content: which piece, and, when
// its stored bytes failed verification, where they were moved. Err wraps
// ErrNotFound, ErrCorrupt or the I/O error.
type PieceError struct {
	Content content.ID
	Index   int // content-wide piece index
	Piece   merkle.PieceID
	// Quarantined is where the corrupt bytes of the piece were moved; "" when
	// none were (a missing piece, or a linked file that changed: the user's
	// file is never moved).
	Quarantined string
	Err         error
}

func (e *PieceError) Error() string {
	return fmt.Sprintf("piece %d of %s: %v", e.Index, e.Content, e.Err)
}

// Unwrap returns the cause.
func (e *PieceError) Unwrap() error { return e.Err }

// PieceProof reads piece global of content id, verified, with the uncle
// hashes that prove it against its file's root (merkle.VerifyPiece), for a
// peer that checks pieces without the whole piece layer.
func (s *Store) PieceProof(id content.ID, global int) (data []byte, ref content.PieceRef, proof []merkle.Hash, err error) {
	m, err := s.manifest(id, nil)
	if err != nil {
		return nil, ref, nil, err
	}
	if ref, err = m.Piece(global); err != nil {
		return nil, ref, nil, err
	}
	tree, err := m.Tree(ref.File)
	if err != nil {
		return nil, ref, nil, err
	}
	if proof, err = tree.Proof(ref.Index, 1); err != nil {
		return nil, ref, nil, err
	}
	data, err = s.ContentPiece(id, global)
	return data, ref, proof, err
}

func putUnixNow(v []byte) { binary.BigEndian.PutUint64(v, uint64(time.Now().Unix())) }

// contentIDs lists the IDs of every stored manifest.
func (s *Store) contentIDs() ([]content.ID, error) {
	var ids []content.ID
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketManifests).ForEach(func(k, _ []byte) error {
			if id, err := content.IDFromBytes(k); err == nil {
				ids = append(ids, id)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("blockstore: listing contents: %w", err)
	}
	return ids, nil
}
