package exchange

import (
	"fmt"
	"math/bits"
)

// Bitfield records which pieces of one content ID a peer holds: bit i set = piece i held.
// It is BitTorrent's layout: piece 0 is the most significant bit of byte 0, spare bits in the
// last byte are zero. The zero value is an empty bitfield of length 0.
type Bitfield struct {
	n    int
	bits []byte
}

// NewBitfield returns an all-clear bitfield for n pieces.
func NewBitfield(n int) Bitfield {
	return Bitfield{n: n, bits: make([]byte, (n+7)/8)}
}

// BitfieldFromBytes checks and wraps an encoded bitfield for n pieces. The bytes are copied.
// It fails with ErrMalformed when the length is wrong or a spare bit is set.
func BitfieldFromBytes(n int, b []byte) (Bitfield, error) {
	if n < 0 || len(b) != (n+7)/8 {
		return Bitfield{}, fmt.Errorf("%w: bitfield of %d bytes for %d pieces", ErrMalformed, len(b), n)
	}
	if spare := n % 8; spare != 0 && b[len(b)-1]&(0xFF>>spare) != 0 {
		return Bitfield{}, fmt.Errorf("%w: spare bits set in bitfield", ErrMalformed)
	}
	return Bitfield{n: n, bits: append([]byte(nil), b...)}, nil
}

// Len is the number of pieces the bitfield covers.
func (b Bitfield) Len() int { return b.n }

// Bytes is the wire encoding; it aliases the bitfield.
func (b Bitfield) Bytes() []byte { return b.bits }

// Has reports whether piece i is set; out-of-range indices are never set.
func (b Bitfield) Has(i int) bool {
	if i < 0 || i >= b.n {
		return false
	}
	return b.bits[i/8]&(0x80>>(i%8)) != 0
}

// Set marks piece i; out-of-range indices are ignored.
func (b Bitfield) Set(i int) {
	if i < 0 || i >= b.n {
		return
	}
	b.bits[i/8] |= 0x80 >> (i % 8)
}

// Count is the number of pieces set.
func (b Bitfield) Count() int {
	c := 0
	for _, x := range b.bits {
		c += bits.OnesCount8(x)
	}
	return c
}

// Full reports whether every piece is set.
func (b Bitfield) Full() bool { return b.Count() == b.n }

// Clone returns an independent copy.
func (b Bitfield) Clone() Bitfield {
	return Bitfield{n: b.n, bits: append([]byte(nil), b.bits...)}
}
