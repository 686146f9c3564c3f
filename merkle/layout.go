package merkle

import (
	"fmt"
	"math/bits"
)

const (
	// BlockSize is the leaf size of BEP 52: every leaf is the SHA-256 of one
	// 16 KiB block of the file (the last block short, hashed as it is).
	BlockSize = 16 << 10
	// MinPieceSize is the smallest piece: one block.
	MinPieceSize = BlockSize
	// DefaultPieceSize is the piece size used by add unless told otherwise:
	// 256 KiB keeps the piece layer of a 1 GiB file at 128 KiB while a piece
	// is still small enough to fetch, verify and retry cheaply.
	DefaultPieceSize = 256 << 10
	// MaxPieceSize bounds the memory one piece takes while it is hashed or
	// transferred.
	MaxPieceSize = 16 << 20
	// MaxFileSize bounds the sizes this package accepts (1 PiB), so every
	// count below fits an int on 64-bit machines with room to spare.
	MaxFileSize = 1 << 50
)

// ValidPieceSize returns nil if n is a power of two in [MinPieceSize,
// MaxPieceSize], else an error wrapping ErrPieceSize.
func ValidPieceSize(n int64) error {
	if n < MinPieceSize || n > MaxPieceSize || n&(n-1) != 0 {
		return fmt.Errorf("%w: %d (want a power of two from %d to %d)", ErrPieceSize, n, MinPieceSize, MaxPieceSize)
	}
	return nil
}

// Layout is the shape of one file's tree: how many blocks and pieces it has,
// how tall a piece subtree is and how wide the padded piece layer is. It is a
// pure function of (size, piece size); the root itself does not depend on the
// piece size, only the piece layer does.
type Layout struct {
	size      int64
	pieceSize int64
}

// NewLayout checks size and pieceSize and returns the layout. A size of 0 is
// allowed (an empty file: no pieces, no root); ErrSize and ErrPieceSize report
// bad arguments.
func NewLayout(size, pieceSize int64) (Layout, error) {
	if size < 0 || size > MaxFileSize {
		return Layout{}, fmt.Errorf("%w: %d", ErrSize, size)
	}
	if err := ValidPieceSize(pieceSize); err != nil {
		return Layout{}, err
	}
	return Layout{size: size, pieceSize: pieceSize}, nil
}

// Size is the file size in bytes.
func (l Layout) Size() int64 { return l.size }

// PieceSize is the nominal piece size in bytes (every piece but the last is this long).
func (l Layout) PieceSize() int64 { return l.pieceSize }

// NumBlocks is the number of 16 KiB leaves that carry data.
func (l Layout) NumBlocks() int64 { return (l.size + BlockSize - 1) / BlockSize }

// NumPieces is the number of pieces (0 for an empty file).
func (l Layout) NumPieces() int { return int((l.size + l.pieceSize - 1) / l.pieceSize) }

// PieceOffset is the byte offset of piece i in the file.
func (l Layout) PieceOffset(i int) int64 { return int64(i) * l.pieceSize }

// PieceLen is the length in bytes of piece i (the last one may be short); 0
// if i is out of range.
func (l Layout) PieceLen(i int) int {
	if i < 0 || i >= l.NumPieces() {
		return 0
	}
	return int(min(l.pieceSize, l.size-l.PieceOffset(i)))
}

// PieceHeight is the height of a piece's subtree: log2(PieceSize/BlockSize),
// except for a file of one piece, whose only piece is the whole tree, padded
// to the next power of two of its own blocks (that is what makes the root
// independent of the piece size).
func (l Layout) PieceHeight() int {
	if l.NumPieces() <= 1 {
		return ceilLog2(l.NumBlocks())
	}
	return bits.TrailingZeros64(uint64(l.pieceSize / BlockSize))
}

// LayerHeight is the height of the tree above the piece layer: the number of
// uncle hashes in the proof of one piece.
func (l Layout) LayerHeight() int { return ceilLog2(int64(l.NumPieces())) }

// LayerWidth is the width of the padded piece layer: the next power of two of
// NumPieces.
func (l Layout) LayerWidth() int { return 1 << l.LayerHeight() }

// HasPieceLayer reports whether BEP 52 would carry a piece layer for this
// file: only files of more than one piece have one; a smaller file's single
// piece is verified against the root directly.
func (l Layout) HasPieceLayer() bool { return l.NumPieces() > 1 }

// PieceID is the identity of piece i: the root of its subtree and the height
// of that subtree. Root is the piece-layer entry, supplied by the caller.
func (l Layout) PieceID(root Hash) PieceID {
	return PieceID{Root: root, Height: uint8(l.PieceHeight())}
}

// ceilLog2 returns the smallest h with 2^h >= n (0 for n <= 1).
func ceilLog2(n int64) int {
	if n <= 1 {
		return 0
	}
	return 64 - bits.LeadingZeros64(uint64(n-1))
}
