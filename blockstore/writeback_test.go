package blockstore

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

// TestWritebackCoversEveryAppend: every byte an add appends is handed to the
// disk by the writeback goroutine (ranges are merged, never dropped), without
// the writers waiting for it, and Close stops the goroutine.
func TestWritebackCoversEveryAppend(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	data := testData(40<<20+12345, 5) // several pieces in each active segment, a short last one
	if _, err := s.AddReader(context.Background(), "f", bytes.NewReader(data), AddOptions{}); err != nil {
		t.Fatal(err)
	}
	// ends: how far each segment of this session was appended.
	ends := func() map[*segFile]int64 {
		out := map[*segFile]int64{}
		s.segs.mu.Lock()
		defer s.segs.mu.Unlock()
		for id := range s.segs.mine {
			if sf := s.segs.open[id]; sf != nil {
				out[sf] = sf.end
			}
		}
		return out
	}
	want := ends()
	if len(want) == 0 {
		t.Fatal("the add appended to no segment")
	}
	wb := s.segs.wb
	deadline := time.Now().Add(30 * time.Second) // the goroutine may run late on a loaded machine
	for {
		short := 0
		wb.mu.Lock()
		for sf, end := range want {
			// A piece's range ends at its last byte; the segment's end is that rounded up.
			if roundUp(wb.from[sf]) < end {
				short++
			}
		}
		wb.mu.Unlock()
		if short == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d segments not handed to the disk up to their end", short, len(want))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wb.stopped:
	default:
		t.Fatal("Close left the writeback goroutine running")
	}
	// A late hint after Close is ignored, not a panic or a leak.
	for sf := range want {
		wb.written(sf, 1<<30)
	}
	wb.mu.Lock()
	left := len(wb.to)
	wb.mu.Unlock()
	if left != 0 {
		t.Fatalf("a hint after Close was kept (%d ranges)", left)
	}
}

// TestWritebackSkipsForgottenSegment: a segment forgotten (gc, trim) after
// the writeback goroutine took its range, but before it handed the range to
// the disk, is skipped, not used through a closed descriptor (which by then
// may name another file).
func TestWritebackSkipsForgottenSegment(t *testing.T) {
	s := openStore(t, t.TempDir())
	wb := s.segs.wb
	took, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var hints, closedHints int
	wb.mu.Lock()
	wb.taken = func() { once.Do(func() { close(took); <-resume }) }
	wb.hint = func(f *os.File, _, _ int64) {
		mu.Lock()
		defer mu.Unlock()
		hints++
		if _, err := f.Stat(); err != nil {
			closedHints++
		}
	}
	wb.mu.Unlock()

	l, err := s.segs.append(testData(1<<20, 3), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-took // the goroutine holds the range and has not used the file yet
	s.segs.forget(l.seg)
	close(resume)
	wb.stop() // returns once the goroutine has finished that round
	mu.Lock()
	defer mu.Unlock()
	if closedHints != 0 {
		t.Fatalf("writeback used a closed segment file (%d of %d hints)", closedHints, hints)
	}
	if hints != 0 {
		t.Fatalf("writeback handed %d ranges of a forgotten segment to the disk", hints)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
