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
