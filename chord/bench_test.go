package chord_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/chord/chordtest"
)

// BenchmarkLookup measures lookups on a converged mocknet ring (no link latency, so ns/op
// is the CPU cost of the stream round trips) and reports the protocol's own figures:
// mean hops and RPCs per lookup. The ring is built join-only (no gossip feed), as in the
// paper, and fix-fingers runs 30 rounds before measuring.
//
//	go test -run XXX -bench Lookup -benchtime 1000x ./chord/
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{64, 256} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			// Short periods to converge quickly, but not so short that maintenance of
			// N nodes crowds out the lookups being measured.
			c := chordtest.New(chordtest.Options{Config: testConfig(time.Duration(n) * time.Millisecond), Seed: uint64(n)})
			defer c.Close()
			ctx := context.Background()
			if err := c.Start(ctx, n); err != nil {
				b.Fatal(err)
			}
			if _, err := c.WaitConverged(ctx, 100); err != nil {
				b.Fatal(err)
			}
			waitRoundsB(b, c, 30)
			b.ResetTimer()
			var rpcs, hops, wrong int
			for b.Loop() {
				s := c.CheckLookups(ctx, 1)
				rpcs += s.RPCs
				hops += s.Hops
				wrong += s.Lookups - s.Correct
			}
			b.ReportMetric(float64(hops)/float64(b.N), "hops/op")
			b.ReportMetric(float64(rpcs)/float64(b.N), "rpcs/op")
			b.ReportMetric(float64(wrong)/float64(b.N), "wrong/op")
		})
	}
}

func waitRoundsB(b *testing.B, c *chordtest.Cluster, rounds uint64) {
	live := c.Live()
	base := make([]uint64, len(live))
	for i, n := range live {
		base[i] = n.Chord.StabilizeRounds()
	}
	for i, n := range live {
		for n.Chord.StabilizeRounds() < base[i]+rounds {
			time.Sleep(10 * time.Millisecond)
		}
	}
}
