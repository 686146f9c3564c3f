package exchange

import (
	"fmt"
	"sync"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// ManifestDecoder checks a manifest block against its content ID and parses it. The node
// passes content.Decode (New's default); tests pass their own to reach the exchange with
// manifests content would refuse. It must return an error for a block that does not hash
// to id. The exchange checks every file's piece layer against its root itself, and every
// path when it writes a directory (CheckPath).
type ManifestDecoder func(id content.ID, block []byte) (*content.Manifest, error)

// decodePlan checks a manifest block and numbers its pieces.
func (x *Exchange) decodePlan(id content.ID, raw []byte) (*plan, error) {
	m, err := x.decode(id, raw)
	if err != nil {
		return nil, err
	}
	dir := m.Kind == content.KindDir
	if !dir && (m.Kind != content.KindFile || len(m.Files) != 1) {
		return nil, fmt.Errorf("exchange: a single-file manifest must list one file")
	}
	files := make([]planFile, len(m.Files))
	for i, f := range m.Files {
		l, err := merkle.NewLayout(f.Size, m.PieceSize)
		if err != nil {
			return nil, fmt.Errorf("exchange: manifest file %q: %w", f.Path, err)
		}
		// A single file is written at the output path itself, whatever its name.
		pf := planFile{size: f.Size, root: f.Root, layout: l}
		if dir {
			pf.path = f.Path
		}
		if l.NumPieces() > 0 {
			layer := f.Layer
			if !l.HasPieceLayer() {
				layer = []merkle.Hash{f.Root}
			}
			if err := merkle.VerifyLayer(f.Root, l, layer); err != nil {
				return nil, fmt.Errorf("exchange: manifest file %q: %w", f.Path, err)
			}
			if pf.tree, err = merkle.NewTree(l, layer); err != nil {
				return nil, err
			}
		}
		files[i] = pf
	}
	return newPlan(id, raw, m.Name, dir, files)
}

// plan is a checked manifest flattened into the one piece list the protocol numbers: the
// pieces of the first file, then the second, and so on (files in manifest order, empty files
// have none). Piece indices on the wire and bits in a have bitfield are indices into
// plan.pieces. A plan is immutable.
type plan struct {
	id     content.ID
	raw    []byte
	name   string
	dir    bool
	files  []planFile
	pieces []planPiece
	size   int64
	// same lists, for pieces whose ID occurs more than once (a file of zeros), every index
	// with that ID, so one delivery fills them all.
	same map[merkle.PieceID][]int
}

// planFile is one file of a manifest with the tree that proves its pieces.
type planFile struct {
	path   string // slash-separated, relative; "" for a single-file manifest
	size   int64
	root   merkle.Hash
	layout merkle.Layout
	tree   *merkle.Tree // nil for an empty file
	first  int          // index of its first piece in plan.pieces
}

// planPiece is one piece of a plan.
type planPiece struct {
	file   int
	index  int // within the file
	id     merkle.PieceID
	length int
	offset int64 // within the file
}

// newPlan numbers the pieces of files. Every file's tree must already be checked against its
// root (the manifest decoder does that).
func newPlan(id content.ID, raw []byte, name string, dir bool, files []planFile) (*plan, error) {
	p := &plan{id: id, raw: raw, name: name, dir: dir, files: files}
	counts := make(map[merkle.PieceID]int)
	for f := range p.files {
		pf := &p.files[f]
		pf.first = len(p.pieces)
		p.size += pf.size
		n := pf.layout.NumPieces()
		if n > 0 && pf.tree == nil {
			return nil, fmt.Errorf("exchange: file %q has pieces but no tree", pf.path)
		}
		if len(p.pieces)+n > DefaultMaxPieces {
			return nil, fmt.Errorf("exchange: manifest has more than %d pieces", DefaultMaxPieces)
		}
		for i := 0; i < n; i++ {
			pid, err := pf.tree.PieceID(i)
			if err != nil {
				return nil, err
			}
			counts[pid]++
			p.pieces = append(p.pieces, planPiece{file: f, index: i, id: pid, length: pf.layout.PieceLen(i), offset: pf.layout.PieceOffset(i)})
		}
	}
	for i, pc := range p.pieces {
		if counts[pc.id] > 1 {
			if p.same == nil {
				p.same = make(map[merkle.PieceID][]int)
			}
			p.same[pc.id] = append(p.same[pc.id], i)
		}
	}
	return p, nil
}

// pieceLen is the length of piece i (0 if out of range).
func (p *plan) pieceLen(i int) int {
	if i < 0 || i >= len(p.pieces) {
		return 0
	}
	return p.pieces[i].length
}

// proof returns the uncle hashes proving piece i against its file's root.
func (p *plan) proof(i int) ([]merkle.Hash, error) {
	pc := p.pieces[i]
	return p.files[pc.file].tree.Proof(pc.index, 1)
}

// verify checks piece i's data against the manifest: its hash must be the piece-layer entry,
// and, when a proof came with it, the proof must lead from that entry to the file's root.
// Either check alone would do given a checked manifest; doing both costs a few hashes and
// keeps the proof path exercised.
func (p *plan) verify(i int, data []byte, proof []merkle.Hash) error {
	pc := p.pieces[i]
	if len(data) != pc.length {
		return fmt.Errorf("piece %d: %d bytes, want %d: %w", i, len(data), pc.length, merkle.ErrLength)
	}
	got := merkle.HashPiece(data, int(pc.id.Height))
	if got != pc.id.Root {
		return fmt.Errorf("piece %d hashes to %s, want %s: %w", i, got, pc.id.Root, merkle.ErrMismatch)
	}
	if proof != nil {
		f := p.files[pc.file]
		if err := merkle.VerifyRange(f.root, f.layout, pc.index, []merkle.Hash{got}, proof); err != nil {
			return fmt.Errorf("piece %d proof: %w", i, err)
		}
	}
	return nil
}

// planCache keeps recently used plans so a server does not re-decode a manifest per request.
type planCache struct {
	mu    sync.Mutex
	max   int
	plans map[content.ID]*plan
	order []content.ID
}

func newPlanCache(max int) *planCache {
	return &planCache{max: max, plans: make(map[content.ID]*plan)}
}

func (c *planCache) get(id content.ID) *plan {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.plans[id]
}

func (c *planCache) add(p *plan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := p.id
	if _, ok := c.plans[k]; ok {
		return
	}
	if len(c.order) >= c.max {
		delete(c.plans, c.order[0])
		c.order = c.order[1:]
	}
	c.plans[k] = p
	c.order = append(c.order, k)
}
