package blockstore

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// AddOptions configures Add. The zero value adds a single file, stores and
// pins it, with the default piece size.
type AddOptions struct {
	Recursive bool                      // allow a directory (add -r)
	PieceSize int64                     // 0 = merkle.DefaultPieceSize (raised for huge content)
	Progress  func(content.AddProgress) // called on Add's goroutine after each read
	OnlyHash  bool                      // compute the ID only, store nothing (add -n)
	NoPin     bool                      // do not pin (add --pin=false); GC may then remove it
	Workers   int                       // hashing/storing goroutines (0 = 4 × GOMAXPROCS)
}

func (o AddOptions) content(sink content.PieceSink) content.AddOptions {
	return content.AddOptions{PieceSize: o.PieceSize, Workers: o.Workers, Sink: sink, Progress: o.Progress, Recursive: o.Recursive}
}

// Add adds a file or directory: one pass that reads, hashes and stores
// every piece in parallel, then stores the manifest, marks every piece
// present and pins the content, in one transaction. If anything fails (a full
// disk, a permission error, ctx cancelled), the pieces this add created are
// removed and no manifest or pin is written: the store is as it was.
func (s *Store) Add(ctx context.Context, path string, opts AddOptions) (*content.AddResult, error) {
	if opts.OnlyHash {
		return content.Add(ctx, path, opts.content(nil))
	}
	return s.add(opts, func(sink content.PieceSink) (*content.AddResult, error) {
		return content.Add(ctx, path, opts.content(sink))
	})
}

// AddReader adds one file named name read from r (stdin, an HTTP upload);
// otherwise as Add.
func (s *Store) AddReader(ctx context.Context, name string, r io.Reader, opts AddOptions) (*content.AddResult, error) {
	if opts.OnlyHash {
		return content.AddReader(ctx, name, r, opts.content(nil))
	}
	return s.add(opts, func(sink content.PieceSink) (*content.AddResult, error) {
		return content.AddReader(ctx, name, r, opts.content(sink))
	})
}

// addSink stores pieces for Add (they are hashed already) and holds a
// reference on each pending one, to commit them with the manifest or roll
// them back if the add fails.
type addSink struct {
	s      *Store
	mu     sync.Mutex
	pieces []*pendingPiece
}

func (a *addSink) PutPiece(id merkle.PieceID, data []byte) error {
	p, _, err := a.s.putVerified(id, data, false)
	if p != nil {
		a.mu.Lock()
		a.pieces = append(a.pieces, p)
		a.mu.Unlock()
	}
	return err
}

func (s *Store) add(opts AddOptions, run func(content.PieceSink) (*content.AddResult, error)) (*content.AddResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	s.gcLock.RLock()
	defer s.gcLock.RUnlock()
	sink := &addSink{s: s}
	res, err := run(sink)
	if err == nil {
		err = s.commitAdd(res, !opts.NoPin, sink.pieces)
	}
	if err != nil {
		s.rollback(sink.pieces)
		return nil, err
	}
	return res, nil
}

// rollback drops an add's references; a pending piece no one else holds or
// keeps is forgotten and its blocks punched out.
func (s *Store) rollback(pieces []*pendingPiece) {
	var dead []loc
	s.pmu.Lock()
	for _, p := range pieces {
		p.refs--
		if p.refs == 0 && !p.keep && s.pending[p.id] == p {
			delete(s.pending, p.id)
			dead = append(dead, p.loc)
		}
	}
	s.pmu.Unlock()
	for _, l := range dead {
		s.segs.punch(l)
	}
}

// commitAdd makes the pieces durable (fdatasync of the segments written) and
// then records their index entries, the manifest, download state and pin in
// one transaction: data first, then the index that claims it.
func (s *Store) commitAdd(res *content.AddResult, pin bool, pieces []*pendingPiece) error {
	if err := s.syncPieces(); err != nil {
		return err
	}
	id := res.ID
	bits := NewBitfield(res.Manifest.NumPieces())
	bits.SetAll()
	s.pmu.Lock()
	var mine []*pendingPiece
	for _, p := range pieces {
		if s.pending[p.id] == p {
			mine = append(mine, p)
		}
	}
	s.pmu.Unlock()
	var dups []loc
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if dups, err = indexPieces(tx, mine); err != nil {
			return err
		}
		if err := tx.Bucket(bucketManifests).Put(id.Bytes(), res.Encoded); err != nil {
			return err
		}
		if err := tx.Bucket(bucketHave).Put(id.Bytes(), bits.Bytes()); err != nil {
			return err
		}
		if pin {
			var v [8]byte
			putUnixNow(v[:])
			return tx.Bucket(bucketPins).Put(id.Bytes(), v[:])
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("blockstore: recording content %s: %w", id, err)
	}
	s.pmu.Lock()
	for _, p := range pieces {
		p.refs--
		if s.pending[p.id] == p {
			delete(s.pending, p.id) // indexed now
		}
	}
	s.pmu.Unlock()
	for _, l := range dups {
		s.segs.punch(l)
	}
	s.mu.Lock()
	if s.manifests[key(id)] == nil {
		s.manifests[key(id)] = res.Manifest
	}
	s.have[key(id)] = &haveState{bits: bits}
	s.mu.Unlock()
	return nil
}

// WriteFile writes file (an index into the manifest's Files) of content id
// to w, reading and verifying pieces in parallel ahead of the writer (cat,
// and assembling a download). A missing or corrupt piece stops it with
// ErrNotFound or ErrCorrupt; nothing unverified is ever written to w.
func (s *Store) WriteFile(ctx context.Context, id content.ID, file int, w io.Writer) error {
	m, err := s.manifest(id, nil)
	if err != nil {
		return err
	}
	if file < 0 || file >= len(m.Files) {
		return fmt.Errorf("%w: file %d of %s", content.ErrRange, file, id)
	}
	first := m.FirstPiece(file)
	l, _ := m.Layout(file)
	n := l.NumPieces()
	if n == 0 {
		return nil
	}
	// Reads of pieces not in the page cache (written with O_DIRECT) wait on
	// the disk: more readers than cores keep its queue full while the cores
	// verify. They go through the page cache and stay there: a file read
	// once with cat is often read again, and 256 KiB direct reads top out
	// near 1 GB/s on the VMs we measured, below what cat reaches from memory.
	workers := 4 * runtime.GOMAXPROCS(0)
	window := 2 * workers
	type result struct {
		data []byte
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	slots := make([]chan result, window) // slot i%window holds piece i's result
	for i := range slots {
		slots[i] = make(chan result, 1)
	}
	free := make(chan []byte, window)
	for range window {
		free <- nil
	}
	// The dispatcher pairs piece i with a free buffer before handing it out,
	// so piece i+window cannot start before piece i is written and its slot
	// is empty: results land in slots in order.
	type job struct {
		i   int
		buf []byte
	}
	next := make(chan job)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				data, err := s.readContentPiece(id, first+j.i, j.buf, true)
				slots[j.i%window] <- result{data, err} // never blocks: the slot is empty
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(next)
		for i := 0; i < n; i++ {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			select {
			case next <- job{i, buf}:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	for i := 0; i < n; i++ {
		var r result
		select {
		case r = <-slots[i%window]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			return r.err
		}
		if _, err := w.Write(r.data); err != nil {
			return err
		}
		free <- r.data[:0]
	}
	return nil
}

// indexPieces records where each written piece lives, unless the index already
// has it: a piece stored twice by a race keeps its first copy, and the locations of
// the later copies are returned so their space can be given back.
func indexPieces(tx *bolt.Tx, pieces []*pendingPiece) (dups []loc, err error) {
	for _, p := range pieces {
		if cur, ok := decodeLoc(tx.Bucket(bucketIndex).Get(pieceKey(p.id))); ok {
			if cur != p.loc {
				dups = append(dups, p.loc)
			}
			continue
		}
		if err := putIndex(tx, p.id, p.loc); err != nil {
			return nil, err
		}
	}
	return dups, nil
}
