package routing

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"

	"github.com/libp2p/go-libp2p/core/peer"
)

// KeyBits is the width of the key space shared by all routers.
const KeyBits = 256

// KeyLen is the length of a Key in bytes.
const KeyLen = KeyBits / 8

// Key is a point in the 256-bit identifier space, read as a big-endian unsigned integer.
// The zero value is the key 0.
type Key [KeyLen]byte

// ErrBadKey is returned by ParseKey for text that is not 64 hexadecimal digits.
var ErrBadKey = errors.New("routing: key must be 64 hexadecimal digits (256 bits)")

// PeerKey is a node's position in the key space: SHA-256 of the peer ID's bytes.
func PeerKey(id peer.ID) Key { return sha256.Sum256([]byte(id)) }

// ContentKey is the position of content in the key space: SHA-256 of b
// (for a content ID, b is the CID's binary form).
func ContentKey(b []byte) Key { return sha256.Sum256(b) }

// ParseKey reads a key written as 64 hexadecimal digits (as Key.String prints it).
func ParseKey(s string) (Key, error) {
	var k Key
	if len(s) != 2*KeyLen {
		return k, fmt.Errorf("%w: got %d characters", ErrBadKey, len(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return k, nil
}

// String returns the key as 64 lowercase hexadecimal digits.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Short returns the first 8 hexadecimal digits, for logs and tables.
func (k Key) Short() string { return hex.EncodeToString(k[:4]) }

// MarshalText encodes the key as hexadecimal, so keys read well in JSON.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a key written by MarshalText.
func (k *Key) UnmarshalText(b []byte) error {
	parsed, err := ParseKey(string(b))
	if err != nil {
		return err
	}
	*k = parsed
	return nil
}

// Cmp compares keys as unsigned integers: -1 if k < o, 0 if equal, +1 if k > o.
func (k Key) Cmp(o Key) int { return bytes.Compare(k[:], o[:]) }

// XOR returns the Kademlia distance between k and o.
func (k Key) XOR(o Key) Key {
	var d Key
	for i := range k {
		d[i] = k[i] ^ o[i]
	}
	return d
}

// LeadingZeros counts the zero bits before the first one bit (KeyBits for the zero key).
func (k Key) LeadingZeros() int {
	for i, b := range k {
		if b != 0 {
			return i*8 + bits.LeadingZeros8(b)
		}
	}
	return KeyBits
}

// CommonPrefixLen is the number of leading bits a and b share: the leading zeros of
// their XOR distance. Kademlia's bucket index for b in a's table.
func CommonPrefixLen(a, b Key) int { return a.XOR(b).LeadingZeros() }

// Add returns k + o mod 2^256.
func (k Key) Add(o Key) Key {
	var sum Key
	var carry uint16
	for i := KeyLen - 1; i >= 0; i-- {
		s := uint16(k[i]) + uint16(o[i]) + carry
		sum[i] = byte(s)
		carry = s >> 8
	}
	return sum
}

// Sub returns k - o mod 2^256.
func (k Key) Sub(o Key) Key {
	var diff Key
	var borrow int16
	for i := KeyLen - 1; i >= 0; i-- {
		d := int16(k[i]) - int16(o[i]) - borrow
		borrow = 0
		if d < 0 {
			d += 256
			borrow = 1
		}
		diff[i] = byte(d)
	}
	return diff
}

// PowerOfTwo returns 2^i mod 2^256 as a key (the offset of Chord's i-th finger).
func PowerOfTwo(i int) Key {
	var k Key
	if i < 0 || i >= KeyBits {
		return k
	}
	k[KeyLen-1-i/8] = 1 << (i % 8)
	return k
}

// RingDistance is the clockwise distance from `from` to `to` on the Chord ring:
// (to - from) mod 2^256.
func RingDistance(from, to Key) Key { return to.Sub(from) }

// Log2 returns log2 of the key read as an integer, or -Inf for the zero key.
// It turns a distance into a readable magnitude: "2^243.7".
func (k Key) Log2() float64 {
	if k == (Key{}) {
		return math.Inf(-1)
	}
	f, _ := new(big.Float).SetInt(k.Big()).Float64()
	return math.Log2(f)
}

// Big returns the key as a big.Int.
func (k Key) Big() *big.Int { return new(big.Int).SetBytes(k[:]) }

// InOpenClosed reports whether x lies on the ring interval (a, b], walking clockwise
// from a. When a == b the interval is the whole ring.
func InOpenClosed(x, a, b Key) bool {
	if a == b {
		return true
	}
	if a.Cmp(b) < 0 {
		return x.Cmp(a) > 0 && x.Cmp(b) <= 0
	}
	return x.Cmp(a) > 0 || x.Cmp(b) <= 0
}

// InOpen reports whether x lies on the ring interval (a, b), walking clockwise from a.
// When a == b the interval is the whole ring except a.
func InOpen(x, a, b Key) bool {
	if a == b {
		return x != a
	}
	if a.Cmp(b) < 0 {
		return x.Cmp(a) > 0 && x.Cmp(b) < 0
	}
	return x.Cmp(a) > 0 || x.Cmp(b) < 0
}
