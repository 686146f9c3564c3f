package blockstore

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzBitfield: a bitfield from a peer is rejected with ErrBitfield or
// round-trips, and its count never exceeds its length.
func FuzzBitfield(f *testing.F) {
	f.Add(10, []byte{0x80, 0x40})
	f.Add(8, []byte{0xff})
	f.Add(3, []byte{0x1f})
	f.Add(0, []byte{})
	f.Fuzz(func(t *testing.T, n int, b []byte) {
		bf, err := BitfieldFromBytes(n, b)
		if err != nil {
			if !errors.Is(err, ErrBitfield) {
				t.Fatal(err)
			}
			return
		}
		if !bytes.Equal(bf.Bytes(), b) || bf.Count() > bf.Len() || bf.Has(n) || bf.Has(-1) {
			t.Fatalf("bitfield %d %x misbehaves", n, b)
		}
	})
}

// FuzzPieceName: only canonical piece file names parse, and they round-trip.
func FuzzPieceName(f *testing.F) {
	f.Add("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	f.Add("not-a-piece")
	f.Add("")
	f.Fuzz(func(t *testing.T, name string) {
		id, ok := parseName(name)
		if ok && nameOf(id) != name {
			t.Fatalf("%q parsed but does not round-trip", name)
		}
	})
}
