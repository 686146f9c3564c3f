//go:build !linux

package blockstore

import "os"

// syncFS without syncfs(2): fsync the pieces directory. The piece files were
// fsynced one by one; the shard renames are then only as durable as the
// platform makes a directory fsync (best effort off Linux).
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// batchedSync: without syncfs(2), one call cannot make a batch of pieces
// durable, so every piece file is fsynced before its rename.
const batchedSync = false

// pieceWritten makes a just-written piece file durable.
func pieceWritten(f *os.File) error { return f.Sync() }
