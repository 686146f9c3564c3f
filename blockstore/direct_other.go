//go:build !linux

package blockstore

import (
	"fmt"
	"os"
)

// Off Linux segments and linked files are written and read through the page cache.

func (s *Store) readSegOpen(sf *segFile, buf []byte, off int64, _ bool) error {
	_, err := sf.f.ReadAt(buf, off)
	return err
}

func openDirect(string, int) *os.File { return nil }

func isEINVAL(error) bool { return false }

func aligned(b []byte) bool { return false }

func alignedBuffer(n int) []byte { return make([]byte, n) }

func (s *Store) directBuf(n int) []byte { return make([]byte, n) }

func (s *Store) putDirectBuf([]byte) {}

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
