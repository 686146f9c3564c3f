package blockstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The layout before segments kept each piece in its own file,
// pieces/<shard>/<name> (name = base32 of the PieceID), with temp files
// .tmp-* beside them. migrate moves such a store into segments on the first
// Open: every piece file is read, verified against its name and appended to a
// segment; the index entries are committed (after the segments are synced) in
// batches, and only then are the files removed. A crash part way leaves piece
// files whose pieces may already be indexed: the next Open finds them indexed,
// skips the write and removes the file. A piece file that fails verification
// goes to quarantine/ as a corrupt piece always did; have bits are left as they
// are (a piece that was lost is found missing by its first read or by Verify).
func (s *Store) migrate() error {
	dir := filepath.Join(s.cfg.Dir, "pieces")
	shards, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	os.RemoveAll(filepath.Join(s.cfg.Dir, "tmp")) // temp files of an even older layout
	var done []string
	moved, corrupt := 0, 0
	commit := func() error {
		if err := s.flush(); err != nil {
			return err
		}
		for _, p := range done {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		done = done[:0]
		return nil
	}
	for _, sh := range shards {
		if !sh.IsDir() {
			continue
		}
		sdir := filepath.Join(dir, sh.Name())
		entries, err := os.ReadDir(sdir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := filepath.Join(sdir, e.Name())
			id, ok := parseName(e.Name())
			if !ok || !e.Type().IsRegular() {
				done = append(done, p) // a temp file of a crashed write
				continue
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := id.Verify(data); err != nil {
				corrupt++
				if err := os.Rename(p, s.quarantineDst(id)); err != nil {
					return err
				}
				s.log.Warn("corrupt piece file quarantined while moving pieces into segments", "piece", id.String(), "reason", err)
				continue
			}
			if _, _, err := s.putVerified(id, data, true); err != nil {
				return err
			}
			done = append(done, p)
			moved++
			if len(done) >= 4096 {
				if err := commit(); err != nil {
					return err
				}
			}
		}
	}
	if err := commit(); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	s.log.Info("moved piece files into segments", "pieces", moved, "corrupt", corrupt)
	return nil
}
