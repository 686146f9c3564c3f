package exchange

import "testing"

func TestBufPoolReusesByLengthWithinBounds(t *testing.T) {
	var p bufPool
	a := p.get(1000)
	if len(a) != 1000 {
		t.Fatalf("len %d", len(a))
	}
	p.put(a)
	if b := p.get(1000); &b[0] != &a[0] {
		t.Fatal("buffer not reused")
	}
	if c := p.get(999); len(c) != 999 {
		t.Fatal("wrong length for another size")
	}
	for i := 0; i < 2*maxPooledBytes/(1<<20); i++ {
		p.put(make([]byte, 1<<20))
	}
	if p.bytes > maxPooledBytes {
		t.Fatalf("pool holds %d bytes", p.bytes)
	}
	for n := 1; n <= 2*maxPooledSizes; n++ {
		p.put(make([]byte, n))
	}
	if len(p.free) > maxPooledSizes {
		t.Fatalf("pool tracks %d sizes", len(p.free))
	}
}
