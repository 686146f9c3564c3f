package p2pgossip

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/gossip"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkGossipTransports measures, for each gossip transport and cluster
// size, on loopback with memberlist's LAN profile (what a daemon runs):
//
//   - join_ms: the mean time of one Join call (sequential joins to one seed);
//   - converge_s: from the first join until every member sees all alive;
//   - B/node·s: gossip bytes each member sends per second in a steady window
//     (memberlist's bytes at the transport, dhtnode_gossip_transport_bytes_total;
//     on libp2p add about 2 bytes of frame header per packet);
//   - pkts/node·s: packets (UDP datagrams, or frames on libp2p streams);
//   - suspicions: how often a member newly saw another as suspect during the
//     window (polled every 100 ms), though all are up: false suspicions;
//   - lo_B/node·s: bytes on the loopback interface, IP headers, TLS, yamux and
//     TCP acknowledgements included. Only meaningful when nothing else uses
//     loopback, so reported only with DHTNODE_BENCH_NETNS=1: run the benchmark
//     alone in a fresh network namespace (see docs/nat.md).
//
// The window is DHTNODE_BENCH_WINDOW (default 35s, longer than the 30 s push/pull
// interval, so push/pull is in it). Run with -benchtime=1x.
func BenchmarkGossipTransports(b *testing.B) {
	window := 35 * time.Second
	if s := os.Getenv("DHTNODE_BENCH_WINDOW"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		window = d
	}
	sizes := []int{8, 32}
	if s := os.Getenv("DHTNODE_BENCH_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, transport := range []string{"udp", "libp2p"} {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/N=%d", transport, n), func(b *testing.B) {
				for range b.N {
					measureCluster(b, transport, n, window)
				}
			})
		}
	}
}

// benchNode is one member of a measured cluster.
type benchNode struct {
	g    *gossip.Gossip
	reg  *prometheus.Registry
	join func(seed *benchNode) error
	addr string // what others join: host:port or a /p2p/ multiaddr
}

func measureCluster(b *testing.B, transport string, n int, window time.Duration) {
	b.Helper()
	lan := func(c *gossip.Config) { c.Profile = gossip.ProfileLAN }
	nodes := make([]*benchNode, n)
	for i := range nodes {
		switch transport {
		case "udp":
			nodes[i] = udpBenchNode(b)
		default:
			m := newMember(b, lan)
			nodes[i] = &benchNode{g: m.g, reg: m.reg, addr: m.p2pAddr(), join: func(seed *benchNode) error {
				s, err := m.tr.JoinAddr(seed.addr)
				if err == nil {
					_, err = m.g.Join([]string{s})
				}
				return err
			}}
		}
	}
	start := time.Now()
	var joining time.Duration
	for _, nd := range nodes[1:] {
		t0 := time.Now()
		if err := nd.join(nodes[0]); err != nil {
			b.Fatal(err)
		}
		joining += time.Since(t0)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !benchConverged(nodes) {
		if time.Now().After(deadline) {
			b.Fatalf("%d members on %s never converged", n, transport)
		}
		time.Sleep(20 * time.Millisecond)
	}
	converge := time.Since(start)

	// Let the join burst settle, then measure a steady window.
	time.Sleep(2 * time.Second)
	bytes0, pkts0 := benchSent(b, nodes, transport)
	lo0 := loBytes()
	b.ResetTimer()
	suspects := watchSuspects(nodes, window)
	b.StopTimer()
	bytes1, pkts1 := benchSent(b, nodes, transport)
	lo1 := loBytes()
	if !benchConverged(nodes) {
		b.Fatalf("%d members on %s lost someone during the window", n, transport)
	}
	secs := window.Seconds()
	b.ReportMetric(float64(joining.Milliseconds())/float64(n-1), "join_ms")
	b.ReportMetric(converge.Seconds(), "converge_s")
	b.ReportMetric((bytes1-bytes0)/float64(n)/secs, "B/node·s")
	b.ReportMetric((pkts1-pkts0)/float64(n)/secs, "pkts/node·s")
	if os.Getenv("DHTNODE_BENCH_NETNS") == "1" && lo0 >= 0 && lo1 >= 0 {
		b.ReportMetric(float64(lo1-lo0)/float64(n)/secs, "lo_B/node·s")
	}
	b.ReportMetric(float64(suspects), "suspicions")
	b.ReportMetric(0, "ns/op")
}

// watchSuspects polls every member's view for window and counts the times some
// member newly saw another as suspect: false suspicions, since all are up.
func watchSuspects(nodes []*benchNode, window time.Duration) int {
	seen := make(map[[2]string]bool)
	count := 0
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, nd := range nodes {
			self := nd.g.Local().Name
			for _, m := range nd.g.Members() {
				k := [2]string{self, m.Name}
				sus := m.State == gossip.StateSuspect
				if sus && !seen[k] {
					count++
				}
				seen[k] = sus
			}
		}
	}
	return count
}

func udpBenchNode(b *testing.B) *benchNode {
	b.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		b.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	reg := prometheus.NewRegistry()
	cfg := gossip.DefaultConfig()
	cfg.BindAddr = "127.0.0.1:0"
	cfg.NodeName = id.String()
	cfg.Registerer = reg
	cfg.Logger = testLogger()
	g, err := gossip.New(cfg, key, []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Shutdown() })
	nd := &benchNode{g: g, reg: reg, addr: g.BoundAddr()}
	nd.join = func(seed *benchNode) error {
		_, err := g.Join([]string{seed.addr})
		return err
	}
	return nd
}

func benchConverged(nodes []*benchNode) bool {
	for _, nd := range nodes {
		if aliveIn(nd.g) != len(nodes) {
			return false
		}
	}
	return true
}

// benchSent sums the bytes and packets all nodes sent.
func benchSent(b *testing.B, nodes []*benchNode, transport string) (bytes, packets float64) {
	for _, nd := range nodes {
		bytes += counter(b, nd.reg, "dhtnode_gossip_transport_bytes_total", map[string]string{"direction": "sent"})
		if transport == "udp" {
			packets += counter(b, nd.reg, "dhtnode_gossip_packets_total", map[string]string{"direction": "sent"})
		} else {
			packets += counter(b, nd.reg, "dhtnode_gossip_libp2p_packets_total", map[string]string{"direction": "sent"})
		}
	}
	return bytes, packets
}

// loBytes is the loopback interface's transmitted bytes, or -1.
func loBytes() int64 {
	raw, err := os.ReadFile("/sys/class/net/lo/statistics/tx_bytes")
	if err != nil {
		return -1
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		return -1
	}
	return v
}
