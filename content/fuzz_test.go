package content

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzUnmarshal requires the manifest decoder to reject with a sentinel or
// to round-trip byte-exactly (one content, one encoding, one ID), and every
// accepted manifest to be valid and safe to index.
func FuzzUnmarshal(f *testing.F) {
	m, _ := sampleManifest(&testing.T{})
	b, _ := Encode(m)
	f.Add(b)
	f.Add([]byte(`{"version":1,"kind":"file","name":"x","size":0,"pieceSize":16384,"files":[{"path":"x","size":0}]}`))
	f.Add([]byte(`{"version":1,"kind":"dir","name":"d","size":0,"pieceSize":16384,"files":[]}`))
	f.Add([]byte(`{"version":1,"kind":"dir","name":"d","size":0,"pieceSize":16384,"files":[{"path":"../x","size":0}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			for _, s := range []error{ErrMalformed, ErrInvalid, ErrUnsafePath, ErrTooLarge} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error without a sentinel: %v", err)
		}
		out, err := Encode(m)
		if err != nil {
			t.Fatalf("accepted manifest does not re-encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip differs:\n%q\n%q", b, out)
		}
		if _, err := Decode(NewID(b), b); err != nil {
			t.Fatal(err)
		}
		for g := 0; g < m.NumPieces() && g < 64; g++ {
			if _, err := m.Piece(g); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzParseID requires ParseID and IDFromBytes to reject with ErrInvalidID or
// return an ID that round-trips.
func FuzzParseID(f *testing.F) {
	id := NewID([]byte("seed"))
	f.Add(id.String(), id.Bytes())
	f.Add("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", []byte{1, 0x55, 0x12, 0x20})
	f.Add("", []byte{})
	f.Fuzz(func(t *testing.T, s string, b []byte) {
		if id, err := ParseID(s); err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("ParseID error without sentinel: %v", err)
			}
		} else if back, err := ParseID(id.String()); err != nil || back != id {
			t.Fatalf("ParseID(%q) does not round-trip", s)
		}
		if id, err := IDFromBytes(b); err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("IDFromBytes error without sentinel: %v", err)
			}
		} else if !bytes.Equal(id.Bytes(), b) {
			t.Fatalf("IDFromBytes(%x) does not round-trip", b)
		}
	})
}
