// Package merkle is the Merkle tree of BitTorrent v2 (BEP 52), exactly:
//
//   - a leaf is the SHA-256 of one 16 KiB block of the file (BlockSize); the
//     last block is hashed as it is, short, not padded;
//   - the leaf layer is padded with 32-byte zero hashes to the next power of two;
//   - an interior node is SHA-256(left || right);
//   - so a file of one block has root SHA-256(data), and an empty file has no
//     root at all (ErrEmpty: callers must handle it explicitly).
//
// The root is the file's BEP 52 "pieces root" and does not depend on the piece
// size. A piece (a power of two from 16 KiB to 16 MiB; DefaultPieceSize is 256
// KiB) is a subtree of PieceSize/BlockSize leaves; its root is its entry in
// the piece layer. The piece layer is padded to a power of two with the root of
// an all-zero piece subtree (PadHash(height), as BEP 52 says, not zeros), and
// hashes up to the root. A file of one piece has no separate layer: its only
// piece is the whole tree (Layout.PieceHeight). The tests check all of this
// against libtorrent 2.0 and a naive implementation.
//
// What this package offers:
//
//   - Builder: a streaming io.Writer/io.ReaderFrom that reads each byte once,
//     hashes whole pieces on a worker pool and keeps the layer in order; it
//     never holds the file (memory = Buffers × PieceSize). OnPiece lets the
//     caller store each piece while hashing goes on.
//   - Tree: the levels above the piece layer, kept by a seeder to answer
//     Proof(first, count): the uncle hashes that prove a piece or a range.
//   - VerifyPiece, VerifyPieces, VerifyRange, VerifyLayer: the checks a
//     downloader makes against the root it trusts; every wrong proof, index,
//     length or root is rejected with a wrapped sentinel error.
//   - PieceID: a piece named by (subtree root, height), which verifies its
//     bytes on its own; the blockstore keys pieces by it.
//
// The root commits to piece hashes, not to the file size: the verifier trusts
// the Layout (size and piece size) it is given, which comes from a manifest
// that is itself checked against its content ID.
//
// Usage:
//
//	b, _ := merkle.NewBuilder(merkle.BuilderConfig{})
//	if _, err := io.Copy(b, file); err != nil { ... }
//	tree, err := b.Finish() // merkle.ErrEmpty for an empty file
//	proof, _ := tree.Proof(3, 1)
//	err = merkle.VerifyPiece(tree.Root(), tree.Layout(), 3, piece3, proof)
//
// Goroutines: a Builder owns its workers from NewBuilder until Finish or
// Abort; OnPiece runs on them. Everything else is pure and synchronous.
package merkle
