package content

import (
	"bytes"
	"errors"
	"testing"
)

func TestBitfield(t *testing.T) {
	b := NewBitfield(10)
	for _, i := range []int{0, 3, 9, -1, 10} {
		b.Set(i)
	}
	if !b.Has(0) || !b.Has(3) || !b.Has(9) || b.Has(1) || b.Has(10) || b.Has(-1) {
		t.Fatalf("bits wrong: %08b", b.Bytes())
	}
	if b.Count() != 3 || b.Complete() {
		t.Fatalf("count %d", b.Count())
	}
	if !bytes.Equal(b.Bytes(), []byte{0b10010000, 0b01000000}) {
		t.Fatalf("encoding %08b", b.Bytes())
	}
	c := b.Clone()
	c.Set(1)
	if b.Has(1) {
		t.Fatal("clone aliases")
	}
}

// TestBitfieldNil: a nil bitfield reads as empty (a message that carries none).
func TestBitfieldNil(t *testing.T) {
	var b *Bitfield
	if b.Len() != 0 || b.Has(0) || b.Count() != 0 || !b.Complete() || len(b.Bytes()) != 0 || b.EncodedLen() != 0 || len(b.AppendTo(nil)) != 0 {
		t.Fatal("nil bitfield is not empty")
	}
	b.Set(0)
	b.Clear(0)
}

// FuzzBitfieldFromBytes: a bitfield either is refused with ErrBitfield (a peer's have message, a damaged meta record) or round-trips, and
// Count agrees with Has.
func FuzzBitfieldFromBytes(f *testing.F) {
	f.Add(10, []byte{0b10010000, 0b01000000})
	f.Add(8, []byte{0xFF})
	f.Add(0, []byte{})
	f.Add(3, []byte{0xFF})
	f.Fuzz(func(t *testing.T, n int, b []byte) {
		if n > 1<<16 {
			return
		}
		bf, err := BitfieldFromBytes(n, b)
		if err != nil {
			if !errors.Is(err, ErrBitfield) {
				t.Fatalf("error not ErrBitfield: %v", err)
			}
			return
		}
		if !bytes.Equal(bf.Bytes(), b) || bf.Len() != n {
			t.Fatal("round trip differs")
		}
		c := 0
		for i := 0; i < n; i++ {
			if bf.Has(i) {
				c++
			}
		}
		if c != bf.Count() {
			t.Fatalf("Count %d, Has says %d", bf.Count(), c)
		}
	})
}
