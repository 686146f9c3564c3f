//go:build !linux

package blockstore

import (
	"fmt"
	"io"
	"os"
)

// Off Linux piece files are written and read through the page cache.

func (s *Store) putDirect(shard, final string, data []byte) (bool, error) { return false, nil }

// readPieceFile reads the piece file at path into buf (reused when large
// enough). It returns the bytes read (not yet verified) and the file's size;
// a size of 0 or above maxLen is returned with no data, for the caller to
// quarantine.
func (s *Store) readPieceFile(path string, buf []byte, maxLen int, _ bool) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if st.Size() <= 0 || st.Size() > int64(maxLen) {
		return nil, st.Size(), nil
	}
	n := int(st.Size())
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, st.Size(), err
	}
	return buf, st.Size(), nil
}

// readFileRange reads n bytes at off of the file at path (a linked content's
// file). It returns errFileSize, reading nothing, when the file's size is not
// size: the file changed since it was linked.
func (s *Store) readFileRange(path string, off int64, n int, size int64, buf []byte, _ bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() != size {
		return nil, fmt.Errorf("%w: %s has %d bytes, want %d", errFileSize, path, st.Size(), size)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil, err
	}
	return buf, nil
}
