package gossip

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRetryJoinUntilSeedAppears(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := NewMemNetwork()
		const seedAddr = "10.9.9.9:7946"
		joiner := memNode(t, net, 1, func(c *Config) {
			c.RetryJoin = []string{seedAddr}
			c.RetryJoinInterval = 2 * time.Second
		})
		time.Sleep(7 * time.Second) // a few failed attempts
		tr, err := net.NewTransport(seedAddr)
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Transport = tr
		seed, err := New(cfg, newKey(t), testAddrs(t, 0))
		if err != nil {
			t.Fatal(err)
		}
		nodes := []*Gossip{seed, joiner}
		defer shutdownAll(nodes)
		waitFor(t, 30*time.Second, "retry-join to reach the late seed", fullView(nodes), nodes...)
	})
}

func TestSlowSubscriberDoesNotBlockGossip(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := NewMemNetwork()
		seed := memNode(t, net, 0, nil)
		_, cancelIdle := seed.Subscribe() // never read
		defer cancelIdle()
		events, cancel := seed.Subscribe()
		defer cancel()
		nodes := []*Gossip{seed}
		for i := 1; i < 6; i++ {
			g := memNode(t, net, i, nil)
			if _, err := g.Join([]string{seed.BoundAddr()}); err != nil {
				t.Fatal(err)
			}
			nodes = append(nodes, g)
		}
		defer shutdownAll(nodes)
		waitFor(t, 90*time.Second, "full view despite an idle subscriber", fullView(nodes), nodes...)
		// The reading subscriber got the joins in order of arrival, one per member.
		seen := map[string]bool{}
		for len(seen) < 5 {
			ev := <-events
			if ev.Type != EventJoin || seen[ev.Member.Name] {
				t.Fatalf("unexpected event %v for %s", ev.Type, ev.Member.Name)
			}
			seen[ev.Member.Name] = true
		}
		// Cancel closes the channel.
		cancel()
		for range events {
		}
	})
}

func TestSetAddrsSendsUpdate(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := NewMemNetwork()
		nodes := startCluster(t, net, 3, nil)
		defer shutdownAll(nodes)
		waitFor(t, 90*time.Second, "full view", fullView(nodes), nodes...)
		events, cancel := nodes[0].Subscribe()
		defer cancel()
		for range 2 {
			<-events // replayed joins
		}
		newAddrs := testAddrs(t, 77)
		if err := nodes[2].SetAddrs(newAddrs); err != nil {
			t.Fatal(err)
		}
		ev := <-events
		if ev.Type != EventUpdate || ev.Member.Name != nodes[2].Local().Name || !ev.Member.Addrs[0].Equal(newAddrs[0]) {
			t.Fatalf("got %v %+v", ev.Type, ev.Member)
		}
		waitFor(t, 30*time.Second, "everyone to see the new address", func() bool {
			for _, g := range nodes {
				for _, m := range g.Members() {
					if m.Name == nodes[2].Local().Name && !m.Addrs[0].Equal(newAddrs[0]) {
						return false
					}
				}
			}
			return true
		})
	})
}

func TestSuspectIsVisible(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := NewMemNetwork()
		nodes := startCluster(t, net, 5, nil)
		defer shutdownAll(nodes)
		waitFor(t, 90*time.Second, "full view", fullView(nodes), nodes...)
		victim := nodes[4]
		name := victim.Local().Name
		var rest []string
		for _, g := range nodes[:4] {
			rest = append(rest, g.BoundAddr())
		}
		net.Partition(rest, []string{victim.BoundAddr()})
		sawSuspect := false
		waitFor(t, 60*time.Second, "victim declared dead", func() bool {
			dead := 0
			for _, g := range nodes[:4] {
				switch stateOf(g, name) {
				case StateSuspect:
					sawSuspect = true
				case StateDead:
					dead++
				}
			}
			return dead == 4
		})
		if !sawSuspect {
			t.Fatal("no node ever reported the victim as suspect before dead")
		}
	})
}

func TestMetrics(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := NewMemNetwork()
		regs := make([]*prometheus.Registry, 3)
		nodes := make([]*Gossip, 3)
		for i := range nodes {
			regs[i] = prometheus.NewRegistry()
			nodes[i] = memNode(t, net, i, func(c *Config) { c.Registerer = regs[i] })
			if i > 0 {
				if _, err := nodes[i].Join([]string{nodes[0].BoundAddr()}); err != nil {
					t.Fatal(err)
				}
			}
		}
		defer shutdownAll(nodes[:2])
		waitFor(t, 90*time.Second, "full view", fullView(nodes), nodes...)
		_ = nodes[2].Shutdown()
		waitFor(t, 60*time.Second, "node 2 dead on node 0", func() bool { return stateOf(nodes[0], nodes[2].Local().Name) == StateDead })

		m, err := newMetricsView(regs[0])
		if err != nil {
			t.Fatal(err)
		}
		if m["dhtnode_gossip_joined{}"] != 1 {
			t.Fatalf("joined gauge: %v", m)
		}
		if m["dhtnode_gossip_members{state=alive}"] != 2 || m["dhtnode_gossip_members{state=dead}"] != 1 {
			t.Fatalf("members gauge: %v", m)
		}
		if m["dhtnode_gossip_events_total{type=join}"] != 2 || m["dhtnode_gossip_events_total{type=failed}"] != 1 {
			t.Fatalf("event counters: %v", m)
		}
		if m["dhtnode_gossip_packets_total{direction=sent}"] == 0 || m["dhtnode_gossip_bytes_total{direction=received,kind=packet}"] == 0 ||
			m["dhtnode_gossip_bytes_total{direction=received,kind=stream}"] == 0 || m["dhtnode_gossip_streams_total{direction=received}"] == 0 {
			t.Fatalf("traffic counters: %v", m)
		}
		// A second gossip on the same registry fails clearly instead of panicking.
		tr, _ := net.NewTransport("")
		cfg := DefaultConfig()
		cfg.Transport, cfg.Registerer = tr, regs[0]
		if _, err := New(cfg, newKey(t), nil); err == nil || !strings.Contains(err.Error(), "register gossip metrics") {
			t.Fatalf("duplicate registration: %v", err)
		}
	})
}

// newMetricsView flattens a registry into "name{k=v,...}" -> value.
func newMetricsView(reg *prometheus.Registry) (map[string]float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	return out, nil
}

func TestLeaveAndJoinAfterShutdown(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := NewMemNetwork()
		g := memNode(t, net, 0, nil)
		if err := g.Leave(time.Second); err != nil { // alone: returns at once
			t.Fatal(err)
		}
		if _, err := g.Join([]string{"10.1.1.1:7946"}); !errors.Is(err, ErrLeft) {
			t.Fatalf("join after leave: %v", err)
		}
		if g.Local().State != StateLeft {
			t.Fatalf("local state %s", g.Local().State)
		}
		_ = g.Shutdown()
		_ = g.Shutdown()
		if err := g.Leave(time.Second); !errors.Is(err, ErrShutdown) {
			t.Fatalf("leave after shutdown: %v", err)
		}
		if _, err := g.Join([]string{"10.1.1.1:7946"}); !errors.Is(err, ErrShutdown) {
			t.Fatalf("join after shutdown: %v", err)
		}
		ch, cancel := g.Subscribe()
		defer cancel()
		if _, ok := <-ch; ok {
			t.Fatal("subscription after shutdown is open")
		}
		time.Sleep(20 * time.Second)
	})
}

func TestJoinUnreachableSaysWhy(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := NewMemNetwork()
		g := memNode(t, net, 0, nil)
		defer shutdownAll([]*Gossip{g})
		_, err := g.Join([]string{"10.200.0.1:7946"})
		var je *JoinError
		if !errors.As(err, &je) || !strings.Contains(err.Error(), "nothing is listening") {
			t.Fatalf("err = %v", err)
		}
	})
}

// A configured NodeName reused by a new identity (restart with a new key at the
// same address) is reported as the old peer failing and the new one joining.
func TestSameNameNewKey(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := NewMemNetwork()
		seed := memNode(t, net, 0, nil)
		events, cancel := seed.Subscribe()
		defer cancel()
		const addr = "10.5.5.5:7946"
		start := func() *Gossip {
			tr, err := net.NewTransport(addr)
			if err != nil {
				t.Fatal(err)
			}
			cfg := DefaultConfig()
			cfg.Transport, cfg.NodeName = tr, "worker"
			g, err := New(cfg, newKey(t), testAddrs(t, 1))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.Join([]string{seed.BoundAddr()}); err != nil {
				t.Fatal(err)
			}
			return g
		}
		first := start()
		oldID := first.Local().PeerID
		if ev := <-events; ev.Type != EventJoin || ev.Member.PeerID != oldID {
			t.Fatalf("got %v %s", ev.Type, ev.Member.PeerID)
		}
		_ = first.Shutdown() // crash, and come back at once with a new key
		second := start()
		defer shutdownAll([]*Gossip{seed, second})
		ev := <-events
		if ev.Type != EventFailed || ev.Member.PeerID != oldID {
			t.Fatalf("got %v %s, want failed %s", ev.Type, ev.Member.PeerID, oldID)
		}
		ev = <-events
		if ev.Type != EventJoin || ev.Member.PeerID != second.Local().PeerID {
			t.Fatalf("got %v %s, want join of the new key", ev.Type, ev.Member.PeerID)
		}
	})
}
