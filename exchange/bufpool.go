package exchange

import (
	"math/bits"
	"sync"
)

// bufPool recycles piece buffers by power-of-two size class, so a transfer of any length
// allocates a window's worth of buffers once instead of one per piece.
type bufPool struct {
	classes [25]sync.Pool // 2^0 .. 2^24 bytes (MaxPieceSize plus framing fits class 25? see get)
}

func sizeClass(n int) int {
	if n <= 1 {
		return 0
	}
	return bits.Len(uint(n - 1))
}

// get returns a buffer of length n; its capacity is n rounded up to a power of two.
func (p *bufPool) get(n int) []byte {
	c := sizeClass(n)
	if c >= len(p.classes) {
		return make([]byte, n)
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<c)
}

// put returns a buffer obtained from get.
func (p *bufPool) put(b []byte) {
	c := sizeClass(cap(b))
	if c >= len(p.classes) || cap(b) != 1<<c {
		return
	}
	b = b[:cap(b)]
	p.classes[c].Put(&b)
}
