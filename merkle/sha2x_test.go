package merkle

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// TestSHA256Pair checks the two-message SHA-256 against crypto/sha256 on
// random and patterned blocks, and HashPiece with and without it on every
// length class: whole pairs, an odd block out, a short last block.
func TestSHA256Pair(t *testing.T) {
	if !has2x {
		t.Skip("no two-message SHA-256 on this CPU")
	}
	r := rand.New(rand.NewPCG(1, 2))
	a, b := make([]byte, BlockSize), make([]byte, BlockSize)
	for i := range 300 {
		for j := range a {
			a[j], b[j] = byte(r.Uint32()), byte(r.Uint32())
		}
		if i%3 == 0 {
			copy(b, a) // equal messages
		}
		if i%5 == 0 {
			clear(a)
		}
		ha, hb := sha256Pair(a, b)
		if ha != sha256.Sum256(a) || hb != sha256.Sum256(b) {
			t.Fatalf("case %d: sha256Pair differs from crypto/sha256", i)
		}
	}
	data := make([]byte, 20*BlockSize)
	for j := range data {
		data[j] = byte(r.Uint32())
	}
	for _, n := range []int{1, BlockSize - 1, BlockSize, BlockSize + 1, 2 * BlockSize, 3*BlockSize - 7, 3 * BlockSize, 16 * BlockSize, 20 * BlockSize} {
		height := ceilLog2(int64((n + BlockSize - 1) / BlockSize))
		got := HashPiece(data[:n], height)
		has2x = false
		want := HashPiece(data[:n], height)
		has2x = true
		if got != want {
			t.Fatalf("HashPiece of %d bytes: %s with sha256Pair, %s without", n, got, want)
		}
	}
}

// BenchmarkHashPiece hashes 256 KiB pieces with the two-message SHA-256
// where the CPU has it (2x) and with crypto/sha256 alone (1x).
func BenchmarkHashPiece(b *testing.B) {
	data := make([]byte, DefaultPieceSize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	saved := has2x
	defer func() { has2x = saved }()
	for _, c := range []struct {
		name string
		on   bool
	}{{"2x", saved}, {"1x", false}} {
		b.Run(c.name, func(b *testing.B) {
			has2x = c.on
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				HashPiece(data, 4)
			}
		})
	}
}
