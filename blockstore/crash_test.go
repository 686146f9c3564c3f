package blockstore

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// TestHelperAdd is not a test on its own: TestSIGKILLDuringAdd runs the test
// binary with only it selected and the environment below, and kills it while
// it adds.
func TestHelperAdd(t *testing.T) {
	dir, src := os.Getenv("BLOCKSTORE_CRASH_DIR"), os.Getenv("BLOCKSTORE_CRASH_SRC")
	if dir == "" {
		return // run directly: nothing to do
	}
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// Slow the add down so that the parent kills it in the middle.
	_, err = s.Add(context.Background(), src, AddOptions{Workers: 2, Progress: func(content.AddProgress) {
		time.Sleep(20 * time.Millisecond)
	}})
	t.Fatalf("add finished before the kill (%v)", err)
}

// TestSIGKILLDuringAdd kills a process in the middle of an add, with real
// fsyncs and renames, then opens the store: no manifest or pin is visible,
// every piece file that is visible is whole, and the temp files go.
func TestSIGKILLDuringAdd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	src := writeFile(t, filepath.Join(t.TempDir(), "big"), testData(40*merkle.DefaultPieceSize, 21))
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAdd$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BLOCKSTORE_CRASH_DIR="+dir, "BLOCKSTORE_CRASH_SRC="+src)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until some pieces are stored, then kill.
	deadline := time.Now().Add(60 * time.Second)
	for countPieceFiles(dir) < 5 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("helper stored no pieces within 60s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper did not die of SIGKILL: %v", err)
	}

	s := openStore(t, dir)
	<-s.cleaned
	list, err := s.List()
	if err != nil || len(list) != 0 {
		t.Fatalf("a killed add left content behind: %+v %v", list, err)
	}
	if pins, _ := s.Pins(); len(pins) != 0 {
		t.Fatalf("a killed add left pins: %v", pins)
	}
	v, err := s.Verify(context.Background())
	if err != nil || len(v.Corrupt) != 0 || v.Checked < 5 {
		t.Fatalf("after the kill: %+v %v", v, err)
	}
	if n := countTempFiles(dir); n != 0 {
		t.Fatalf("%d temp files survived reopening", n)
	}
	// The orphaned pieces are garbage; the next add of the same file reuses them.
	if _, err := s.Add(context.Background(), src, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if gc, _ := s.GC(context.Background()); gc.RemovedPieces != 0 {
		t.Fatalf("GC removed %d pieces of the completed add", gc.RemovedPieces)
	}
}

func countPieceFiles(dir string) int {
	n := 0
	filepath.WalkDir(filepath.Join(dir, "pieces"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), tempPrefix) {
			n++
		}
		return nil
	})
	return n
}

func countTempFiles(dir string) int {
	n := 0
	filepath.WalkDir(filepath.Join(dir, "pieces"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			n++
		}
		return nil
	})
	return n
}
