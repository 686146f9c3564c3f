package merkle_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/dhtnode/dhtnode/merkle"
)

func Example() {
	file := bytes.Repeat([]byte("dhtnode "), 100000) // 800 000 bytes: 4 pieces of 256 KiB
	b, _ := merkle.NewBuilder(merkle.BuilderConfig{})
	if _, err := io.Copy(b, bytes.NewReader(file)); err != nil {
		panic(err)
	}
	tree, _ := b.Finish()
	l := tree.Layout()

	// A seeder sends piece 2 with its proof; the downloader checks it against the root.
	proof, _ := tree.Proof(2, 1)
	piece := file[l.PieceOffset(2) : l.PieceOffset(2)+int64(l.PieceLen(2))]
	fmt.Println(l.NumPieces(), "pieces,", len(proof), "uncles:", merkle.VerifyPiece(tree.Root(), l, 2, piece, proof))
	piece[0] ^= 1
	fmt.Println(merkle.VerifyPiece(tree.Root(), l, 2, piece, proof) != nil)
	// Output:
	// 4 pieces, 2 uncles: <nil>
	// true
}
