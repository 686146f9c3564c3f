package merkle

import "fmt"

// MaxProofLen bounds a decoded proof: two uncles per level of the tallest tree.
const MaxProofLen = 2 * maxHeight

// AppendProof appends the wire form of a proof to dst: the uncle hashes
// concatenated, 32 bytes each, in Tree.Proof order (the count is implied by the
// length, as in BEP 52's hash messages).
func AppendProof(dst []byte, uncles []Hash) []byte {
	for _, h := range uncles {
		dst = append(dst, h[:]...)
	}
	return dst
}

// DecodeProof decodes AppendProof's output. It returns ErrMalformed if the
// length is not a multiple of 32 or the proof has more than MaxProofLen hashes.
// A decoded proof still has to pass VerifyRange.
func DecodeProof(b []byte) ([]Hash, error) {
	if len(b)%HashSize != 0 {
		return nil, fmt.Errorf("%w: proof of %d bytes is not a whole number of hashes", ErrMalformed, len(b))
	}
	n := len(b) / HashSize
	if n > MaxProofLen {
		return nil, fmt.Errorf("%w: proof of %d hashes exceeds %d", ErrMalformed, n, MaxProofLen)
	}
	uncles := make([]Hash, n)
	for i := range uncles {
		copy(uncles[i][:], b[i*HashSize:])
	}
	return uncles, nil
}
