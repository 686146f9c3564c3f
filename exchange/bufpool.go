package exchange

import "sync"

// maxPooledBytes bounds the memory the buffer pool keeps for reuse.
const maxPooledBytes = 32 << 20

// maxPooledSizes bounds how many distinct buffer lengths the pool tracks (a transfer uses a
// handful: the piece size, the piece frame size, a short last piece).
const maxPooledSizes = 16

// bufPool recycles piece buffers by exact length, so a transfer allocates a window's worth of
// buffers once instead of one per piece. Unlike sync.Pool it is not emptied by the garbage
// collector (which runs often during a transfer and would make every piece a fresh, zeroed
// allocation), and it rounds nothing up, so a 256 KiB piece does not hold 512 KiB.
type bufPool struct {
	mu    sync.Mutex
	free  map[int][][]byte
	bytes int
}

// get returns a buffer of length n (contents undefined).
func (p *bufPool) get(n int) []byte {
	p.mu.Lock()
	if l := p.free[n]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[n] = l[:len(l)-1]
		p.bytes -= n
		p.mu.Unlock()
		return b
	}
	p.mu.Unlock()
	return make([]byte, n)
}

// put returns a buffer obtained from get; the pool keeps it if there is room.
func (p *bufPool) put(b []byte) {
	n := cap(b)
	if n == 0 {
		return
	}
	b = b[:n]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free == nil {
		p.free = make(map[int][][]byte)
	}
	if p.bytes+n > maxPooledBytes {
		return
	}
	if _, ok := p.free[n]; !ok && len(p.free) >= maxPooledSizes {
		return
	}
	p.free[n] = append(p.free[n], b)
	p.bytes += n
}
