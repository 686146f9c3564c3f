package content

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/dhtnode/dhtnode/merkle"
)

const (
	// Version is the manifest format this package writes and reads.
	Version = 1
	// MaxManifestSize bounds an encoded manifest (what a peer may send us):
	// 16 MiB holds the piece layers of about 100 GiB at 256 KiB pieces, and Add
	// raises the piece size for bigger content to stay under it.
	MaxManifestSize = 16 << 20
	// MaxFiles bounds the number of files in a directory manifest.
	MaxFiles = 1 << 20
	// MaxPathLen bounds a relative path; MaxNameLen one path component.
	MaxPathLen = 4096
	MaxNameLen = 255
)

// Kind says whether a manifest describes one file or a directory.
type Kind string

const (
	KindFile Kind = "file" // one file; Files[0].Path == Name
	KindDir  Kind = "dir"  // a directory named Name; paths are relative to it
)

// Manifest describes content: what add produced and what get needs to
// rebuild and verify it. Treat a Manifest as immutable once built or decoded.
type Manifest struct {
	Kind      Kind
	Name      string // file or directory name: one path component
	Size      int64  // total bytes, the sum of Files[].Size
	PieceSize int64  // piece size of every file (a power of two ≥ 16 KiB)
	Files     []File // sorted by Path, no duplicates; each file starts at a piece boundary

	idx *pieceIndex // built by Decode and Build; nil means compute on demand
}

// File is one file of the content.
type File struct {
	Path string      // slash-separated, relative to the directory (the name itself for KindFile)
	Size int64       // bytes
	Root merkle.Hash // BEP 52 pieces root; zero for an empty file (it has none)
	// Layer is the piece layer: one hash per piece, present only when the file
	// has more than one piece (BEP 52's rule); a file of one piece is verified
	// against Root directly.
	Layer []merkle.Hash
}

// Layout is the file's Merkle layout under the manifest's piece size.
func (m *Manifest) Layout(file int) (merkle.Layout, error) {
	if file < 0 || file >= len(m.Files) {
		return merkle.Layout{}, fmt.Errorf("%w: file %d of %d", ErrRange, file, len(m.Files))
	}
	return merkle.NewLayout(m.Files[file].Size, m.PieceSize)
}

// wire types: the JSON form. Field order is fixed by the structs and every
// value has one encoding, so Encode is deterministic and Decode can insist on
// the canonical bytes (it re-encodes and compares).
type wireManifest struct {
	Version   int        `json:"version"`
	Kind      Kind       `json:"kind"`
	Name      string     `json:"name"`
	Size      int64      `json:"size"`
	PieceSize int64      `json:"pieceSize"`
	Files     []wireFile `json:"files"`
}

type wireFile struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	Root  string `json:"root,omitempty"`       // hex; absent for an empty file
	Layer []byte `json:"pieceLayer,omitempty"` // base64 of the concatenated hashes
}

// Encode validates m and returns its canonical encoding, whose sha2-256 is the
// content ID. It returns ErrInvalid, ErrUnsafePath or ErrTooLarge.
func Encode(m *Manifest) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return encode(m)
}

func encode(m *Manifest) ([]byte, error) {
	w := wireManifest{Version: Version, Kind: m.Kind, Name: m.Name, Size: m.Size, PieceSize: m.PieceSize,
		Files: make([]wireFile, len(m.Files))}
	for i, f := range m.Files {
		wf := wireFile{Path: f.Path, Size: f.Size}
		if f.Size > 0 {
			wf.Root = f.Root.String()
		}
		if len(f.Layer) > 0 {
			wf.Layer = merkle.AppendProof(make([]byte, 0, len(f.Layer)*merkle.HashSize), f.Layer)
		}
		w.Files[i] = wf
	}
	b, err := json.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes > %d (use a larger piece size)", ErrTooLarge, len(b), MaxManifestSize)
	}
	return b, nil
}

// Decode checks that b is the manifest named by id (ErrHashMismatch if not),
// then parses and validates it. Always use Decode on bytes from a peer.
func Decode(id ID, b []byte) (*Manifest, error) {
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(b), MaxManifestSize)
	}
	if !id.Matches(b) {
		return nil, fmt.Errorf("%w: %s", ErrHashMismatch, id)
	}
	return Unmarshal(b)
}

// Unmarshal parses and validates an encoded manifest without an ID (the
// caller vouches for the bytes, e.g. it just encoded them). It accepts only
// the canonical encoding, so one content has one ID. Errors: ErrTooLarge,
// ErrMalformed, ErrInvalid, ErrUnsafePath.
func Unmarshal(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(b), MaxManifestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w wireManifest
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the manifest", ErrMalformed)
	}
	if w.Version != Version {
		return nil, fmt.Errorf("%w: version %d (this dhtnode reads version %d)", ErrMalformed, w.Version, Version)
	}
	m := &Manifest{Kind: w.Kind, Name: w.Name, Size: w.Size, PieceSize: w.PieceSize, Files: make([]File, len(w.Files))}
	for i, wf := range w.Files {
		f := File{Path: wf.Path, Size: wf.Size}
		if wf.Root != "" {
			h, err := merkle.ParseHash(wf.Root)
			if err != nil {
				return nil, fmt.Errorf("%w: file %q: root: %v", ErrMalformed, wf.Path, err)
			}
			if h.IsZero() {
				return nil, fmt.Errorf("%w: file %q: zero root", ErrInvalid, wf.Path)
			}
			f.Root = h
		} else if wf.Size > 0 {
			return nil, fmt.Errorf("%w: file %q of %d bytes has no root", ErrInvalid, wf.Path, wf.Size)
		}
		if len(wf.Layer)%merkle.HashSize != 0 {
			return nil, fmt.Errorf("%w: file %q: piece layer of %d bytes", ErrMalformed, wf.Path, len(wf.Layer))
		}
		if n := len(wf.Layer) / merkle.HashSize; n > 0 {
			f.Layer = make([]merkle.Hash, n)
			for j := range f.Layer {
				copy(f.Layer[j][:], wf.Layer[j*merkle.HashSize:])
			}
		}
		m.Files[i] = f
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	canon, err := encode(m)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, b) {
		return nil, fmt.Errorf("%w: not in canonical form (re-encode with this version of dhtnode)", ErrMalformed)
	}
	m.idx = newPieceIndex(m)
	return m, nil
}

// Validate checks every rule of the format: kind and name, a valid piece
// size, safe and unique paths in sorted order, sizes that add up, a root for
// every non-empty file, and a piece layer (for files of more than one piece)
// that hashes to the root. It returns an error wrapping ErrInvalid or
// ErrUnsafePath.
func (m *Manifest) Validate() error {
	switch m.Kind {
	case KindFile, KindDir:
	default:
		return fmt.Errorf("%w: kind %q (want %q or %q)", ErrInvalid, m.Kind, KindFile, KindDir)
	}
	if err := validName(m.Name); err != nil {
		return fmt.Errorf("%w: name: %v", ErrUnsafePath, err)
	}
	if err := merkle.ValidPieceSize(m.PieceSize); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(m.Files) > MaxFiles {
		return fmt.Errorf("%w: %d files > %d", ErrInvalid, len(m.Files), MaxFiles)
	}
	if m.Kind == KindFile && (len(m.Files) != 1 || m.Files[0].Path != m.Name) {
		return fmt.Errorf("%w: a file manifest has exactly one file, whose path is its name", ErrInvalid)
	}
	if err := validPaths(m.Files); err != nil {
		return err
	}
	var total int64
	for _, f := range m.Files {
		l, err := merkle.NewLayout(f.Size, m.PieceSize)
		if err != nil {
			return fmt.Errorf("%w: file %q: %v", ErrInvalid, f.Path, err)
		}
		total += f.Size
		if total > merkle.MaxFileSize {
			return fmt.Errorf("%w: total size over %d", ErrInvalid, int64(merkle.MaxFileSize))
		}
		if f.Size == 0 {
			if !f.Root.IsZero() || len(f.Layer) > 0 {
				return fmt.Errorf("%w: empty file %q has a root or pieces", ErrInvalid, f.Path)
			}
			continue
		}
		if f.Root.IsZero() {
			return fmt.Errorf("%w: file %q of %d bytes has no root", ErrInvalid, f.Path, f.Size)
		}
		if !l.HasPieceLayer() {
			if len(f.Layer) > 0 {
				return fmt.Errorf("%w: file %q has one piece but a piece layer", ErrInvalid, f.Path)
			}
			continue
		}
		if err := merkle.VerifyLayer(f.Root, l, f.Layer); err != nil {
			return fmt.Errorf("%w: file %q: %v", ErrInvalid, f.Path, err)
		}
	}
	if total != m.Size {
		return fmt.Errorf("%w: size %d is not the sum of the files, %d", ErrInvalid, m.Size, total)
	}
	return nil
}

// validPaths enforces: every path safe, strictly sorted (so no duplicates
// and one canonical order), and no path both a file and a directory of
// another file ("a" and "a/b").
func validPaths(files []File) error {
	dirs := make(map[string]struct{})
	for i, f := range files {
		if err := ValidPath(f.Path); err != nil {
			return fmt.Errorf("%w: %q: %v", ErrUnsafePath, f.Path, err)
		}
		if i > 0 && files[i-1].Path >= f.Path {
			if files[i-1].Path == f.Path {
				return fmt.Errorf("%w: %q appears twice", ErrUnsafePath, f.Path)
			}
			return fmt.Errorf("%w: files not sorted by path (%q before %q)", ErrInvalid, files[i-1].Path, f.Path)
		}
		for j := strings.IndexByte(f.Path, '/'); j >= 0; j = nextSlash(f.Path, j) {
			dirs[f.Path[:j]] = struct{}{}
		}
	}
	for _, f := range files {
		if _, clash := dirs[f.Path]; clash {
			return fmt.Errorf("%w: %q is both a file and a directory", ErrUnsafePath, f.Path)
		}
	}
	return nil
}

func nextSlash(s string, j int) int {
	k := strings.IndexByte(s[j+1:], '/')
	if k < 0 {
		return -1
	}
	return j + 1 + k
}

// ValidPath reports whether p is a safe relative path for a file in the
// output directory: slash-separated components, none empty, "." or "..", no
// backslash, NUL or other control character, valid UTF-8, bounded length. An
// absolute path fails because its first component is empty.
func ValidPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty path")
	}
	if len(p) > MaxPathLen {
		return fmt.Errorf("path longer than %d bytes", MaxPathLen)
	}
	for _, c := range strings.Split(p, "/") {
		if err := validName(c); err != nil {
			return err
		}
	}
	return nil
}

func validName(c string) error {
	switch {
	case c == "":
		return fmt.Errorf("empty path component (absolute path or '//')")
	case c == "." || c == "..":
		return fmt.Errorf("path component %q", c)
	case len(c) > MaxNameLen:
		return fmt.Errorf("path component longer than %d bytes", MaxNameLen)
	case !utf8.ValidString(c):
		return fmt.Errorf("path is not valid UTF-8")
	}
	for _, r := range c {
		switch {
		case r == '/' || r == '\\':
			return fmt.Errorf("backslash or slash in a name")
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("control character %U in path", r)
		}
	}
	return nil
}

// pieceIndex maps content-wide piece numbers to files: every file starts at a
// piece boundary (as in BEP 52), so piece g is piece g-starts[f] of file f.
type pieceIndex struct {
	starts []int // starts[f] = first global piece of file f; starts[len] = total

	mu    sync.Mutex
	trees map[int]*merkle.Tree
}

func newPieceIndex(m *Manifest) *pieceIndex {
	starts := make([]int, len(m.Files)+1)
	for i, f := range m.Files {
		n := int((f.Size + m.PieceSize - 1) / m.PieceSize)
		starts[i+1] = starts[i] + n
	}
	return &pieceIndex{starts: starts, trees: make(map[int]*merkle.Tree)}
}

func (m *Manifest) index() *pieceIndex {
	if m.idx != nil {
		return m.idx
	}
	return newPieceIndex(m)
}

// NumPieces is the number of pieces of all files together: the length of the
// "have" bitfield of this content.
func (m *Manifest) NumPieces() int {
	s := m.index().starts
	return s[len(s)-1]
}

// PieceRef locates one piece of the content.
type PieceRef struct {
	Global int            // content-wide piece number
	File   int            // index into Files
	Index  int            // piece number within the file
	Offset int64          // byte offset within the file
	Len    int            // bytes in this piece
	ID     merkle.PieceID // what the bytes hash to: the blockstore key
}

// Piece maps a content-wide piece number to its file, position and PieceID.
// It returns ErrRange.
func (m *Manifest) Piece(global int) (PieceRef, error) {
	s := m.index().starts
	if global < 0 || global >= s[len(s)-1] {
		return PieceRef{}, fmt.Errorf("%w: piece %d of %d", ErrRange, global, s[len(s)-1])
	}
	f := sort.Search(len(m.Files), func(i int) bool { return s[i+1] > global })
	return m.FilePiece(f, global-s[f])
}

// FilePiece is Piece addressed by (file, piece within the file).
func (m *Manifest) FilePiece(file, index int) (PieceRef, error) {
	l, err := m.Layout(file)
	if err != nil {
		return PieceRef{}, err
	}
	if index < 0 || index >= l.NumPieces() {
		return PieceRef{}, fmt.Errorf("%w: piece %d of file %d (%d pieces)", ErrRange, index, file, l.NumPieces())
	}
	f := m.Files[file]
	root := f.Root
	if l.HasPieceLayer() {
		root = f.Layer[index]
	}
	return PieceRef{
		Global: m.index().starts[file] + index,
		File:   file, Index: index,
		Offset: l.PieceOffset(index), Len: l.PieceLen(index),
		ID: l.PieceID(root),
	}, nil
}

// FirstPiece is the content-wide number of file's first piece.
func (m *Manifest) FirstPiece(file int) int { return m.index().starts[file] }

// Tree returns the Merkle tree of a file (cached), for proofs. It returns
// ErrRange, or merkle.ErrEmpty for an empty file.
func (m *Manifest) Tree(file int) (*merkle.Tree, error) {
	l, err := m.Layout(file)
	if err != nil {
		return nil, err
	}
	idx := m.index()
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if t := idx.trees[file]; t != nil {
		return t, nil
	}
	f := m.Files[file]
	layer := f.Layer
	if !l.HasPieceLayer() && f.Size > 0 {
		layer = []merkle.Hash{f.Root}
	}
	t, err := merkle.NewTree(l, layer)
	if err != nil {
		return nil, err
	}
	if idx.trees != nil {
		idx.trees[file] = t
	}
	return t, nil
}

// RootHex is the file's root in hex for display (info), "" for an empty file.
func (f File) RootHex() string {
	if f.Size == 0 {
		return ""
	}
	return hex.EncodeToString(f.Root[:])
}
