package blockstore

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the file system holding dir: one call makes every rename
// of an add durable, instead of an fsync per shard directory.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
