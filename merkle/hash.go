package merkle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// HashSize is the size of every node in the tree: a SHA-256 digest.
const HashSize = sha256.Size

// Hash is one node of a Merkle tree: a leaf (SHA-256 of a 16 KiB block), an
// interior node (SHA-256 of its two children) or a padding node.
type Hash [HashSize]byte

// String returns the hash in lower-case hex, the way BitTorrent tools print a
// v2 "pieces root".
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText encodes the hash as hex (for JSON and config files).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes a hex hash; see ParseHash.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// IsZero reports whether h is the all-zero hash, the padding leaf of BEP 52.
func (h Hash) IsZero() bool { return h == Hash{} }

// ParseHash decodes a 64-character hex string. It returns ErrMalformed for
// anything else.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize {
		return h, fmt.Errorf("%w: hash must be %d hex characters, got %d", ErrMalformed, 2*HashSize, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%w: hash: %v", ErrMalformed, err)
	}
	return h, nil
}

// hashPair is an interior node: SHA-256(left || right).
func hashPair(left, right Hash) Hash {
	var buf [2 * HashSize]byte
	copy(buf[:HashSize], left[:])
	copy(buf[HashSize:], right[:])
	return sha256.Sum256(buf[:])
}

// maxHeight bounds every tree this package builds: 2^63 leaves is far beyond
// any file (and keeps shifts of int64 defined).
const maxHeight = 62

// padHashes[h] is the root of a subtree of 2^h zero leaves. BEP 52 pads the
// leaf layer with zero hashes, so the piece layer must be padded with the
// root of an all-zero piece subtree, padHashes[pieceHeight], not with zeros.
var padHashes = computePadHashes()

func computePadHashes() [maxHeight + 1]Hash {
	var p [maxHeight + 1]Hash
	for h := 1; h <= maxHeight; h++ {
		p[h] = hashPair(p[h-1], p[h-1])
	}
	return p
}

// PadHash returns the root of a subtree of 2^height zero leaves (height 0 is
// the zero hash itself). It panics if height is outside [0, 62], which only a
// programming error can cause.
func PadHash(height int) Hash { return padHashes[height] }
