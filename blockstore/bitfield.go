package blockstore

import "github.com/dhtnode/dhtnode/content"

// Bitfield is content's: which pieces of a content are present and verified. The
// names stay so the store's code reads as before.
type Bitfield = content.Bitfield

// ErrBitfield is content.ErrBitfield: a bitfield encoding of the wrong length or with
// bits set past its end.
var ErrBitfield = content.ErrBitfield

// NewBitfield returns an empty bitfield of n bits.
func NewBitfield(n int) *Bitfield { return content.NewBitfield(n) }

// BitfieldFromBytes decodes Bytes' output for n pieces; errors wrap ErrBitfield.
func BitfieldFromBytes(n int, b []byte) (*Bitfield, error) { return content.BitfieldFromBytes(n, b) }
