package blockstore

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the file system holding dir: one call makes every piece
// written since the last call, and every rename, durable, instead of an fsync
// per piece file and per shard directory.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// batchedSync: on Linux a piece file is not fsynced on its own. Its writeback
// is started at once (pieceWritten), and one syncfs makes a whole batch of
// pieces durable before anything that claims them is committed: the
// manifest, pin and bits of an add (commitAdd), the have bits of a download
// (flush). An fsync per 256 KiB piece cost ~0.3-0.5 s of kernel time and
// waiting per 256 MiB; the batch costs one syncfs.
const batchedSync = true

// pieceWritten starts writeback of a just-written piece file without waiting
// for it (SYNC_FILE_RANGE_WRITE), so the disk works while the next pieces are
// hashed and the later syncfs finds little left to do. It is only a hint:
// an I/O error surfaces from that syncfs.
func pieceWritten(f *os.File) error {
	_ = unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	return nil
}
