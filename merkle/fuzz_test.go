package merkle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
)

// fuzzData is generated once: the fuzzer runs the target many times per second.
var fuzzData = sync.OnceValue(func() []byte { return fixtureData(40 * 16 * kib) })

// FuzzVerify builds a real tree from a size the fuzzer picks, lets it choose
// a range and tamper with the data, the proof, the index and the root, and
// requires VerifyPieces to accept exactly the untampered input. Accepting
// anything else would need a SHA-256 collision.
func FuzzVerify(f *testing.F) {
	f.Add(uint32(5*16*kib+3), uint8(0), uint16(1), uint8(1), []byte{}, []byte{})
	f.Add(uint32(100), uint8(1), uint16(0), uint8(1), []byte{0}, []byte{})
	f.Add(uint32(33*16*kib), uint8(0), uint16(7), uint8(5), []byte{3, 1}, []byte{9, 0xff})
	f.Add(uint32(3*32*kib-1), uint8(1), uint16(2), uint8(1), []byte{}, []byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, size uint32, psLog uint8, first uint16, count uint8, proofEdit, dataEdit []byte) {
		size = 1 + size%(40*16*kib)
		ps := int64(MinPieceSize) << (psLog % 3)
		data := fuzzData()[:size]
		tree := build(t, data, BuilderConfig{PieceSize: ps, Workers: 1})
		l := tree.Layout()
		n := l.NumPieces()
		f0, c := int(first)%(n+1), int(count)%4
		proof, err := tree.Proof(f0, c)
		valid := err == nil
		if !valid {
			proof = nil
		}
		pieces := make([][]byte, 0, c)
		for i := f0; i < f0+c; i++ {
			if i < n {
				off := l.PieceOffset(i)
				pieces = append(pieces, append([]byte(nil), data[off:off+int64(l.PieceLen(i))]...))
			} else {
				pieces = append(pieces, []byte{1})
			}
		}
		orig := make([][]byte, len(pieces))
		for i, p := range pieces {
			orig[i] = append([]byte(nil), p...)
		}
		tampered := false
		// proofEdit: pairs (position, xor) on the proof bytes; a lone byte truncates or extends.
		raw := AppendProof(nil, proof)
		origRaw := append([]byte(nil), raw...)
		for len(proofEdit) >= 2 {
			if len(raw) > 0 && proofEdit[1] != 0 {
				raw[int(proofEdit[0])%len(raw)] ^= proofEdit[1]
			}
			proofEdit = proofEdit[2:]
		}
		if len(proofEdit) == 1 {
			if proofEdit[0]&1 == 0 && len(raw) >= HashSize {
				raw = raw[:len(raw)-HashSize]
			} else {
				raw = append(raw, make([]byte, HashSize)...)
			}
			tampered = true
		}
		uncles, err := DecodeProof(raw)
		if err != nil {
			t.Fatalf("DecodeProof of whole hashes: %v", err)
		}
		// dataEdit: 4-byte (offset) + 1-byte xor records on the concatenated pieces.
		for len(dataEdit) >= 5 && len(pieces) > 0 {
			off := int(binary.LittleEndian.Uint32(dataEdit))
			x := dataEdit[4]
			p := pieces[off%len(pieces)]
			if x != 0 {
				p[(off/len(pieces))%len(p)] ^= x
			}
			dataEdit = dataEdit[5:]
		}
		if len(dataEdit) > 0 && len(pieces) > 0 {
			p := &pieces[int(dataEdit[0])%len(pieces)]
			if dataEdit[0]&1 == 1 {
				*p = append(*p, dataEdit[0])
			} else {
				*p = (*p)[:len(*p)-1]
			}
			tampered = true
		}
		// Edits may cancel out (x ^ a ^ a): compare what is actually sent.
		if !bytes.Equal(raw, origRaw) {
			tampered = true
		}
		for i := range pieces {
			if !bytes.Equal(pieces[i], orig[i]) {
				tampered = true
			}
		}
		err = VerifyPieces(tree.Root(), l, f0, pieces, uncles)
		if valid && !tampered && err != nil {
			t.Fatalf("genuine range [%d,+%d) of %d bytes rejected: %v", f0, c, size, err)
		}
		if (!valid || tampered) && err == nil {
			t.Fatalf("tampered range [%d,+%d) of %d bytes accepted", f0, c, size)
		}
		// A wrong root is always rejected.
		if valid {
			wrong := tree.Root()
			wrong[size%HashSize] ^= 1
			if VerifyPieces(wrong, l, f0, pieces, uncles) == nil {
				t.Fatal("wrong root accepted")
			}
		}
	})
}

// FuzzDecodeProof requires DecodeProof to reject or round-trip byte-exactly.
func FuzzDecodeProof(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Add(make([]byte, 33))
	f.Fuzz(func(t *testing.T, b []byte) {
		uncles, err := DecodeProof(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if !bytes.Equal(AppendProof(nil, uncles), b) {
			t.Fatal("proof does not round-trip")
		}
	})
}

// FuzzPieceID requires UnmarshalBinary to reject or round-trip byte-exactly,
// and Verify never to panic on arbitrary data.
func FuzzPieceID(f *testing.F) {
	f.Add(make([]byte, PieceIDSize), []byte("x"))
	f.Add(append([]byte{10}, make([]byte, HashSize)...), []byte{})
	f.Add(append([]byte{11}, make([]byte, HashSize)...), []byte{1, 2})
	f.Fuzz(func(t *testing.T, b, data []byte) {
		var id PieceID
		if err := id.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, _ := id.MarshalBinary()
		if !bytes.Equal(out, b) {
			t.Fatal("piece ID does not round-trip")
		}
		if err := id.Verify(data); err == nil {
			t.Fatalf("arbitrary data verified against arbitrary ID %v", id)
		}
	})
}

// FuzzParseHash: a hex hash is rejected with ErrMalformed or round-trips
// (lower case is the one canonical form; upper case parses to the same hash).
func FuzzParseHash(f *testing.F) {
	f.Add("3340883aad3038dd993b3c94d2d32c3b20e07859969aca411f7f93ab8847c746")
	f.Add("3340883AAD3038DD993B3C94D2D32C3B20E07859969ACA411F7F93AB8847C746")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatal(err)
			}
			return
		}
		if back, err := ParseHash(h.String()); err != nil || back != h || !strings.EqualFold(h.String(), s) {
			t.Fatalf("%q does not round-trip", s)
		}
	})
}
