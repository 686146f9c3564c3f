package content

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/dhtnode/dhtnode/merkle"
)

// ErrIsDir: a directory where one file is expected (Add without AddOptions.Recursive; a
// directory's content where a single file is read).
var ErrIsDir = errors.New("is a directory")

// PieceSink stores the pieces that Add produces, while it hashes.
// blockstore.Store implements it.
type PieceSink interface {
	// PutPiece stores data, which hashes to id (Add has just hashed it). It is
	// called concurrently from Add's workers; data is valid only during the
	// call. An error aborts the add.
	PutPiece(id merkle.PieceID, data []byte) error
}

// AddOptions configures Add. The zero value hashes only (stores nothing) a
// single file with the default piece size.
type AddOptions struct {
	// PieceSize is the piece size (0 = merkle.DefaultPieceSize). Add doubles it
	// while the content would have more than MaxAutoPieces pieces, so that the
	// manifest stays small; an explicit size is raised the same way.
	PieceSize int64
	// Workers hash and store pieces (0 = 4 × GOMAXPROCS with a Sink, since
	// storing waits on fsync; GOMAXPROCS without).
	Workers int
	// Sink receives every piece; nil computes the ID only (add -n).
	Sink PieceSink
	// Progress, if set, is called on Add's goroutine after each read.
	Progress func(AddProgress)
	// Recursive allows adding a directory.
	Recursive bool
}

// MaxAutoPieces is the piece count above which Add raises the piece size.
// 250 000 piece hashes make a manifest of about 11 MB.
const MaxAutoPieces = 250_000

// AddProgress reports how far an add has come.
type AddProgress struct {
	File  string `json:"file"`  // path of the file being read, relative to the content
	Bytes int64  `json:"bytes"` // bytes read so far, all files
	Total int64  `json:"total"` // bytes to read (from stat before reading)
}

// AddResult is what Add built.
type AddResult struct {
	ID       ID
	Manifest *Manifest
	Encoded  []byte // the manifest bytes whose hash is ID
}

type source struct {
	rel  string // slash path relative to the content root
	abs  string
	size int64
}

// Add reads a file, or a directory with Recursive, once: it hashes every
// piece (in parallel), hands it to opts.Sink while hashing, and builds the
// manifest and the content ID. In a directory, regular files are added;
// symbolic links and special files are skipped (a link could point outside
// the directory), and empty directories are not recorded. Errors: ErrIsDir,
// errors of the file system and of the sink, ErrUnsafePath for a name the
// manifest cannot carry, ctx.Err().
func Add(ctx context.Context, path string, opts AddOptions) (*AddResult, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(abs)
	var srcs []source
	kind := KindFile
	switch {
	case st.IsDir():
		if !opts.Recursive {
			return nil, fmt.Errorf("%s: %w", path, ErrIsDir)
		}
		kind = KindDir
		real, err := filepath.EvalSymlinks(abs) // the root may be a link; links inside are skipped
		if err != nil {
			return nil, err
		}
		if srcs, err = walk(real); err != nil {
			return nil, err
		}
	case st.Mode().IsRegular():
		srcs = []source{{rel: name, abs: abs, size: st.Size()}}
	default:
		return nil, fmt.Errorf("%s: not a regular file or directory", path)
	}
	var total int64
	sizes := make([]int64, len(srcs))
	for i, s := range srcs {
		total += s.size
		sizes[i] = s.size
	}
	a := adder{ctx: ctx, opts: opts, total: total}
	a.pieceSize = choosePieceSize(opts.PieceSize, sizes)
	m := &Manifest{Kind: kind, Name: name, PieceSize: a.pieceSize, Files: make([]File, len(srcs))}
	for i, s := range srcs {
		f, err := a.addFile(s)
		if err != nil {
			return nil, err
		}
		m.Files[i] = f
		m.Size += f.Size
	}
	return finish(m)
}

// AddReader adds one file read from r (e.g. stdin or an HTTP upload) under
// name. The piece size is not raised automatically, since the size is unknown.
func AddReader(ctx context.Context, name string, r io.Reader, opts AddOptions) (*AddResult, error) {
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("%w: name %q: %v", ErrUnsafePath, name, err)
	}
	ps := opts.PieceSize
	if ps == 0 {
		ps = merkle.DefaultPieceSize
	}
	a := adder{ctx: ctx, opts: opts, pieceSize: ps, total: -1}
	f, err := a.addStream(name, r)
	if err != nil {
		return nil, err
	}
	return finish(&Manifest{Kind: KindFile, Name: name, Size: f.Size, PieceSize: ps, Files: []File{f}})
}

func finish(m *Manifest) (*AddResult, error) {
	b, err := Encode(m)
	if err != nil {
		return nil, err
	}
	m.idx = newPieceIndex(m)
	return &AddResult{ID: NewID(b), Manifest: m, Encoded: b}, nil
}

// choosePieceSize doubles the piece size until the content has at most
// MaxAutoPieces pieces (or the maximum piece size is reached).
func choosePieceSize(ps int64, sizes []int64) int64 {
	if ps == 0 {
		ps = merkle.DefaultPieceSize
	}
	for ps < merkle.MaxPieceSize {
		var n int64
		for _, s := range sizes {
			n += (s + ps - 1) / ps
		}
		if n <= MaxAutoPieces {
			break
		}
		ps *= 2
	}
	return ps
}

func walk(root string) ([]source, error) {
	var srcs []source
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil // directories are walked; links and special files skipped
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if err := ValidPath(rel); err != nil {
			return fmt.Errorf("%w: %q: %v", ErrUnsafePath, rel, err)
		}
		srcs = append(srcs, source{rel: rel, abs: p, size: info.Size()})
		if len(srcs) > MaxFiles {
			return fmt.Errorf("%w: more than %d files", ErrInvalid, MaxFiles)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].rel < srcs[j].rel })
	return srcs, nil
}

type adder struct {
	pool      sync.Pool // piece buffers shared by the files of one add
	ctx       context.Context
	opts      AddOptions
	pieceSize int64
	total     int64
	done      int64
}

func (a *adder) addFile(s source) (File, error) {
	f, err := os.Open(s.abs)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	return a.addStream(s.rel, f)
}

func (a *adder) addStream(rel string, r io.Reader) (File, error) {
	workers := a.opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
		if a.opts.Sink != nil {
			workers *= 4
		}
	}
	cfg := merkle.BuilderConfig{PieceSize: a.pieceSize, Workers: workers, Buffers: workers + 2, Pool: &a.pool}
	if sink := a.opts.Sink; sink != nil {
		cfg.OnPiece = func(p merkle.Piece) error { return sink.PutPiece(p.ID, p.Data) }
	}
	b, err := merkle.NewBuilder(cfg)
	if err != nil {
		return File{}, err
	}
	if _, err := b.ReadFrom(&progressReader{a: a, rel: rel, r: r}); err != nil {
		b.Abort()
		return File{}, fmt.Errorf("%s: %w", rel, err)
	}
	tree, err := b.Finish()
	switch {
	case errors.Is(err, merkle.ErrEmpty):
		return File{Path: rel}, nil
	case err != nil:
		return File{}, fmt.Errorf("%s: %w", rel, err)
	}
	f := File{Path: rel, Size: b.Size(), Root: tree.Root()}
	if tree.Layout().HasPieceLayer() {
		f.Layer = tree.PieceLayer()
	}
	return f, nil
}

// progressReader checks for cancellation and reports progress on each read.
type progressReader struct {
	a   *adder
	rel string
	r   io.Reader
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.a.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	p.a.done += int64(n)
	if p.a.opts.Progress != nil && n > 0 {
		p.a.opts.Progress(AddProgress{File: p.rel, Bytes: p.a.done, Total: p.a.total})
	}
	return n, err
}
