package blockstore

import (
	"errors"
	"fmt"
	"math/bits"
)

// ErrBitfield: a bitfield encoding of the wrong length or with bits set past its end.
var ErrBitfield = errors.New("blockstore: malformed bitfield")

// Bitfield records which pieces of a content are present and verified, one
// bit per content-wide piece, most significant bit first (BitTorrent order).
// A Bitfield is not safe for concurrent use; the Store hands out copies.
type Bitfield struct {
	n    int
	bits []byte
}

// NewBitfield returns an empty bitfield of n bits.
func NewBitfield(n int) *Bitfield { return &Bitfield{n: n, bits: make([]byte, (n+7)/8)} }

// BitfieldFromBytes decodes Bytes' output for n pieces (e.g. from a peer). It
// returns ErrBitfield if the length is wrong or a spare bit is set.
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
func (b *Bitfield) Len() int { return b.n }

// Has reports whether piece i is present (false out of range).
func (b *Bitfield) Has(i int) bool {
	return i >= 0 && i < b.n && b.bits[i/8]&(0x80>>(i%8)) != 0
}

// Set marks piece i present; out of range is ignored.
func (b *Bitfield) Set(i int) {
	if i >= 0 && i < b.n {
		b.bits[i/8] |= 0x80 >> (i % 8)
	}
}

// Clear marks piece i missing.
func (b *Bitfield) Clear(i int) {
	if i >= 0 && i < b.n {
		b.bits[i/8] &^= 0x80 >> (i % 8)
	}
}

// SetAll marks every piece present.
func (b *Bitfield) SetAll() {
	for i := 0; i < b.n; i++ {
		b.Set(i)
	}
}

// Count is the number of pieces present.
func (b *Bitfield) Count() int {
	c := 0
	for _, x := range b.bits {
		c += bits.OnesCount8(x)
	}
	return c
}

// Complete reports whether every piece is present.
func (b *Bitfield) Complete() bool { return b.Count() == b.n }

// Bytes is the wire and disk form (a copy).
func (b *Bitfield) Bytes() []byte { return append([]byte(nil), b.bits...) }

// Clone returns an independent copy.
func (b *Bitfield) Clone() *Bitfield { return &Bitfield{n: b.n, bits: b.Bytes()} }
