//go:build amd64 && !purego

package merkle

import (
	"encoding/binary"

	"golang.org/x/sys/cpu"
)

//go:generate sh -c "python3 sha2x_gen.py $(go env GOROOT)/src/crypto/internal/fips140/sha256/sha256block_amd64.s > sha2x_amd64.s"

// blocks2 runs n 64-byte SHA-256 blocks of each of two messages, pa into
// state a and pb into state b (sha2x_amd64.s).
//
//go:noescape
func blocks2(a, b *[8]uint32, pa, pb *byte, n int)

// cpuidSHA reports whether the CPU has the SHA extensions.
func cpuidSHA() bool

// has2x: the CPU can hash two leaves at once. Every leaf hash goes through
// sha256Pair then: crypto/sha256 runs one message at a time and on SHA-NI
// CPUs waits on the round instruction's latency, so two interleaved
// messages take the time of one (BenchmarkHashPiece).
var has2x = cpu.X86.HasAVX && cpu.X86.HasSSE41 && cpu.X86.HasSSSE3 && cpuidSHA()

var sha256IV = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// blockPad is the padding block of a BlockSize message.
var blockPad = func() (p [64]byte) {
	p[0] = 0x80
	binary.BigEndian.PutUint64(p[56:], BlockSize*8)
	return p
}()

// sha256Pair returns the SHA-256 of two full BlockSize blocks. has2x must
// be true.
func sha256Pair(a, b []byte) (ha, hb Hash) {
	_, _ = a[BlockSize-1], b[BlockSize-1]
	sa, sb := sha256IV, sha256IV
	blocks2(&sa, &sb, &a[0], &b[0], BlockSize/64)
	blocks2(&sa, &sb, &blockPad[0], &blockPad[0], 1)
	for i := range 8 {
		binary.BigEndian.PutUint32(ha[4*i:], sa[i])
		binary.BigEndian.PutUint32(hb[4*i:], sb[i])
	}
	return ha, hb
}
