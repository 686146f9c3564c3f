package exchange

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
)

// maxOpenFiles bounds the file descriptors one directory download keeps open.
const maxOpenFiles = 64

// output assembles a download on disk. Pieces are written with WriteAt into a temporary file
// (or directory tree) next to the target, named ".<name>.dhtnode-partial"; commit syncs it and
// renames it into place, so the target appears only complete and verified. A leftover
// temporary from an interrupted run is reused when the store links to it (its verified pieces
// are the resume state: see OutputLinker) and discarded otherwise (the verified pieces are in
// the store, and the next run copies them back).
type output struct {
	p      *plan
	target string
	tmp    string
	root   *os.Root // the temporary directory, for a directory manifest
	// reused: tmp was left by an earlier run and kept; its pieces are checked before use.
	reused bool

	mu       sync.Mutex
	open     map[int]*os.File // plan file index → open file
	direct   map[int]*os.File // plan file index → the same file opened for O_DIRECT writes
	noDirect bool             // the file system refused O_DIRECT: write through the page cache
	scratch  [][]byte         // aligned buffers for unaligned piece data
}

// CheckPath reports whether a manifest path (slash-separated) is safe to create under an
// output directory: relative, clean, no "..", not empty. It returns an error wrapping
// ErrUnsafePath.
func CheckPath(p string) error {
	if p == "" || path.Clean(p) != p || !filepath.IsLocal(filepath.FromSlash(p)) || p == "." {
		return fmt.Errorf("%w: %q", ErrUnsafePath, p)
	}
	return nil
}

// partialPath is where the download of a target is assembled.
func partialPath(target string) string {
	return filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".dhtnode-partial")
}

// openOutput prepares the temporary file or tree for plan p at target. With reuse, a
// temporary left by an earlier run is kept if its shape fits p (the caller verifies its pieces
// before trusting any).
func openOutput(p *plan, target string, reuse bool) (*output, error) {
	target = filepath.Clean(target)
	if _, err := os.Lstat(target); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, target)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("exchange: output: %w", err)
	}
	o := &output{
		p:      p,
		target: target,
		tmp:    partialPath(target),
		open:   make(map[int]*os.File),
		direct: make(map[int]*os.File),
	}
	if reuse {
		if ok, err := o.reopen(); ok || err != nil {
			return o, err
		}
	}
	if err := os.RemoveAll(o.tmp); err != nil {
		return nil, fmt.Errorf("exchange: clear old partial output: %w", err)
	}
	if !p.dir {
		f, err := os.OpenFile(o.tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, fmt.Errorf("exchange: output: %w", err)
		}
		if err := f.Truncate(p.size); err != nil {
			_ = f.Close()
			_ = os.Remove(o.tmp)
			return nil, fmt.Errorf("exchange: output: %w", err)
		}
		o.open[0] = f
		return o, nil
	}
	for _, f := range p.files {
		if err := CheckPath(f.path); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(o.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("exchange: output: %w", err)
	}
	root, err := os.OpenRoot(o.tmp)
	if err != nil {
		_ = os.RemoveAll(o.tmp)
		return nil, fmt.Errorf("exchange: output: %w", err)
	}
	o.root = root
	// Create every file at its final size up front: empty files have no pieces to trigger
	// it, and a layout problem (a path that is both a file and a directory) shows now.
	for _, f := range p.files {
		if err := createSized(root, f.path, f.size); err != nil {
			o.abort(false)
			var te truncateError
			if errors.As(err, &te) {
				return nil, fmt.Errorf("exchange: output %q: %w", f.path, te.error)
			}
			return nil, fmt.Errorf("%w: %q: %v", ErrUnsafePath, f.path, err)
		}
	}
	return o, nil
}

// reopen takes over a temporary left by an earlier run if it has the shape of the plan: a
// regular file of the content's size, or a directory whose files (created where missing)
// have theirs. It reports false, having changed nothing, when there is none or it does not
// fit.
func (o *output) reopen() (bool, error) {
	st, err := os.Lstat(o.tmp)
	if err != nil {
		return false, nil
	}
	if !o.p.dir {
		if !st.Mode().IsRegular() || st.Size() != o.p.size {
			return false, nil
		}
		f, err := os.OpenFile(o.tmp, os.O_RDWR, 0)
		if err != nil {
			return false, nil
		}
		o.open[0] = f
		o.reused = true
		return true, nil
	}
	if !st.IsDir() {
		return false, nil
	}
	for _, f := range o.p.files {
		if err := CheckPath(f.path); err != nil {
			return false, err
		}
	}
	root, err := os.OpenRoot(o.tmp)
	if err != nil {
		return false, nil
	}
	for _, f := range o.p.files {
		st, err := root.Lstat(f.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // created below
		}
		if err != nil || !st.Mode().IsRegular() || st.Size() != f.size {
			_ = root.Close()
			return false, nil
		}
	}
	for _, f := range o.p.files {
		if err := createSized(root, f.path, f.size); err != nil && !errors.Is(err, fs.ErrExist) {
			_ = root.Close()
			return false, nil
		}
	}
	o.root = root
	o.reused = true
	return true, nil
}

// truncateError: creating a file worked, giving it its size did not (a full disk, a quota):
// not a layout problem.
type truncateError struct{ error }

// createSized creates file name under root at size bytes (a sparse file), with its parent
// directories; fs.ErrExist if it is there already, a truncateError if sizing it failed.
func createSized(root *os.Root, name string, size int64) error {
	if d := path.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	fh, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	err = fh.Truncate(size)
	_ = fh.Close()
	if err != nil {
		return truncateError{err}
	}
	return nil
}

// readPiece reads piece i from the temporary output into buf (its length), unverified.
func (o *output) readPiece(i int, buf []byte) error {
	pc := o.p.pieces[i]
	fh, err := o.file(pc.file)
	if err != nil {
		return err
	}
	_, err = fh.ReadAt(buf, pc.offset)
	return err
}

// file returns the open handle of plan file f.
func (o *output) file(f int) (*os.File, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fileLocked(f)
}

func (o *output) fileLocked(f int) (*os.File, error) {
	if fh := o.open[f]; fh != nil {
		return fh, nil
	}
	if len(o.open) >= maxOpenFiles {
		for k, fh := range o.open {
			_ = fh.Sync()
			_ = fh.Close()
			delete(o.open, k)
			if d := o.direct[k]; d != nil {
				_ = d.Sync()
				_ = d.Close()
				delete(o.direct, k)
			}
			break
		}
	}
	fh, err := o.root.OpenFile(o.p.files[f].path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("exchange: output %q: %w", o.p.files[f].path, err)
	}
	o.open[f] = fh
	return fh, nil
}

// writeDirect writes a piece with O_DIRECT when its length and offset allow (every piece
// but a file's last). It reports whether it did; false means write it buffered.
func (o *output) writeDirect(f int, off int64, data []byte) (bool, error) {
	if len(data)%dataAlign != 0 || off%dataAlign != 0 {
		return false, nil
	}
	o.mu.Lock()
	if o.noDirect {
		o.mu.Unlock()
		return false, nil
	}
	if _, err := o.fileLocked(f); err != nil { // the buffered handle first: eviction pairs them
		o.mu.Unlock()
		return false, err
	}
	dh := o.direct[f]
	if dh == nil {
		var err error
		if dh, err = o.openDirect(f); err != nil || dh == nil {
			o.noDirect = true
			o.mu.Unlock()
			return false, nil
		}
		o.direct[f] = dh
	}
	var tmp []byte
	if !isAligned(data) {
		if n := len(o.scratch); n > 0 && len(o.scratch[n-1]) == len(data) {
			tmp, o.scratch = o.scratch[n-1], o.scratch[:n-1]
		} else {
			b := make([]byte, len(data)+dataAlign)
			a := alignedAt(b, 0)
			tmp = b[a : a+len(data) : a+len(data)]
		}
	}
	o.mu.Unlock()
	buf := data
	if tmp != nil {
		copy(tmp, data)
		buf = tmp
		defer func() {
			o.mu.Lock()
			if len(o.scratch) < storeWriters {
				o.scratch = append(o.scratch, tmp)
			}
			o.mu.Unlock()
		}()
	}
	if _, err := dh.WriteAt(buf, off); err != nil {
		if isEINVAL(err) {
			o.mu.Lock()
			o.noDirect = true
			o.mu.Unlock()
			return false, nil
		}
		if errors.Is(err, os.ErrClosed) {
			return false, nil // evicted meanwhile: the buffered path reopens it
		}
		return true, fmt.Errorf("exchange: write output: %w", err)
	}
	return true, nil
}

// writePiece writes verified piece i at its place.
func (o *output) writePiece(i int, data []byte) error {
	pc := o.p.pieces[i]
	if ok, err := o.writeDirect(pc.file, pc.offset, data); ok || err != nil {
		return err
	}
	fh, err := o.file(pc.file)
	if err != nil {
		return err
	}
	// A concurrent eviction may close fh between file() and WriteAt; retry once on that.
	if _, err := fh.WriteAt(data, pc.offset); err != nil {
		if errors.Is(err, os.ErrClosed) {
			if fh, err = o.file(pc.file); err == nil {
				_, err = fh.WriteAt(data, pc.offset)
			}
		}
		if err != nil {
			return fmt.Errorf("exchange: write output: %w", err)
		}
	}
	return nil
}

// commit syncs and renames the temporary output into place.
func (o *output) commit() error {
	o.mu.Lock()
	var firstErr error
	for k, fh := range o.direct {
		// Direct writes are on the device; the sync commits the file's block allocation.
		if err := fh.Sync(); err != nil && firstErr == nil {
			firstErr = err
		}
		if err := fh.Close(); err != nil && firstErr == nil {
			firstErr = err
		}
		delete(o.direct, k)
	}
	for k, fh := range o.open {
		if err := fh.Sync(); err != nil && firstErr == nil {
			firstErr = err
		}
		if err := fh.Close(); err != nil && firstErr == nil {
			firstErr = err
		}
		delete(o.open, k)
	}
	o.mu.Unlock()
	if o.root != nil {
		_ = o.root.Close()
		o.root = nil
	}
	// On failure the temporary stays for abort, which keeps it when it is resume state.
	if firstErr != nil {
		return fmt.Errorf("exchange: sync output: %w", firstErr)
	}
	if _, err := os.Lstat(o.target); err == nil {
		return fmt.Errorf("%w: %s", ErrExists, o.target)
	}
	if err := os.Rename(o.tmp, o.target); err != nil {
		return fmt.Errorf("exchange: rename output: %w", err)
	}
	if d, err := os.Open(filepath.Dir(o.target)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// abort closes the temporary output and, unless keep, removes it.
func (o *output) abort(keep bool) {
	o.mu.Lock()
	for k, fh := range o.open {
		_ = fh.Close()
		delete(o.open, k)
	}
	for k, fh := range o.direct {
		_ = fh.Close()
		delete(o.direct, k)
	}
	o.mu.Unlock()
	if o.root != nil {
		_ = o.root.Close()
		o.root = nil
	}
	if !keep {
		_ = os.RemoveAll(o.tmp)
	}
}
