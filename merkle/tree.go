package merkle

import "fmt"

// Root returns the BEP 52 root ("pieces root") of a file held in memory:
// the leaves are the SHA-256 of each 16 KiB block, padded with zero hashes to
// the next power of two. It returns ErrEmpty for an empty file. Use Builder to
// hash a file without holding it.
func Root(data []byte) (Hash, error) {
	if len(data) == 0 {
		return Hash{}, ErrEmpty
	}
	return HashPiece(data, ceilLog2(int64((len(data)+BlockSize-1)/BlockSize))), nil
}

// Tree is the part of a file's Merkle tree above the piece layer: every level
// from the padded piece layer up to the root. It is what a seeder keeps to
// answer proof requests, and it is small (2 × LayerWidth hashes, 256 KiB for a
// 1 GiB file of 256 KiB pieces). A Tree is immutable and safe for concurrent use.
type Tree struct {
	layout Layout
	levels [][]Hash // levels[0] is the padded piece layer; the last level is [root]
}

// NewTree builds the tree over a piece layer: one hash per piece, as
// Layout.PieceID and Builder define them (for a file of one piece, the layer is
// [root]). It returns ErrEmpty for an empty file and ErrProof if the layer has
// the wrong number of hashes. It does not check the layer against any root: use
// VerifyLayer, or compare Root() with the root you trust.
func NewTree(l Layout, layer []Hash) (*Tree, error) {
	n := l.NumPieces()
	if n == 0 {
		return nil, ErrEmpty
	}
	if len(layer) != n {
		return nil, fmt.Errorf("%w: piece layer has %d hashes, file has %d pieces", ErrProof, len(layer), n)
	}
	width := l.LayerWidth()
	level := make([]Hash, width)
	copy(level, layer)
	pad := padHashes[l.PieceHeight()]
	for i := n; i < width; i++ {
		level[i] = pad
	}
	levels := [][]Hash{level}
	for len(level) > 1 {
		up := make([]Hash, len(level)/2)
		for i := range up {
			up[i] = hashPair(level[2*i], level[2*i+1])
		}
		levels = append(levels, up)
		level = up
	}
	return &Tree{layout: l, levels: levels}, nil
}

// Layout is the shape of the file this tree covers.
func (t *Tree) Layout() Layout { return t.layout }

// Root is the file's Merkle root (its BEP 52 pieces root).
func (t *Tree) Root() Hash { return t.levels[len(t.levels)-1][0] }

// PieceLayer returns a copy of the piece layer without padding: one hash per piece.
func (t *Tree) PieceLayer() []Hash {
	return append([]Hash(nil), t.levels[0][:t.layout.NumPieces()]...)
}

// PieceID returns the ID of piece i, or ErrRange.
func (t *Tree) PieceID(i int) (PieceID, error) {
	if i < 0 || i >= t.layout.NumPieces() {
		return PieceID{}, fmt.Errorf("%w: piece %d of %d", ErrRange, i, t.layout.NumPieces())
	}
	return t.layout.PieceID(t.levels[0][i]), nil
}

// Proof returns the uncle hashes that prove pieces [first, first+count)
// against the root: walking up from the piece layer, at each level the left
// neighbour of the range if the range starts at an odd index, then the right
// neighbour if it ends at an odd one. A single piece needs LayerHeight hashes;
// a range needs at most two per level. It returns ErrRange for a bad range.
func (t *Tree) Proof(first, count int) ([]Hash, error) {
	if err := checkRange(t.layout, first, count); err != nil {
		return nil, err
	}
	var uncles []Hash
	a, b := first, first+count
	for k := 0; k < len(t.levels)-1; k++ {
		if a&1 == 1 {
			uncles = append(uncles, t.levels[k][a-1])
			a--
		}
		if b&1 == 1 {
			uncles = append(uncles, t.levels[k][b])
			b++
		}
		a, b = a/2, b/2
	}
	return uncles, nil
}

// ProofLen is the number of uncle hashes in the proof of pieces
// [first, first+count) of a file with layout l (0 if the range is invalid).
func ProofLen(l Layout, first, count int) int {
	if checkRange(l, first, count) != nil {
		return 0
	}
	n := 0
	a, b := first, first+count
	for k := 0; k < l.LayerHeight(); k++ {
		n += a & 1
		n += b & 1
		a, b = (a-a&1)/2, (b+b&1)/2
	}
	return n
}

func checkRange(l Layout, first, count int) error {
	n := l.NumPieces()
	if n == 0 {
		return ErrEmpty
	}
	if first < 0 || count < 1 || first >= n || count > n-first {
		return fmt.Errorf("%w: pieces [%d, %d+%d) of %d", ErrRange, first, first, count, n)
	}
	return nil
}

// RootFromLayer computes the root over a piece layer (see NewTree for its
// shape). It returns ErrEmpty or ErrProof like NewTree.
func RootFromLayer(l Layout, layer []Hash) (Hash, error) {
	t, err := NewTree(l, layer)
	if err != nil {
		return Hash{}, err
	}
	return t.Root(), nil
}
