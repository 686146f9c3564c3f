package compare

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestKingModelMedianAndSpread(t *testing.T) {
	m, err := NewLatencyModel(LatencyKing)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(42, 43)) // not the calibration stream
	var cs []Coord
	for range 400 {
		cs = append(cs, m.Place(rng))
	}
	var rtts []time.Duration
	for i := range cs {
		for j := i + 1; j < len(cs); j++ {
			rtts = append(rtts, m.RTT(cs[i], cs[j]))
			if m.RTT(cs[i], cs[j]) != m.RTT(cs[j], cs[i]) {
				t.Fatal("RTT not symmetric")
			}
		}
	}
	slices.Sort(rtts)
	p := func(q float64) time.Duration { return rtts[int(q*float64(len(rtts)-1))] }
	med := p(0.5)
	if med < 140*time.Millisecond || med > 160*time.Millisecond {
		t.Fatalf("median pairwise RTT %v, want 150 ms ± 10", med)
	}
	// Spread like the Internet's: nearby pairs well under the median, a long tail.
	if p(0.1) > 80*time.Millisecond || p(0.95) < 250*time.Millisecond || p(0.95) > 600*time.Millisecond {
		t.Fatalf("RTT spread p10 %v p95 %v, want p10 < 80 ms and p95 in 250..600 ms", p(0.1), p(0.95))
	}
	t.Logf("king model RTT p10 %v p50 %v p90 %v p95 %v p99 %v", p(0.1), med, p(0.9), p(0.95), p(0.99))
}

func TestOtherLatencyModels(t *testing.T) {
	none, _ := NewLatencyModel(LatencyNone)
	if none.RTT(Coord{X: 1}, Coord{X: 100}) != 0 {
		t.Fatal("none model gave a delay")
	}
	c, err := NewLatencyModel("const:80ms")
	if err != nil || c.RTT(Coord{}, Coord{}) != 80*time.Millisecond {
		t.Fatalf("const model: %v", err)
	}
	if _, err := NewLatencyModel("bogus"); err == nil {
		t.Fatal("unknown model accepted")
	}
}
