package blockstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// directAlign is the alignment O_DIRECT needs of a transfer's memory, file
// offset and length (the logical block size is at most 4 KiB on the file
// systems we run on; an unsupported size fails with EINVAL and we fall back).
const directAlign = 4096

// Pieces are written to segments with O_DIRECT when the piece's length is a
// multiple of directAlign (every piece but a file's last); reads take what
// the page cache holds and read the rest with O_DIRECT (see readSeg).
// On the VMs we measured, buffered writes of new data cost more kernel CPU than the disk
// takes to store it: the kernel allocates and fills fresh page-cache pages
// (a 1 GiB dd into a new file: 510 MB/s; the same with O_DIRECT: 1.9 GB/s),
// then writes them back. Direct I/O moves the bytes by DMA from our buffer,
// with no copy and no dirty pages to flush; durability still comes from the
// syncfs before a commit (it then only commits the journal and flushes the
// device cache). A file system that refuses O_DIRECT (EINVAL) switches the
// store to buffered I/O for good.

// aligned reports whether b starts at a directAlign boundary.
func aligned(b []byte) bool {
	return len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%directAlign == 0
}

// alignedBuffer returns an n-byte slice starting at a directAlign boundary.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+directAlign)
	off := int(directAlign-uintptr(unsafe.Pointer(&b[0]))%directAlign) % directAlign
	return b[off : off+n : off+n]
}

// canDirect reports whether data may be transferred with O_DIRECT.
func (s *Store) canDirect(n int) bool {
	return n > 0 && n%directAlign == 0 && !s.noDirect.Load()
}

// Segments are read like linked files: what the page cache holds is copied
// from it (~8 GB/s here), anything else is read with O_DIRECT, without filling
// the page cache. On the VMs we measured, filling page-cache pages costs
// 0.1-1.7 CPU-s per GiB, the most when the pages are memory the host had taken
// back (a cold buffered read of 512 MiB: 0.81 s of system time; the same read
// with O_DIRECT: 0.07 s), which made reading what add and get had just written
// (with O_DIRECT, so uncached) the largest cost of a seeder. cachestat(2) tells
// which case it is without side effects. keep reads through the page cache
// anyway, for a reader that expects to read the piece again (cat): it pays the
// fill once, and 256 KiB direct reads top out near 1 GB/s here while reads
// from memory do not.

// readSegOpen fills buf from segment sf at off (its files open: see readSeg).
func (s *Store) readSegOpen(sf *segFile, buf []byte, off int64, keep bool) error {
	if df := sf.df; df != nil && !keep && s.canDirect(len(buf)) && off%directAlign == 0 && aligned(buf) && !s.cached(int(sf.f.Fd()), off, len(buf)) {
		_, err := df.ReadAt(buf, off)
		if !isEINVAL(err) {
			return err
		}
		s.noDirect.Store(true)
	}
	_, err := sf.f.ReadAt(buf, off)
	return err
}

// openDirect opens path with O_DIRECT (nil when the file system refuses it).
func openDirect(path string, flag int) *os.File {
	f, err := os.OpenFile(path, flag|unix.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return f
}

// isEINVAL: the file system refuses O_DIRECT (or this transfer's alignment).
func isEINVAL(err error) bool { return errors.Is(err, unix.EINVAL) }

// readFileRange reads n bytes at off of the file at path (a linked content's
// file) the way readPieceFile reads a piece file. It returns errFileSize,
// reading nothing, when the file's size is not size: the file changed since
// it was linked.
func (s *Store) readFileRange(path string, off int64, n int, size int64, buf []byte, keep bool) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != size {
		return nil, fmt.Errorf("%w: %s has %d bytes, want %d", errFileSize, path, st.Size, size)
	}
	if cap(buf) < n {
		buf = alignedBuffer(n)
	}
	buf = buf[:n]
	if err := s.readAt(fd, buf, off, keep); err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return buf, nil
}

// readAt fills buf from fd at off: with O_DIRECT when the range is not all in
// the page cache and allows it (unless keep), else through the page cache.
func (s *Store) readAt(fd int, buf []byte, off int64, keep bool) error {
	done := 0
	if !keep && s.canDirect(len(buf)) && off%directAlign == 0 && aligned(buf) && !s.cached(fd, off, len(buf)) {
		var err error
		if done, err = s.readDirect(fd, buf, off); err != nil {
			return err
		}
	}
	for done < len(buf) {
		m, err := unix.Pread(fd, buf[done:], off+int64(done))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if m == 0 {
			return io.ErrUnexpectedEOF
		}
		done += m
	}
	return nil
}

// cached reports whether every page of fd's n bytes at off is in the page
// cache. Without cachestat (Linux before 6.5) it says yes from then on, and
// pieces are read through the page cache as before.
func (s *Store) cached(fd int, off int64, n int) bool {
	if s.noCachestat.Load() {
		return true
	}
	r := unix.CachestatRange{Off: uint64(off), Len: uint64(n)}
	var cs unix.Cachestat_t
	if err := unix.Cachestat(uint(fd), &r, &cs, 0); err != nil {
		s.noCachestat.Store(true)
		return true
	}
	return cs.Cache >= uint64((n+pageSize-1)/pageSize)
}

var pageSize = os.Getpagesize()

// readDirect reads buf at base with O_DIRECT (set on fd with fcntl). It returns how
// much of buf it filled: len(buf), or 0 when the file system refuses
// O_DIRECT (the store then reads and writes through the page cache).
func (s *Store) readDirect(fd int, buf []byte, base int64) (int, error) {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl|unix.O_DIRECT)
	}
	if err != nil {
		s.noDirect.Store(true)
		return 0, nil
	}
	for off := 0; off < len(buf); {
		m, err := unix.Pread(fd, buf[off:], base+int64(off))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EINVAL) && off == 0:
			// The flag was accepted but the file system cannot do it (or
			// wants a larger alignment): nothing was read.
			s.noDirect.Store(true)
			_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl)
			return 0, nil
		case err != nil:
			return off, err
		case m == 0:
			return off, io.ErrUnexpectedEOF
		}
		off += m
	}
	return len(buf), nil
}

// directBuf returns an aligned scratch buffer of n bytes for a writer whose
// data is not aligned; putDirectBuf recycles it.
func (s *Store) directBuf(n int) []byte {
	s.dbufMu.Lock()
	defer s.dbufMu.Unlock()
	for i, b := range s.dbufs {
		if len(b) == n {
			s.dbufs = append(s.dbufs[:i], s.dbufs[i+1:]...)
			return b
		}
	}
	return alignedBuffer(n)
}

func (s *Store) putDirectBuf(b []byte) {
	s.dbufMu.Lock()
	defer s.dbufMu.Unlock()
	if len(s.dbufs) < maxDirectBufs {
		s.dbufs = append(s.dbufs, b)
	}
}

// maxDirectBufs bounds the scratch buffers kept (one per concurrent reader
// or writer, typically; 16 x 256 KiB = 4 MiB).
const maxDirectBufs = 16
