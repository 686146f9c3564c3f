package kademlia

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkLookup measures lookups on a gossip-fed mocknet cluster and reports the
// trace statistics per lookup: hops (referral depth of the closest peer), RPCs and
// timeouts, plus the share answered correctly. Run:
//
//	go test -run '^$' -bench Lookup -benchtime 500x ./kademlia/
func BenchmarkLookup(b *testing.B) {
	for _, tc := range []struct{ n, alpha int }{{64, 10}, {256, 10}, {64, 3}, {256, 3}} {
		n := tc.n
		b.Run(fmt.Sprintf("N=%d/alpha=%d", n, tc.alpha), func(b *testing.B) {
			cfg := TestConfig()
			cfg.Concurrency = tc.alpha
			c := newCluster(b, n, cfg)
			rng := rand.New(rand.NewPCG(uint64(n), 2))
			b.ResetTimer()
			s := c.lookups(context.Background(), rng, b.N)
			b.StopTimer()
			b.ReportMetric(float64(s.hops)/float64(s.n), "hops/lookup")
			b.ReportMetric(float64(s.rpcs)/float64(s.n), "rpcs/lookup")
			b.ReportMetric(float64(s.timeouts)/float64(s.n), "timeouts/lookup")
			b.ReportMetric(100*float64(s.n-s.wrong)/float64(s.n), "%correct")
		})
	}
}

// BenchmarkLargeCluster is BenchmarkLookup at N = 1024 (about 2.5 GB of memory and a
// minute of setup on a 2-core machine, so it has a name of its own):
//
//	go test -run '^$' -bench LargeCluster -benchtime 200x ./kademlia/
func BenchmarkLargeCluster(b *testing.B) {
	const n = 1024
	c := newCluster(b, n, TestConfig())
	rng := rand.New(rand.NewPCG(n, 3))
	b.ResetTimer()
	s := c.lookups(context.Background(), rng, b.N)
	b.StopTimer()
	b.ReportMetric(float64(s.hops)/float64(s.n), "hops/lookup")
	b.ReportMetric(float64(s.rpcs)/float64(s.n), "rpcs/lookup")
	b.ReportMetric(100*float64(s.n-s.wrong)/float64(s.n), "%correct")
}
