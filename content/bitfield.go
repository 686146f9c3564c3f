package content

import (
	"errors"
	"fmt"
	"math/bits"
)

// ErrBitfield: a bitfield encoding of the wrong length or with bits set past its end.
var ErrBitfield = errors.New("content: malformed bitfield")

// Bitfield records which pieces of one content are held, one bit per content-wide
// piece (Manifest.Piece numbering): the blockstore keeps one per content, the exchange
// sends them in have messages and tracks each provider's. The layout is BitTorrent's:
// piece 0 is the most significant bit of byte 0 and spare bits in the last byte are
// zero; it is the form on disk and on the wire.
//
// A nil *Bitfield reads as empty, of length 0. A Bitfield is not safe for concurrent
// use; owners hand out copies (Clone).
type Bitfield struct {
	n    int
	bits []byte
}

// NewBitfield returns an all-clear bitfield for n pieces.
func NewBitfield(n int) *Bitfield { return &Bitfield{n: n, bits: make([]byte, (n+7)/8)} }

// BitfieldFromBytes decodes Bytes' output for n pieces (from disk or a peer); the bytes
// are copied. It returns an error wrapping ErrBitfield if the length is wrong or a
// spare bit is set.
func BitfieldFromBytes(n int, b []byte) (*Bitfield, error) {
	if n < 0 || len(b) != (n+7)/8 {
		return nil, fmt.Errorf("%w: %d bytes for %d pieces", ErrBitfield, len(b), n)
	}
	if n%8 != 0 && b[len(b)-1]&(0xff>>(n%8)) != 0 {
		return nil, fmt.Errorf("%w: bits set past piece %d", ErrBitfield, n)
	}
	return &Bitfield{n: n, bits: append([]byte(nil), b...)}, nil
}

// Len is the number of pieces.
func (b *Bitfield) Len() int {
	if b == nil {
		return 0
	}
	return b.n
}

// Has reports whether piece i is set (false out of range).
func (b *Bitfield) Has(i int) bool {
	return i >= 0 && i < b.Len() && b.bits[i/8]&(0x80>>(i%8)) != 0
}

// Set marks piece i; out of range is ignored.
func (b *Bitfield) Set(i int) {
	if i >= 0 && i < b.Len() {
		b.bits[i/8] |= 0x80 >> (i % 8)
	}
}

// Clear unmarks piece i; out of range is ignored.
func (b *Bitfield) Clear(i int) {
	if i >= 0 && i < b.Len() {
		b.bits[i/8] &^= 0x80 >> (i % 8)
	}
}

// SetAll marks every piece.
func (b *Bitfield) SetAll() {
	for i := 0; i < b.Len(); i++ {
		b.Set(i)
	}
}

// Count is the number of pieces set.
func (b *Bitfield) Count() int {
	if b == nil {
		return 0
	}
	c := 0
	for _, x := range b.bits {
		c += bits.OnesCount8(x)
	}
	return c
}

// Complete reports whether every piece is set.
func (b *Bitfield) Complete() bool { return b.Count() == b.Len() }

// Bytes is the disk and wire form (a copy).
func (b *Bitfield) Bytes() []byte {
	if b == nil {
		return []byte{}
	}
	return append([]byte(nil), b.bits...)
}

// EncodedLen is len(Bytes()), without the copy.
func (b *Bitfield) EncodedLen() int { return (b.Len() + 7) / 8 }

// AppendTo appends the encoding (Bytes) to dst.
func (b *Bitfield) AppendTo(dst []byte) []byte {
	if b == nil {
		return dst
	}
	return append(dst, b.bits...)
}

// Clone returns an independent copy.
func (b *Bitfield) Clone() *Bitfield { return &Bitfield{n: b.Len(), bits: b.Bytes()} }
