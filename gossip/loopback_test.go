package gossip

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// loopbackNode starts a member on real sockets at 127.0.0.1 with a free port.
func loopbackNode(t testing.TB, i int, mod func(*Config)) *Gossip {
	t.Helper()
	cfg := DefaultConfig()
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Logger = testLogger()
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(cfg, newKey(t), testAddrs(t, i))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestLoopbackCluster runs the real UDP/TCP transport on 127.0.0.1, encrypted,
// with metrics on: join, converge, a crash marked dead, a leave marked left.
func TestLoopbackCluster(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	nodes := make([]*Gossip, 4)
	for i := range nodes {
		nodes[i] = loopbackNode(t, i, func(c *Config) {
			c.Profile = ProfileLocal
			c.SecretKey = secret
			c.Registerer = prometheus.NewRegistry()
		})
		defer nodes[i].Shutdown()
		if !strings.HasPrefix(nodes[i].BoundAddr(), "127.0.0.1:") || strings.HasSuffix(nodes[i].BoundAddr(), ":0") {
			t.Fatalf("bound addr %q", nodes[i].BoundAddr())
		}
		if i > 0 {
			if _, err := nodes[i].Join([]string{nodes[0].BoundAddr()}); err != nil {
				t.Fatalf("join: %v", err)
			}
		}
	}
	start := time.Now()
	waitFor(t, 40*time.Second, "4 nodes on loopback to converge", fullView(nodes), nodes...)
	t.Logf("converged after %v", time.Since(start))
	start = time.Now()

	crashed := nodes[3].Local().Name
	_ = nodes[3].Shutdown()
	waitFor(t, 40*time.Second, "crash marked dead", func() bool {
		for _, g := range nodes[:3] {
			if stateOf(g, crashed) != StateDead {
				return false
			}
		}
		return true
	}, nodes[:3]...)
	t.Logf("crash detected after %v", time.Since(start))
	start = time.Now()

	leaver := nodes[2].Local().Name
	if err := nodes[2].Leave(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	_ = nodes[2].Shutdown()
	waitFor(t, 40*time.Second, "leave marked left", func() bool {
		return stateOf(nodes[0], leaver) == StateLeft && stateOf(nodes[1], leaver) == StateLeft
	}, nodes[:2]...)
	t.Logf("leave seen after %v", time.Since(start))
}

func TestLoopbackPortInUse(t *testing.T) {
	g := loopbackNode(t, 0, nil)
	defer g.Shutdown()
	cfg := DefaultConfig()
	cfg.BindAddr = g.BoundAddr()
	cfg.Registerer = prometheus.NewRegistry()
	_, err := New(cfg, newKey(t), nil)
	if err == nil || !strings.Contains(err.Error(), "listen on "+g.BoundAddr()) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v", err)
	}
	// The failed start left the registry clean: a retry on a free port works.
	cfg.BindAddr = "127.0.0.1:0"
	g2, err := New(cfg, newKey(t), nil)
	if err != nil {
		t.Fatalf("retry after failed start: %v", err)
	}
	_ = g2.Shutdown()
}

// Measurements on real loopback sockets with the LAN profile. Run by hand:
//
//	go test -run '^$' -bench Loopback -benchtime 3x ./gossip/
func BenchmarkLoopbackConverge8(b *testing.B)  { benchConverge(b, 8) }
func BenchmarkLoopbackConverge32(b *testing.B) { benchConverge(b, 32) }

// benchConverge starts n nodes, joins each to the first one in turn, and
// reports the time from the first join until every node sees n alive members.
func benchConverge(b *testing.B, n int) {
	var total time.Duration
	for range b.N {
		nodes := make([]*Gossip, n)
		for i := range nodes {
			nodes[i] = loopbackNode(b, i, nil)
		}
		start := time.Now()
		for _, g := range nodes[1:] {
			if _, err := g.Join([]string{nodes[0].BoundAddr()}); err != nil {
				b.Fatal(err)
			}
		}
		waitFor(b, 2*time.Minute, "convergence", fullView(nodes), nodes...)
		d := time.Since(start)
		total += d
		b.Logf("n=%d full view after %v", n, d)
		for _, g := range nodes {
			_ = g.Shutdown()
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/converge")
}

// BenchmarkLoopbackDetectFailure: 8 nodes, one stopped without leaving; reports
// the time until every other node marks it dead.
func BenchmarkLoopbackDetectFailure(b *testing.B) {
	var total time.Duration
	for range b.N {
		nodes := make([]*Gossip, 8)
		for i := range nodes {
			nodes[i] = loopbackNode(b, i, nil)
			if i > 0 {
				if _, err := nodes[i].Join([]string{nodes[0].BoundAddr()}); err != nil {
					b.Fatal(err)
				}
			}
		}
		waitFor(b, 2*time.Minute, "convergence", fullView(nodes), nodes...)
		victim := nodes[7].Local().Name
		_ = nodes[7].Shutdown()
		start := time.Now()
		waitFor(b, 2*time.Minute, "detection", func() bool {
			for _, g := range nodes[:7] {
				if stateOf(g, victim) != StateDead {
					return false
				}
			}
			return true
		}, nodes[:7]...)
		d := time.Since(start)
		total += d
		b.Logf("killed node marked dead by all 7 after %v", d)
		for _, g := range nodes[:7] {
			_ = g.Shutdown()
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/detect")
}
