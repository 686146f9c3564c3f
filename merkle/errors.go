package merkle

import "errors"

// Sentinel errors. Every error returned by this package wraps one of these, so
// callers test with errors.Is and still get a message that says what was wrong.
var (
	// ErrEmpty: an empty file has no Merkle root (BEP 52 gives it none), so
	// it has no pieces, no tree and nothing to prove.
	ErrEmpty = errors.New("merkle: empty file has no root")
	// ErrPieceSize: a piece size that is not a power of two in [MinPieceSize, MaxPieceSize].
	ErrPieceSize = errors.New("merkle: invalid piece size")
	// ErrSize: a file size that is negative or too large.
	ErrSize = errors.New("merkle: invalid file size")
	// ErrRange: a piece index or range outside the file.
	ErrRange = errors.New("merkle: piece index out of range")
	// ErrLength: piece data whose length is not the length of that piece.
	ErrLength = errors.New("merkle: wrong piece length")
	// ErrProof: a proof with the wrong number of hashes for the range.
	ErrProof = errors.New("merkle: malformed proof")
	// ErrMismatch: the data, the proof or the piece layer does not hash to the
	// expected root. This is the error that names a bad peer.
	ErrMismatch = errors.New("merkle: hash mismatch")
	// ErrMalformed: bytes that do not decode (hash, piece ID, proof).
	ErrMalformed = errors.New("merkle: malformed encoding")
)
