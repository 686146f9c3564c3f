package blockstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/dhtnode/dhtnode/merkle"
)

// Pieces live in segment files: segments/<id>.seg, each filled to about
// segmentSize by appending pieces at 4 KiB-aligned offsets, and found through
// the index in bbolt (piece → segment, offset, length). One file per 256 KiB
// piece cost an openat, a rename and an inode per piece, which on a file
// system with recent deletes was most of an add's CPU; appending to a few open
// files costs a pwrite.
//
// Crash consistency: a piece is written (pwrite, O_DIRECT when aligned), then
// the segment is fdatasynced, and only then is its index entry committed, in
// the same transaction as whatever claims it (an add's manifest and pin, a
// download's have bits). A crash therefore leaves only bytes no index entry
// points at: a torn or orphaned tail past the last indexed piece, or a gap in
// the middle (an add killed while another committed). Open trims every
// segment not closed cleanly: it truncates the tail and punches holes in the
// gaps (an add killed at any moment leaves nothing behind after a restart);
// a segment no entry points at is removed. Segments are never reopened for
// writing by a later session, so trimming never races a writer.
//
// Space: GC deletes index entries and then removes a segment whose pieces are
// all dead, or punches holes (fallocate PUNCH_HOLE) where dead pieces were;
// the file keeps its length but not the blocks.

// segmentSize is the size past which a segment takes no more pieces.
const segmentSize = 64 << 20

// segAlign aligns every piece's offset in a segment, so that pieces whose
// length allows it are written and read with O_DIRECT.
const segAlign = 4096

// directWrites: write aligned pieces with O_DIRECT. Off: measured on this
// project's 2-core VM through the daemon (256 MiB add, same run), buffered
// appends with writeback started at once took 0.77-0.84 s against 1.64-1.77 s
// for O_DIRECT appends (in-process BenchmarkAdd and BenchmarkAddBuffered were
// within 10 % of each other). Direct reads of uncached pieces stay.
const directWrites = false

// activeSegments is how many segments take writes at once: concurrent writers
// append to different files instead of queueing on one.
const activeSegments = 4

var (
	bucketIndex    = []byte("index")    // PieceID (33 bytes) -> loc (16 bytes)
	bucketExtents  = []byte("extents")  // segment (4) + offset (8) -> PieceID (33) + length (4)
	bucketSegments = []byte("segments") // segment (4) -> clean mark: trimmed, no unindexed bytes
)

// loc is where a piece's bytes are.
type loc struct {
	seg uint32
	off int64
	n   int
}

func (l loc) bytes() []byte {
	var b [16]byte
	binary.BigEndian.PutUint32(b[0:], l.seg)
	binary.BigEndian.PutUint64(b[4:], uint64(l.off))
	binary.BigEndian.PutUint32(b[12:], uint32(l.n))
	return b[:]
}

func decodeLoc(b []byte) (loc, bool) {
	if len(b) != 16 {
		return loc{}, false
	}
	return loc{seg: binary.BigEndian.Uint32(b), off: int64(binary.BigEndian.Uint64(b[4:])), n: int(binary.BigEndian.Uint32(b[12:]))}, true
}

func segKey(seg uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], seg)
	return b[:]
}

func extentKey(l loc) []byte {
	var b [12]byte
	binary.BigEndian.PutUint32(b[0:], l.seg)
	binary.BigEndian.PutUint64(b[4:], uint64(l.off))
	return b[:]
}

func pieceKey(id merkle.PieceID) []byte {
	b, _ := id.MarshalBinary()
	return b
}

func extentValue(id merkle.PieceID, n int) []byte {
	b := append(pieceKey(id), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[len(b)-4:], uint32(n))
	return b
}

// putIndex records piece id at l (in a transaction that also claims it).
func putIndex(tx *bolt.Tx, id merkle.PieceID, l loc) error {
	if err := tx.Bucket(bucketIndex).Put(pieceKey(id), l.bytes()); err != nil {
		return err
	}
	return tx.Bucket(bucketExtents).Put(extentKey(l), extentValue(id, l.n))
}

// deleteIndex forgets piece id (at l).
func deleteIndex(tx *bolt.Tx, id merkle.PieceID, l loc) error {
	if err := tx.Bucket(bucketIndex).Delete(pieceKey(id)); err != nil {
		return err
	}
	return tx.Bucket(bucketExtents).Delete(extentKey(l))
}

func roundUp(n int64) int64 { return (n + segAlign - 1) / segAlign * segAlign }

// segFile is one open segment.
type segFile struct {
	id uint32
	f  *os.File // buffered reads and writes
	df *os.File // O_DIRECT (nil when the file system refuses it)
	// end is the next offset a piece goes to; only the writer holding this
	// segment (taken from segments.free) touches it.
	end int64

	// mu keeps the files open while someone uses them: every use of f or
	// df (a read, an append, a sync, writeback, a punch) holds it shared,
	// close holds it exclusively. gc, trim and Close close a segment while
	// readers and the writeback goroutine may still hold it; a descriptor
	// used after its close could by then name another file.
	mu     sync.RWMutex
	closed error // why the files were closed (nil: open)
}

var (
	// errSegForgotten: gc or trim closed the segment to remove it; no index
	// entry points into it and no pending piece is in it.
	errSegForgotten = fmt.Errorf("segment removed: %w", os.ErrClosed)
	// errSegClosed: the store closed the segment.
	errSegClosed = fmt.Errorf("segment closed: %w", os.ErrClosed)
)

// with runs fn while sf's files stay open, or returns why they are closed.
func (sf *segFile) with(fn func() error) error {
	sf.mu.RLock()
	defer sf.mu.RUnlock()
	if sf.closed != nil {
		return sf.closed
	}
	return fn()
}

// segments manages the segment files of a store.
type segments struct {
	dir      string
	noDirect func() bool

	mu    sync.Mutex
	next  uint32
	open  map[uint32]*segFile
	dirty map[*segFile]struct{} // written since their last fdatasync
	// dirNew: segments were created since the directory was last synced. The
	// directory is synced with the data (sync), before any index entry points
	// into a new segment, not on the writer's path: an fsync of a directory
	// commits the file system's journal, which cost tens of milliseconds per
	// new segment while the writer held it and the other writers queued.
	dirNew bool
	mine   map[uint32]bool // created by this session
	// active: segments a writer may still append to. They are never removed
	// or cut short while the store is open, only punched.
	active map[uint32]bool

	free chan *segFile // segments taking writes (nil: create one when needed)
	wb   *writeback
}

func newSegments(dir string, noDirect func() bool) (*segments, []uint32, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	g := &segments{dir: dir, noDirect: noDirect, open: map[uint32]*segFile{}, dirty: map[*segFile]struct{}{},
		mine: map[uint32]bool{}, active: map[uint32]bool{}, free: make(chan *segFile, activeSegments), next: 1, wb: newWriteback()}
	var ids []uint32
	for _, e := range entries {
		if id, ok := parseSegName(e.Name()); ok {
			ids = append(ids, id)
			if id >= g.next {
				g.next = id + 1
			}
		}
	}
	for range activeSegments {
		g.free <- nil
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return g, ids, nil
}

func segName(id uint32) string { return fmt.Sprintf("%08x.seg", id) }

func parseSegName(name string) (uint32, bool) {
	hex, ok := strings.CutSuffix(name, ".seg")
	if !ok || len(hex) != 8 {
		return 0, false
	}
	v, err := strconv.ParseUint(hex, 16, 32)
	return uint32(v), err == nil && segName(uint32(v)) == name
}

func (g *segments) path(id uint32) string { return filepath.Join(g.dir, segName(id)) }

// create makes a new segment for writing.
func (g *segments) create() (*segFile, error) {
	g.mu.Lock()
	id := g.next
	g.next++
	g.mu.Unlock()
	p := g.path(id)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	sf := &segFile{id: id, f: f}
	if !g.noDirect() {
		sf.df = openDirect(p, os.O_RDWR)
	}
	g.mu.Lock()
	g.open[id] = sf
	g.mine[id] = true
	g.active[id] = true
	g.dirNew = true // the new name must survive a crash with the pieces in it: see sync
	g.mu.Unlock()
	return sf, nil
}

// get returns segment id open for reading.
func (g *segments) get(id uint32) (*segFile, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if sf := g.open[id]; sf != nil {
		return sf, nil
	}
	p := g.path(id)
	// Read-write: trimming, gc and quarantine punch holes and cut tails.
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	sf := &segFile{id: id, f: f}
	if !g.noDirect() {
		sf.df = openDirect(p, os.O_RDONLY)
	}
	g.open[id] = sf
	return sf, nil
}

// forget closes segment id (before it is removed). Its pending writeback
// ranges go with it; a use already under way (a read, writeback, a sync)
// finishes before the files close, and a later one finds them closed.
func (g *segments) forget(id uint32) {
	g.mu.Lock()
	sf := g.open[id]
	if sf != nil {
		delete(g.open, id)
		delete(g.dirty, sf)
	}
	g.mu.Unlock()
	if sf != nil {
		g.wb.forget(sf)
		sf.close(errSegForgotten) // outside g.mu: waiting for a use must not stall get
	}
}

// close closes sf's files once no one uses them; later uses get why.
func (sf *segFile) close(why error) {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if sf.closed != nil {
		return
	}
	sf.closed = why
	_ = sf.f.Close()
	if sf.df != nil {
		_ = sf.df.Close()
	}
}

// append writes data to a segment taking writes and returns where. write,
// when set (tests), replaces the write itself.
func (g *segments) append(data []byte, write func(f *os.File, off int64, data []byte) error, scratch func(int) ([]byte, func())) (loc, error) {
	sf := <-g.free
	defer func() { g.free <- sf }()
	if sf == nil || sf.end >= segmentSize {
		nf, err := g.create()
		if err != nil {
			return loc{}, err
		}
		if sf != nil {
			g.mu.Lock()
			delete(g.active, sf.id) // full: no one appends to it again
			g.mu.Unlock()
		}
		sf = nf
	}
	off := sf.end
	err := sf.with(func() (err error) {
		switch {
		case write != nil:
			err = write(sf.f, off, data)
		case directWrites && sf.df != nil && len(data)%segAlign == 0:
			buf := data
			if !aligned(buf) {
				var done func()
				buf, done = scratch(len(data))
				copy(buf, data)
				defer done()
			}
			if _, err = sf.df.WriteAt(buf, off); isEINVAL(err) {
				sf.df = nil
				_, err = sf.f.WriteAt(data, off)
			}
		default:
			if _, err = sf.f.WriteAt(data, off); err == nil {
				g.wb.written(sf, off+int64(len(data)))
			}
		}
		return err
	})
	if err != nil {
		return loc{}, err
	}
	sf.end = roundUp(off + int64(len(data)))
	g.mu.Lock()
	g.dirty[sf] = struct{}{}
	g.mu.Unlock()
	return loc{seg: sf.id, off: off, n: len(data)}, nil
}

// sync makes every piece written so far durable: fdatasync of each segment
// written since its last sync, and of the directory when segments were created
// in it. It runs before a commit that claims pieces.
func (g *segments) sync() error {
	g.mu.Lock()
	dirty, dirNew := g.dirty, g.dirNew
	g.dirty, g.dirNew = map[*segFile]struct{}{}, false
	g.mu.Unlock()
	var first error
	if dirNew {
		if err := syncDir(g.dir); err != nil {
			first = fmt.Errorf("syncing the segment directory: %w", err)
			g.mu.Lock()
			g.dirNew = true
			g.mu.Unlock()
		}
	}
	for sf := range dirty {
		err := sf.with(func() error { return fdatasync(sf.f) })
		if errors.Is(err, errSegForgotten) {
			continue // removed since: nothing to commit points into it
		}
		// Closed with the store: an error, so that no commit claims its pieces.
		if err != nil && first == nil {
			first = fmt.Errorf("syncing segment %s: %w", segName(sf.id), err)
			g.mu.Lock()
			g.dirty[sf] = struct{}{}
			g.mu.Unlock()
		}
	}
	return first
}

// syncDir makes the names in dir durable (the segments created there).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// isActive reports whether a writer may still append to segment id.
func (g *segments) isActive(id uint32) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.active[id]
}

// retire ends appending: every segment may be trimmed whole (Close).
func (g *segments) retire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.active)
}

// closeAll stops writeback and closes every open segment.
func (g *segments) closeAll() {
	g.wb.stop()
	g.mu.Lock()
	open := g.open
	g.open = map[uint32]*segFile{}
	clear(g.dirty)
	g.mu.Unlock()
	for _, sf := range open {
		sf.close(errSegClosed)
	}
}

// punch gives back the blocks of l's range (rounded in to whole 4 KiB blocks).
func (g *segments) punch(l loc) {
	sf, err := g.get(l.seg)
	if err != nil {
		return
	}
	start, end := roundUp(l.off), roundUp(l.off+int64(l.n))
	if end > start {
		_ = sf.with(func() error { return punchHole(sf.f, start, end-start) })
	}
}

// trim makes segment id hold only indexed pieces: the tail past the last one
// is cut, gaps between them are punched out, and a segment with none is
// removed. It reports whether the file was removed and how many bytes of
// unindexed data it reclaimed (an approximation: gaps are counted whole).
func (s *Store) trim(id uint32) (removed bool, reclaimed int64, err error) {
	type ext struct{ off, end int64 }
	var exts []ext
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketExtents).Cursor()
		prefix := segKey(id)
		for k, v := c.Seek(prefix); len(k) == 12 && string(k[:4]) == string(prefix); k, v = c.Next() {
			if len(v) != 37 {
				continue
			}
			off := int64(binary.BigEndian.Uint64(k[4:]))
			exts = append(exts, ext{off, off + int64(binary.BigEndian.Uint32(v[33:]))})
		}
		return nil
	})
	if err != nil {
		return false, 0, err
	}
	// Pieces written but not committed yet are as good as indexed here.
	s.pmu.Lock()
	for _, p := range s.pending {
		select {
		case <-p.done:
			if p.err != nil || p.loc.seg != id {
				continue
			}
		default:
			continue // not placed yet; an active segment is never cut below
		}
		exts = append(exts, ext{p.loc.off, p.loc.off + int64(p.loc.n)})
	}
	s.pmu.Unlock()
	sort.Slice(exts, func(i, j int) bool { return exts[i].off < exts[j].off })
	active := s.segs.isActive(id)
	p := s.segs.path(id)
	st, err := os.Stat(p)
	if err != nil {
		return false, 0, err
	}
	if len(exts) == 0 && !active {
		s.segs.forget(id)
		if err := os.Remove(p); err != nil {
			return false, 0, err
		}
		// Its number may be given to a new segment: that one starts unclean.
		err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSegments).Delete(segKey(id)) })
		return true, st.Size(), err
	}
	sf, err := s.segs.get(id)
	if err != nil {
		return false, 0, err
	}
	err = sf.with(func() error {
		var at int64
		for _, e := range exts {
			if gap := roundUp(at); e.off > gap {
				// A gap always ends at an aligned offset (pieces start at one).
				if punchHole(sf.f, gap, e.off-gap) == nil {
					reclaimed += e.off - gap
				}
			}
			at = max(at, e.end)
		}
		if active {
			// A writer may be appending past the last piece right now: punch the
			// tail instead of cutting it.
			if tail := roundUp(at); st.Size() > tail && punchHole(sf.f, tail, st.Size()-tail) == nil {
				reclaimed += st.Size() - tail
			}
			return nil
		}
		if tail := roundUp(at); st.Size() > tail {
			if err := sf.f.Truncate(tail); err != nil {
				return err
			}
			reclaimed += st.Size() - tail
			return fdatasync(sf.f)
		}
		return nil
	})
	return false, reclaimed, err
}

// trimUnclean trims every segment that was not closed cleanly (Open), and
// marks them clean.
func (s *Store) trimUnclean(ids []uint32) error {
	var clean map[uint32]bool
	err := s.db.View(func(tx *bolt.Tx) error {
		clean = map[uint32]bool{}
		return tx.Bucket(bucketSegments).ForEach(func(k, _ []byte) error {
			if len(k) == 4 {
				clean[binary.BigEndian.Uint32(k)] = true
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	var trimmed []uint32
	var removed int
	var reclaimed int64
	for _, id := range ids {
		if clean[id] {
			continue
		}
		gone, n, err := s.trim(id)
		if err != nil {
			return fmt.Errorf("trimming segment %s: %w", segName(id), err)
		}
		reclaimed += n
		if gone {
			removed++
		} else {
			trimmed = append(trimmed, id)
		}
	}
	if len(trimmed) > 0 || removed > 0 {
		s.log.Info("reclaimed the pieces an interrupted session left unindexed", "segments_trimmed", len(trimmed), "segments_removed", removed, "bytes", reclaimed)
	}
	return s.markClean(trimmed)
}

// markClean records that segments ids hold no unindexed bytes.
func (s *Store) markClean(ids []uint32) error {
	if len(ids) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, id := range ids {
			if err := tx.Bucket(bucketSegments).Put(segKey(id), []byte{1}); err != nil {
				return err
			}
		}
		return nil
	})
}

// readSegment reads l's bytes into buf (reused when large enough), unverified.
func (s *Store) readSegment(l loc, buf []byte, keep bool) ([]byte, error) {
	sf, err := s.segs.get(l.seg)
	if err != nil {
		return nil, err
	}
	if cap(buf) < l.n {
		buf = alignedBuffer(l.n)
	}
	buf = buf[:l.n]
	if err := s.readSeg(sf, buf, l.off, keep); err != nil {
		return nil, &os.PathError{Op: "read", Path: s.segs.path(l.seg), Err: err}
	}
	return buf, nil
}

// errSegmentGone: an index entry points into a segment file that is not there.
var errSegmentGone = errors.New("segment missing")

// usage counts the segment files and the blocks they take on disk.
func (g *segments) usage() (n int, disk int64) {
	entries, err := os.ReadDir(g.dir)
	if err != nil {
		return 0, 0
	}
	for _, e := range entries {
		if _, ok := parseSegName(e.Name()); !ok {
			continue
		}
		if info, err := e.Info(); err == nil {
			n++
			disk += diskSize(info)
		}
	}
	return n, disk
}

// readSeg fills buf from segment sf at off, keeping its files open meanwhile.
func (s *Store) readSeg(sf *segFile, buf []byte, off int64, keep bool) error {
	return sf.with(func() error { return s.readSegOpen(sf, buf, off, keep) })
}
