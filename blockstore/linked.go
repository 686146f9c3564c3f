package blockstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/dhtnode/dhtnode/content"
)

// Linked content keeps its bytes outside the store, in the files a download
// wrote, the way a BitTorrent client seeds from the files it downloaded and
// kubo's filestore serves files it never copied. A get that writes an output
// file writes each piece once, there, instead of once into a piece file and
// again into the output: half the disk writes and no file created per piece,
// which made a 1 GiB get about twice as expensive on the downloader.
//
// The store records where the data is (a Link) and which pieces are there
// (the content's have bits, as for stored pieces). A read of a piece that has
// no piece file reads the linked file at the piece's offset and verifies it
// like any piece; a file that was moved, truncated or edited only clears the
// bits of the pieces that no longer verify, so they are fetched again. Linked
// files are never quarantined or deleted, except a download's scratch file
// (Link.Final set) when GC removes its unpinned content.

// errFileSize: a linked file's size is not the manifest's (it changed since).
var errFileSize = errors.New("linked file changed size")

// Link says where the data of a linked content lives.
type Link struct {
	// Path is the file (a one-file content) or the directory (a tree) that
	// holds the content's bytes at the manifest's layout.
	Path string `json:"path"`
	// Final, when set, is where Path will be renamed once complete (Path is
	// then a download's scratch file). Reads fall back to Final, so a crash
	// between the rename and the Link that records it loses nothing.
	Final string `json:"final,omitempty"`
}

// Where is where the data is for a person reading it: Final if set, else Path.
func (l Link) Where() string {
	if l.Final != "" {
		return l.Final
	}
	return l.Path
}

// LinkContent records that content id's bytes are (or are being written) at
// l; id's manifest must be stored (ErrNotFound otherwise). Paths are made
// absolute. It replaces an earlier link of id: pieces whose bits are set
// must be present at the new place (a download copies them there first).
func (s *Store) LinkContent(id content.ID, l Link) error {
	if _, err := s.manifest(id, nil); err != nil {
		return err
	}
	var err error
	if l.Path, err = filepath.Abs(l.Path); err != nil {
		return fmt.Errorf("blockstore: link %s: %w", id, err)
	}
	if l.Final != "" {
		if l.Final, err = filepath.Abs(l.Final); err != nil {
			return fmt.Errorf("blockstore: link %s: %w", id, err)
		}
	}
	v, _ := json.Marshal(l)
	s.gcLock.RLock()
	defer s.gcLock.RUnlock()
	err = s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketManifests).Get(id.Bytes()) == nil {
			return fmt.Errorf("%w: content %s", ErrNotFound, id)
		}
		return tx.Bucket(bucketLinks).Put(id.Bytes(), v)
	})
	if err != nil {
		return fmt.Errorf("blockstore: link %s: %w", id, err)
	}
	s.mu.Lock()
	s.links[key(id)] = l
	s.mu.Unlock()
	return nil
}

// Unlink forgets where content id's bytes were and clears the bits of its
// pieces that have no piece file: the store no longer has them.
func (s *Store) Unlink(id content.ID) error {
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLinks).Delete(id.Bytes())
	}); err != nil {
		return fmt.Errorf("blockstore: unlink %s: %w", id, err)
	}
	s.mu.Lock()
	_, was := s.links[key(id)]
	delete(s.links, key(id))
	s.mu.Unlock()
	if !was {
		return nil
	}
	m, err := s.manifest(id, nil)
	if err != nil {
		return nil // no manifest, no bits
	}
	h, err := s.haveState(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	bits := h.bits.Clone()
	s.mu.Unlock()
	if s.reconcile(m, bits, true, false) {
		s.mu.Lock()
		h.bits, h.dirty = bits, true
		s.mu.Unlock()
	}
	return nil
}

// Linked returns content id's link, if it has one.
func (s *Store) Linked(id content.ID) (Link, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[key(id)]
	return l, ok
}

// MarkLinkedPiece records that piece global of linked content id is now in
// its linked file: the caller verified it and wrote it there. The bit is
// committed by the next flush, after the file's data is made durable.
func (s *Store) MarkLinkedPiece(id content.ID, global int) error {
	if _, ok := s.Linked(id); !ok {
		return fmt.Errorf("%w: content %s is not linked", ErrNotFound, id)
	}
	m, err := s.manifest(id, nil)
	if err != nil {
		return err
	}
	if _, err := m.Piece(global); err != nil {
		return err
	}
	return s.markHave(id, global, true)
}

// readLinked reads piece ref of linked content m from its link, verified. It
// returns ErrNotFound when no linked file is there and ErrCorrupt when one is
// but the bytes do not match (the file changed); the caller clears the bit.
func (s *Store) readLinked(m *content.Manifest, l Link, ref content.PieceRef, buf []byte, keep bool) ([]byte, error) {
	f := m.Files[ref.File]
	var lastErr error
	for _, base := range []string{l.Path, l.Final} {
		if base == "" {
			continue
		}
		path := base
		if m.Kind == content.KindDir {
			path = filepath.Join(base, filepath.FromSlash(f.Path))
		}
		data, err := s.readFileRange(path, ref.Offset, ref.Len, f.Size, buf, keep)
		if err == nil {
			err = ref.ID.Verify(data)
		}
		if err == nil {
			s.metrics.read.Inc()
			return data, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			lastErr = fmt.Errorf("%w: linked file %s, piece %d: %v", ErrCorrupt, path, ref.Index, err)
		}
	}
	if lastErr != nil {
		s.metrics.corrupt.Inc()
		s.log.Warn("linked file no longer holds its piece", "err", lastErr)
		return nil, lastErr
	}
	return nil, fmt.Errorf("%w: linked file %s", ErrNotFound, l.Where())
}

// loadLinks reads every link into memory (Open).
func (s *Store) loadLinks() error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLinks).ForEach(func(k, v []byte) error {
			var l Link
			if json.Unmarshal(v, &l) == nil && l.Path != "" {
				s.links[string(k)] = l
			}
			return nil
		})
	})
}

// syncLinked makes the linked files of the contents in ids durable (one
// syncfs per file system directory), before bits that claim their pieces are
// committed.
func (s *Store) syncLinked(ids []string) error {
	if s.cfg.NoSync {
		return nil
	}
	dirs := map[string]bool{}
	s.mu.Lock()
	for _, k := range ids {
		if l, ok := s.links[k]; ok {
			dirs[filepath.Dir(l.Path)] = true
		}
	}
	s.mu.Unlock()
	for d := range dirs {
		if err := syncFS(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("blockstore: syncing linked files in %s: %w", d, err)
		}
	}
	return nil
}

// AddLinked adds the file or directory at path without copying it (add
// --link, kubo's --nocopy): it is hashed, its manifest stored and pinned
// (unless opts.NoPin) and linked to path, and the store serves its pieces from
// there, as it serves a finished get's output. Every read is verified, so a
// file that is edited, truncated or moved afterwards is never served wrong:
// its pieces are reported corrupt or missing (Verify says which) and marked
// missing. The file stays the user's: the store never writes, moves or
// deletes it, and GC of unpinned linked content forgets the link only.
func (s *Store) AddLinked(ctx context.Context, path string, opts AddOptions) (*content.AddResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("blockstore: link %s: %w", path, err)
	}
	res, err := content.Add(ctx, abs, opts.content(nil))
	if err != nil {
		return nil, err
	}
	id := res.ID
	l := Link{Path: abs}
	v, _ := json.Marshal(l)
	bits := NewBitfield(res.Manifest.NumPieces())
	bits.SetAll()
	s.gcLock.RLock()
	defer s.gcLock.RUnlock()
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketManifests).Put(id.Bytes(), res.Encoded); err != nil {
			return err
		}
		if err := tx.Bucket(bucketHave).Put(id.Bytes(), bits.Bytes()); err != nil {
			return err
		}
		if err := tx.Bucket(bucketLinks).Put(id.Bytes(), v); err != nil {
			return err
		}
		if !opts.NoPin {
			var p [8]byte
			putUnixNow(p[:])
			return tx.Bucket(bucketPins).Put(id.Bytes(), p[:])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blockstore: recording linked content %s: %w", id, err)
	}
	s.mu.Lock()
	if s.manifests[key(id)] == nil {
		s.manifests[key(id)] = res.Manifest
	}
	s.have[key(id)] = &haveState{bits: bits}
	s.links[key(id)] = l
	s.mu.Unlock()
	return res, nil
}
