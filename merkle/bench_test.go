package merkle

import (
	"crypto/sha256"
	"testing"
)

const benchSize = 256 * mib

// benchData is 256 MiB of written (not zero-page) memory.
func benchData() []byte {
	data := make([]byte, benchSize)
	for i := range data {
		data[i] = byte(i*7 + i>>13)
	}
	return data
}

// BenchmarkSHA256 is the yardstick: plain single-core crypto/sha256 over the
// same bytes as BenchmarkBuild.
func BenchmarkSHA256(b *testing.B) {
	data := benchData()
	b.SetBytes(benchSize)
	for b.Loop() {
		h := sha256.New()
		for off := 0; off < len(data); off += mib {
			h.Write(data[off : off+mib])
		}
		h.Sum(nil)
	}
}

// BenchmarkBuild hashes 256 MiB through the streaming builder (copying Write,
// 1 MiB writes, default piece size and workers).
func BenchmarkBuild(b *testing.B) {
	data := benchData()
	b.SetBytes(benchSize)
	for b.Loop() {
		bl, _ := NewBuilder(BuilderConfig{})
		for off := 0; off < len(data); off += mib {
			bl.Write(data[off : off+mib])
		}
		if _, err := bl.Finish(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildOneWorker is the builder on one core, to show its overhead
// over plain sha256.
func BenchmarkBuildOneWorker(b *testing.B) {
	data := benchData()
	b.SetBytes(benchSize)
	for b.Loop() {
		bl, _ := NewBuilder(BuilderConfig{Workers: 1})
		bl.Write(data)
		if _, err := bl.Finish(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyPiece verifies one 256 KiB piece of a 1 GiB file.
func BenchmarkVerifyPiece(b *testing.B) {
	l, _ := NewLayout(1<<30, DefaultPieceSize)
	layer := make([]Hash, l.NumPieces())
	piece := make([]byte, DefaultPieceSize)
	layer[7] = HashPiece(piece, l.PieceHeight())
	tree, _ := NewTree(l, layer)
	proof, _ := tree.Proof(7, 1)
	b.SetBytes(DefaultPieceSize)
	for b.Loop() {
		if err := VerifyPiece(tree.Root(), l, 7, piece, proof); err != nil {
			b.Fatal(err)
		}
	}
}
