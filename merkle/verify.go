package merkle

import "fmt"

// VerifyLayer checks a piece layer (one hash per piece) against the root, the
// way a BitTorrent v2 client checks the "piece layers" of a torrent. It returns
// nil, or an error wrapping ErrEmpty, ErrProof (wrong count) or ErrMismatch.
func VerifyLayer(root Hash, l Layout, layer []Hash) error {
	got, err := RootFromLayer(l, layer)
	if err != nil {
		return err
	}
	if got != root {
		return fmt.Errorf("%w: piece layer hashes to %s, want root %s", ErrMismatch, got, root)
	}
	return nil
}

// VerifyPiece checks the data of piece index against the root with the
// proof from Tree.Proof(index, 1). It returns nil, or an error wrapping
// ErrRange, ErrLength (data is not exactly PieceLen(index) bytes), ErrProof or
// ErrMismatch.
func VerifyPiece(root Hash, l Layout, index int, data []byte, proof []Hash) error {
	return VerifyPieces(root, l, index, [][]byte{data}, proof)
}

// VerifyPieces checks the data of consecutive pieces starting at first against
// the root with the proof from Tree.Proof(first, len(pieces)). Errors as VerifyPiece.
func VerifyPieces(root Hash, l Layout, first int, pieces [][]byte, proof []Hash) error {
	if err := checkRange(l, first, len(pieces)); err != nil {
		return err
	}
	height := l.PieceHeight()
	hashes := make([]Hash, len(pieces))
	for i, data := range pieces {
		if want := l.PieceLen(first + i); len(data) != want {
			return fmt.Errorf("%w: piece %d has %d bytes, want %d", ErrLength, first+i, len(data), want)
		}
		hashes[i] = HashPiece(data, height)
	}
	return VerifyRange(root, l, first, hashes, proof)
}

// VerifyRange checks the piece-layer hashes of pieces [first, first+len(hashes))
// against the root with the proof from Tree.Proof. It rejects a wrong root,
// index, count, proof length or any changed hash. It returns nil, or an error
// wrapping ErrRange, ErrProof or ErrMismatch.
func VerifyRange(root Hash, l Layout, first int, hashes []Hash, proof []Hash) error {
	count := len(hashes)
	if err := checkRange(l, first, count); err != nil {
		return err
	}
	if want := ProofLen(l, first, count); len(proof) != want {
		return fmt.Errorf("%w: %d uncle hashes for pieces [%d, %d), want %d", ErrProof, len(proof), first, first+count, want)
	}
	// Walk up: nodes covers [a, a+len(nodes)) at the current level.
	nodes := append(make([]Hash, 0, count+2), hashes...)
	a := first
	for k := 0; k < l.LayerHeight(); k++ {
		if a&1 == 1 {
			nodes = append(nodes, Hash{})
			copy(nodes[1:], nodes)
			nodes[0] = proof[0]
			proof = proof[1:]
			a--
		}
		if (a+len(nodes))&1 == 1 {
			nodes = append(nodes, proof[0])
			proof = proof[1:]
		}
		for i := 0; i < len(nodes)/2; i++ {
			nodes[i] = hashPair(nodes[2*i], nodes[2*i+1])
		}
		nodes = nodes[:len(nodes)/2]
		a /= 2
	}
	if nodes[0] != root {
		return fmt.Errorf("%w: pieces [%d, %d) do not prove root %s", ErrMismatch, first, first+count, root)
	}
	return nil
}
