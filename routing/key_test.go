package routing

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

var modulus = new(big.Int).Lsh(big.NewInt(1), KeyBits)

func randomKey(r *rand.Rand) Key {
	var k Key
	for i := range k {
		k[i] = byte(r.Uint32())
	}
	// Bias some keys towards the edges of the space, where carries and borrows happen.
	switch r.IntN(4) {
	case 0:
		k = Key{}
		k[KeyLen-1] = byte(r.Uint32())
	case 1:
		for i := range k {
			k[i] = 0xff
		}
		k[KeyLen-1] = byte(r.Uint32())
	}
	return k
}

func keyFromBig(b *big.Int) Key {
	var k Key
	b.FillBytes(k[:])
	return k
}

func TestKeyArithmeticMatchesBigInt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		a, b := randomKey(r), randomKey(r)
		sum := new(big.Int).Add(a.Big(), b.Big())
		if got, want := a.Add(b), keyFromBig(sum.Mod(sum, modulus)); got != want {
			t.Fatalf("%s + %s = %s, want %s", a, b, got, want)
		}
		diff := new(big.Int).Sub(a.Big(), b.Big())
		if got, want := a.Sub(b), keyFromBig(diff.Mod(diff, modulus)); got != want {
			t.Fatalf("%s - %s = %s, want %s", a, b, got, want)
		}
		if got, want := a.Cmp(b), a.Big().Cmp(b.Big()); got != want {
			t.Fatalf("Cmp(%s, %s) = %d, want %d", a, b, got, want)
		}
		if got, want := a.XOR(b).LeadingZeros(), KeyBits-new(big.Int).Xor(a.Big(), b.Big()).BitLen(); got != want {
			t.Fatalf("LeadingZeros(%s ^ %s) = %d, want %d", a, b, got, want)
		}
	}
}

func TestPowerOfTwo(t *testing.T) {
	for i := range KeyBits {
		want := keyFromBig(new(big.Int).Lsh(big.NewInt(1), uint(i)))
		if got := PowerOfTwo(i); got != want {
			t.Fatalf("PowerOfTwo(%d) = %s, want %s", i, got, want)
		}
	}
	if PowerOfTwo(KeyBits) != (Key{}) || PowerOfTwo(-1) != (Key{}) {
		t.Fatal("PowerOfTwo out of range should be zero")
	}
}

// inIntervalNaive walks the ring with big.Int: x in (a, b] iff 0 < (x-a) mod 2^256 <= (b-a) mod 2^256,
// with a == b meaning the whole ring.
func inIntervalNaive(x, a, b Key, closed bool) bool {
	dx := x.Sub(a).Big()
	db := b.Sub(a).Big()
	if a == b {
		return closed || x != a
	}
	if dx.Sign() == 0 {
		return false
	}
	if closed {
		return dx.Cmp(db) <= 0
	}
	return dx.Cmp(db) < 0
}

func TestRingIntervals(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		a, b := randomKey(r), randomKey(r)
		pick := r.IntN(5)
		x := randomKey(r)
		switch pick {
		case 0:
			x = a
		case 1:
			x = b
		case 2:
			b = a
		}
		if got, want := InOpenClosed(x, a, b), inIntervalNaive(x, a, b, true); got != want {
			t.Fatalf("InOpenClosed(%s, %s, %s) = %v, want %v", x, a, b, got, want)
		}
		if got, want := InOpen(x, a, b), inIntervalNaive(x, a, b, false); got != want {
			t.Fatalf("InOpen(%s, %s, %s) = %v, want %v", x, a, b, got, want)
		}
	}
}

func TestParseKey(t *testing.T) {
	k := ContentKey([]byte("hello"))
	parsed, err := ParseKey(k.String())
	if err != nil || parsed != k {
		t.Fatalf("round trip: %v, %v", parsed, err)
	}
	for _, bad := range []string{"", "abc", k.String()[:63] + "g", k.String() + "00"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted bad input", bad)
		}
	}
	text, _ := k.MarshalText()
	var back Key
	if err := back.UnmarshalText(text); err != nil || back != k {
		t.Fatalf("text round trip: %v %v", back, err)
	}
}

func TestLog2(t *testing.T) {
	if got := PowerOfTwo(200).Log2(); got != 200 {
		t.Fatalf("Log2(2^200) = %v", got)
	}
	if got := (Key{}).Log2(); got > -1e300 {
		t.Fatalf("Log2(0) = %v, want -Inf", got)
	}
}
