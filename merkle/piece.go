package merkle

import (
	"crypto/sha256"
	"fmt"
)

// PieceIDSize is the length of PieceID's binary encoding: one height byte and the root.
const PieceIDSize = 1 + HashSize

// PieceID names a piece by its content: the Merkle root of its 16 KiB blocks,
// padded with zero leaves to a subtree of 2^Height leaves. For every piece of a
// multi-piece file, Root is the piece's entry in the piece layer and Height is
// log2(PieceSize/BlockSize); for a file of one piece, Root is the file's root.
// Carrying the height makes the ID self-verifying: Verify needs nothing but
// the data, which is what lets a blockstore check every read on its own.
type PieceID struct {
	Root   Hash
	Height uint8
}

// PieceIDOf hashes data as a piece subtree of 2^height leaves. It returns
// ErrLength if data is empty or does not fit the subtree.
func PieceIDOf(data []byte, height int) (PieceID, error) {
	if height < 0 || height > maxPieceHeight {
		return PieceID{}, fmt.Errorf("%w: piece height %d", ErrLength, height)
	}
	if len(data) == 0 || int64(len(data)) > int64(BlockSize)<<height {
		return PieceID{}, fmt.Errorf("%w: %d bytes for a subtree of %d blocks", ErrLength, len(data), 1<<height)
	}
	return PieceID{Root: HashPiece(data, height), Height: uint8(height)}, nil
}

// maxPieceHeight is the height of a MaxPieceSize piece.
const maxPieceHeight = 10 // 16 MiB / 16 KiB = 2^10

// String prints the ID as "h<height>-<hex root>" for logs.
func (id PieceID) String() string { return fmt.Sprintf("h%d-%s", id.Height, id.Root) }

// MaxLen is the largest piece that can have this ID.
func (id PieceID) MaxLen() int { return BlockSize << id.Height }

// Verify returns nil if data hashes to id, else an error wrapping ErrLength or
// ErrMismatch.
func (id PieceID) Verify(data []byte) error {
	got, err := PieceIDOf(data, int(id.Height))
	if err != nil {
		return err
	}
	if got.Root != id.Root {
		return fmt.Errorf("%w: piece %s hashes to %s", ErrMismatch, id, got.Root)
	}
	return nil
}

// MarshalBinary encodes the ID as the height byte followed by the 32-byte root.
func (id PieceID) MarshalBinary() ([]byte, error) {
	b := make([]byte, PieceIDSize)
	b[0] = id.Height
	copy(b[1:], id.Root[:])
	return b, nil
}

// UnmarshalBinary decodes MarshalBinary's output; it returns ErrMalformed for
// a wrong length or a height above that of MaxPieceSize.
func (id *PieceID) UnmarshalBinary(b []byte) error {
	if len(b) != PieceIDSize {
		return fmt.Errorf("%w: piece ID is %d bytes, want %d", ErrMalformed, len(b), PieceIDSize)
	}
	if b[0] > maxPieceHeight {
		return fmt.Errorf("%w: piece height %d > %d", ErrMalformed, b[0], maxPieceHeight)
	}
	id.Height = b[0]
	copy(id.Root[:], b[1:])
	return nil
}

// HashPiece returns the root of the subtree of 2^height leaves whose first
// leaves are the SHA-256 of data's 16 KiB blocks (the last one short, hashed
// as it is) and the rest zero hashes. HashPiece(file, ceil(log2(blocks))) is
// the BEP 52 root of a whole file. The caller guarantees 0 < len(data) <=
// 2^height * BlockSize; PieceIDOf checks it.
func HashPiece(data []byte, height int) Hash {
	var r reducer
	off := 0
	if has2x {
		for ; off+2*BlockSize <= len(data); off += 2 * BlockSize {
			a, b := sha256Pair(data[off:off+BlockSize], data[off+BlockSize:off+2*BlockSize])
			r.push(a)
			r.push(b)
		}
	}
	for ; off < len(data); off += BlockSize {
		r.push(sha256.Sum256(data[off:min(off+BlockSize, len(data))]))
	}
	return r.finish(height)
}

// reducer folds a stream of leaves into a Merkle root with O(height) memory:
// stack holds the completed left subtrees, one per set bit of count, tallest
// first (the classic binary-counter construction).
type reducer struct {
	stack [maxHeight + 1]Hash
	n     int    // entries in stack
	count uint64 // leaves pushed
}

func (r *reducer) push(leaf Hash) {
	node := leaf
	for c := r.count; c&1 == 1; c >>= 1 {
		r.n--
		node = hashPair(r.stack[r.n], node)
	}
	r.stack[r.n] = node
	r.n++
	r.count++
}

// finish pads the pushed leaves with zero leaves to 2^height and returns the
// root. It requires 1 <= count <= 2^height.
func (r *reducer) finish(height int) Hash {
	var node Hash
	have := false
	top := r.n - 1
	for level := 0; level < height; level++ {
		if r.count>>level&1 == 1 {
			left := r.stack[top]
			top--
			if have {
				node = hashPair(left, node)
			} else {
				node = hashPair(left, padHashes[level])
			}
			have = true
		} else if have {
			node = hashPair(node, padHashes[level])
		}
	}
	if !have {
		return r.stack[0]
	}
	return node
}
