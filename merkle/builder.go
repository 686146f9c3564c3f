package merkle

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// Piece is handed to BuilderConfig.OnPiece once it is hashed.
type Piece struct {
	Index int     // position in the file
	ID    PieceID // what the piece hashes to; ID.Root is its piece-layer entry
	Data  []byte  // the bytes; valid only during the OnPiece call
}

// BuilderConfig configures a Builder. The zero value hashes with
// DefaultPieceSize on GOMAXPROCS workers.
type BuilderConfig struct {
	// PieceSize is the piece size (0 = DefaultPieceSize); see ValidPieceSize.
	PieceSize int64
	// Workers is how many goroutines hash pieces (0 = GOMAXPROCS). Raise it
	// when OnPiece blocks on I/O (fsync), so hashing goes on meanwhile.
	Workers int
	// Buffers is how many piece buffers may be in flight (0 = Workers+2). The
	// builder's memory is Buffers × PieceSize: it never holds the file.
	Buffers int
	// Pool, if set, supplies and takes back piece buffers ([]byte of
	// capacity PieceSize), so that builders run one after another (the files
	// of a directory) reuse them instead of allocating per file.
	Pool *sync.Pool
	// OnPiece, if set, is called once per piece after it is hashed, from the
	// worker goroutines: concurrently and in any order, so it must be safe for
	// concurrent use. It may keep Data only until it returns. An error stops
	// the build; Finish returns it.
	OnPiece func(Piece) error
}

// Builder hashes a file streamed through it (it is an io.Writer and an
// io.ReaderFrom, so io.Copy(b, file) reads straight into piece buffers):
// each byte is read once and hashed once, whole pieces are hashed in
// parallel on a worker pool, and the piece layer is kept in file order. Finish
// returns the Tree. A Builder is used by one goroutine (besides its workers)
// and once.
type Builder struct {
	cfg    BuilderConfig
	height int // piece height of a multi-piece file

	free chan []byte
	jobs chan job
	wg   sync.WaitGroup

	cur      []byte // piece being filled (len = bytes so far), nil if none
	size     int64  // bytes written
	dispatch int    // pieces dispatched

	mu    sync.Mutex
	layer []Hash
	err   error // first error from a worker
	done  bool
}

type job struct {
	index int
	data  []byte
}

// NewBuilder starts the workers; Finish or Abort stops them. It returns
// ErrPieceSize for a bad piece size.
func NewBuilder(cfg BuilderConfig) (*Builder, error) {
	if cfg.PieceSize == 0 {
		cfg.PieceSize = DefaultPieceSize
	}
	if err := ValidPieceSize(cfg.PieceSize); err != nil {
		return nil, err
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Buffers <= 0 {
		cfg.Buffers = cfg.Workers + 2
	}
	l, _ := NewLayout(2*cfg.PieceSize, cfg.PieceSize) // any multi-piece size gives the piece height
	b := &Builder{
		cfg:    cfg,
		height: l.PieceHeight(),
		free:   make(chan []byte, cfg.Buffers),
		jobs:   make(chan job, cfg.Buffers),
	}
	for range cfg.Buffers {
		b.free <- nil // allocated on first use, so a small file costs one buffer
	}
	b.wg.Add(cfg.Workers)
	for range cfg.Workers {
		go b.work()
	}
	return b, nil
}

func (b *Builder) work() {
	defer b.wg.Done()
	for j := range b.jobs {
		if b.failed() == nil {
			b.hash(j)
		}
		b.free <- j.data[:0]
	}
}

func (b *Builder) hash(j job) {
	height := b.height
	if j.index == 0 && int64(len(j.data)) < b.cfg.PieceSize {
		// A short first piece is the whole file: its subtree is the tree.
		height = ceilLog2(int64((len(j.data) + BlockSize - 1) / BlockSize))
	}
	id := PieceID{Root: HashPiece(j.data, height), Height: uint8(height)}
	if b.cfg.OnPiece != nil {
		if err := b.cfg.OnPiece(Piece{Index: j.index, ID: id, Data: j.data}); err != nil {
			b.fail(fmt.Errorf("piece %d: %w", j.index, err))
			return
		}
	}
	b.mu.Lock()
	b.layer[j.index] = id.Root
	b.mu.Unlock()
}

func (b *Builder) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
}

func (b *Builder) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// errFinished is returned by writes after Finish or Abort.
var errFinished = errors.New("merkle: builder already finished")

// buffer returns the piece being filled, taking a free one if needed.
func (b *Builder) buffer() []byte {
	if b.cur == nil {
		buf := <-b.free
		if buf == nil && b.cfg.Pool != nil {
			if p, ok := b.cfg.Pool.Get().([]byte); ok && int64(cap(p)) == b.cfg.PieceSize {
				buf = p[:0]
			}
		}
		if buf == nil {
			buf = make([]byte, 0, b.cfg.PieceSize)
		}
		b.cur = buf
	}
	return b.cur
}

// send hands the current buffer to the workers.
func (b *Builder) send() {
	b.mu.Lock()
	b.layer = append(b.layer, Hash{})
	b.mu.Unlock()
	b.jobs <- job{index: b.dispatch, data: b.cur}
	b.dispatch++
	b.cur = nil
}

// Write hashes p (copying it into piece buffers). It returns the first error
// of OnPiece, if any.
func (b *Builder) Write(p []byte) (int, error) {
	if b.done {
		return 0, errFinished
	}
	if err := b.failed(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		buf := b.buffer()
		k := copy(buf[len(buf):cap(buf)], p)
		b.cur = buf[:len(buf)+k]
		p = p[k:]
		n += k
		b.size += int64(k)
		if len(b.cur) == cap(b.cur) {
			b.send()
		}
	}
	return n, nil
}

// ReadFrom reads r to EOF straight into piece buffers (no extra copy) and
// hashes it. It returns the bytes read and the first read or OnPiece error.
func (b *Builder) ReadFrom(r io.Reader) (int64, error) {
	if b.done {
		return 0, errFinished
	}
	var total int64
	for {
		if err := b.failed(); err != nil {
			return total, err
		}
		buf := b.buffer()
		k, err := r.Read(buf[len(buf):cap(buf)])
		b.cur = buf[:len(buf)+k]
		total += int64(k)
		b.size += int64(k)
		if len(b.cur) == cap(b.cur) {
			b.send()
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Size is the number of bytes written so far.
func (b *Builder) Size() int64 { return b.size }

// Finish hashes the last piece, waits for the workers and returns the tree. It
// returns ErrEmpty if nothing was written (an empty file has no root), or the
// first OnPiece error.
func (b *Builder) Finish() (*Tree, error) {
	if b.done {
		return nil, errFinished
	}
	if len(b.cur) > 0 && b.failed() == nil {
		b.send()
	}
	b.stop()
	if err := b.failed(); err != nil {
		return nil, err
	}
	l, err := NewLayout(b.size, b.cfg.PieceSize)
	if err != nil {
		return nil, err
	}
	return NewTree(l, b.layer)
}

// Abort stops the workers without finishing, e.g. when the input failed.
// OnPiece is not called for pieces not yet started. Abort after Finish is a no-op.
func (b *Builder) Abort() {
	if b.done {
		return
	}
	b.fail(errFinished)
	b.stop()
}

func (b *Builder) stop() {
	b.done = true
	if b.cur != nil {
		b.free <- b.cur[:0]
		b.cur = nil
	}
	close(b.jobs)
	b.wg.Wait()
	if b.cfg.Pool != nil {
		for range cap(b.free) {
			if buf := <-b.free; buf != nil {
				//lint:ignore SA6002 boxing the slice header allocates a little; the piece buffer is what the pool saves
				b.cfg.Pool.Put(buf)
			}
		}
	}
}
