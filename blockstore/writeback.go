package blockstore

import (
	"os"
	"sync"
)

// writeback starts writing appended pieces to disk as soon as they are in the
// page cache, on a goroutine of its own: the fdatasync before a commit then
// finds little left to do, and the disk works while the add is still hashing.
// Started from the appending writer itself (sync_file_range per piece), it
// blocked that writer, and the other writers queued on its segment, whenever
// the disk's queue was full: 0.6 s summed over the writers of a 256 MiB add.
// Writers only record how far each segment is written and wake the goroutine;
// they never wait for it, and no range is forgotten (ranges are merged, never
// dropped). It is a hint: durability still comes from segments.sync.
type writeback struct {
	mu      sync.Mutex
	to      map[*segFile]int64 // written up to here; not yet handed to the disk
	from    map[*segFile]int64 // handed to the disk up to here
	closed  bool
	wake    chan struct{}
	stopped chan struct{}

	// hint hands a range to the disk (startWriteback; tests watch it).
	hint func(f *os.File, off, n int64)
	// taken, when set (tests), runs after ranges are taken and before
	// they are handed on: where a segment may be forgotten meanwhile.
	taken func()
}

func newWriteback() *writeback {
	w := &writeback{to: map[*segFile]int64{}, from: map[*segFile]int64{}, wake: make(chan struct{}, 1), stopped: make(chan struct{}), hint: startWriteback}
	go w.run()
	return w
}

// written records that sf holds appended data up to end.
func (w *writeback) written(sf *segFile, end int64) {
	w.mu.Lock()
	if !w.closed && end > w.to[sf] {
		w.to[sf] = end
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // already woken: it takes this range with the others
	}
}

// forget drops sf (closed, or about to be).
func (w *writeback) forget(sf *segFile) {
	w.mu.Lock()
	delete(w.to, sf)
	delete(w.from, sf)
	w.mu.Unlock()
}

func (w *writeback) run() {
	defer close(w.stopped)
	type span struct {
		sf       *segFile
		off, end int64
	}
	var todo []span
	for range w.wake {
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return
		}
		todo = todo[:0]
		for sf, end := range w.to {
			if from := w.from[sf]; end > from {
				todo = append(todo, span{sf, from, end})
				w.from[sf] = end
			}
		}
		clear(w.to)
		hint, taken := w.hint, w.taken
		w.mu.Unlock()
		if taken != nil {
			taken()
		}
		for _, s := range todo {
			// A segment forgotten since is closed: with skips it.
			_ = s.sf.with(func() error { hint(s.sf.f, s.off, s.end-s.off); return nil })
		}
	}
}

// stop ends the goroutine and waits for it (before segments are closed).
func (w *writeback) stop() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.stopped
}
