package blockstore

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// syncFS flushes the file system holding dir: one call makes every file
// written there durable (linked files written by a download).
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// fdatasync makes a segment's data (and its size) durable.
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// punchHole frees the blocks of n bytes at off, keeping the file's size.
func punchHole(f *os.File, off, n int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}

// diskSize is what a file takes on disk (its blocks: holes are free).
func diskSize(info os.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}

// startWriteback starts writing just-appended pieces to disk without waiting
// (SYNC_FILE_RANGE_WRITE), so the fdatasync before the commit finds little
// left to do. Only a hint: an I/O error surfaces from that fdatasync.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
