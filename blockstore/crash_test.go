package blockstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// TestHelperAdd is not a test on its own: TestSIGKILLDuringAdd runs the test
// binary with only it selected and the environment below, and kills it while
// it adds. It first adds a small file and acknowledges it (the ID in a file),
// then starts a slow add of a big one.
func TestHelperAdd(t *testing.T) {
	dir, src, small := os.Getenv("BLOCKSTORE_CRASH_DIR"), os.Getenv("BLOCKSTORE_CRASH_SRC"), os.Getenv("BLOCKSTORE_CRASH_SMALL")
	if dir == "" {
		return // run directly: nothing to do
	}
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Add(context.Background(), small, AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "ack"), []byte(res.ID.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// Slow the add down so that the parent kills it in the middle.
	_, err = s.Add(context.Background(), src, AddOptions{Workers: 2, Progress: func(content.AddProgress) {
		time.Sleep(20 * time.Millisecond)
	}})
	t.Fatalf("add finished before the kill (%v)", err)
}

// TestSIGKILLDuringAdd kills a process in the middle of an add, with real
// fdatasyncs, after it acknowledged an earlier add whose pieces share its
// segments. Reopened, the store serves the acknowledged content whole and
// verified, shows nothing of the killed add, and has reclaimed every byte the
// killed add wrote (no orphan pieces left for a gc).
func TestSIGKILLDuringAdd(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "store")
	smallData := testData(3*merkle.DefaultPieceSize+77, 20)
	small := writeFile(t, filepath.Join(t.TempDir(), "small"), smallData)
	src := writeFile(t, filepath.Join(t.TempDir(), "big"), testData(40*merkle.DefaultPieceSize, 21))
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAdd$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BLOCKSTORE_CRASH_DIR="+dir, "BLOCKSTORE_CRASH_SRC="+src, "BLOCKSTORE_CRASH_SMALL="+small)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the acknowledged add is done and the big one has written
	// pieces of its own, then kill.
	deadline := time.Now().Add(60 * time.Second)
	ackPath := filepath.Join(base, "ack")
	for {
		if _, err := os.Stat(ackPath); err == nil && segmentBytes(dir) > int64(len(smallData))+8*merkle.DefaultPieceSize {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
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
	ack, err := os.ReadFile(ackPath)
	if err != nil {
		t.Fatal(err)
	}
	ackID, err := content.ParseID(string(ack))
	if err != nil {
		t.Fatal(err)
	}

	s := openStore(t, dir)
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].ID != ackID || !list[0].Complete() {
		t.Fatalf("after the kill: list %+v %v; want only the acknowledged content, complete", list, err)
	}
	if pins, _ := s.Pins(); len(pins) != 1 {
		t.Fatalf("a killed add left pins: %v", pins)
	}
	v, err := s.Verify(context.Background())
	if err != nil || len(v.Corrupt) != 0 || v.Checked != 4 || len(v.Incomplete) != 0 {
		t.Fatalf("verify after the kill: %+v %v", v, err)
	}
	if got := catFile(t, s, ackID, 0); !bytes.Equal(got, smallData) {
		t.Fatal("acknowledged content differs after the kill")
	}
	// The killed add's pieces are gone already: its bytes are reclaimed, and a
	// gc has nothing to remove.
	st, err := s.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Pieces != 4 || st.DiskBytes > 4*merkle.DefaultPieceSize+4*segAlign {
		t.Fatalf("after reopening: %+v; want the 4 acknowledged pieces and only their blocks on disk", st)
	}
	if gc, _ := s.GC(context.Background()); gc.RemovedPieces != 0 || gc.RemovedContents != 0 {
		t.Fatalf("gc after the restart removed %+v: the restart should have reclaimed it", gc)
	}
	if _, err := s.Add(context.Background(), src, AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if gc, _ := s.GC(context.Background()); gc.RemovedPieces != 0 {
		t.Fatalf("GC removed %d pieces of the completed add", gc.RemovedPieces)
	}
}

// segmentBytes is how much the segment files of the store in dir hold.
func segmentBytes(dir string) int64 {
	entries, _ := os.ReadDir(filepath.Join(dir, "segments"))
	var n int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			n += diskSize(info)
		}
	}
	return n
}
