// Package testfs gives tests a real file system small enough to fill: the only honest way
// to see what code does when a write fails with ENOSPC.
package testfs

import (
	"os"
	"os/exec"
	"testing"
)

// Tmpfs mounts a tmpfs of the given size (mount(8) syntax: "1m", "2m") on a fresh
// temporary directory, unmounts it when the test ends and returns its path. The test is
// skipped when it cannot mount one: that needs root (CI runs as root).
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}
