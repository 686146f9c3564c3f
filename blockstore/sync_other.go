//go:build !linux

package blockstore

import "os"

// syncFS without syncfs(2): fsync the directory (best effort off Linux).
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func fdatasync(f *os.File) error { return f.Sync() }

// punchHole: no portable way; the space comes back when the whole segment dies.
func punchHole(*os.File, int64, int64) error { return nil }

func diskSize(info os.FileInfo) int64 { return info.Size() }

func startWriteback(*os.File, int64, int64) {}
