package kademlia

import (
	"context"
	"testing"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/prometheus/client_golang/prometheus"
)

func TestMetricsLabelledKademlia(t *testing.T) {
	bubble(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		cfg := TestConfig()
		cfg.Registerer = reg
		c := newCluster(t, 4, TestConfig())
		h := c.nodes[0].h
		// A second router on another node of the cluster, this one with metrics.
		_ = c.nodes[0].r.Close()
		r, err := New(h, cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[0].r = r
		for _, o := range c.nodes[1:] {
			r.PeerUp(o.h.Peerstore().PeerInfo(o.h.ID()))
		}
		for i := range 3 {
			if _, _, err := r.Lookup(context.Background(), routing.ContentKey([]byte{byte(i)})); err != nil {
				t.Fatal(err)
			}
		}
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				if f.GetName() == "dhtnode_kademlia_operations_total" && m.GetCounter().GetValue() != 3 {
					t.Errorf("operations_total %v = %v, want 3 lookups", m.GetLabel(), m.GetCounter().GetValue())
				}
				for _, l := range m.GetLabel() {
					if l.GetName() == "algo" && l.GetValue() == "kademlia" {
						names[f.GetName()] = true
					}
				}
			}
		}
		for _, want := range []string{"dhtnode_kademlia_lookup_hops", "dhtnode_kademlia_rpcs_total",
			"dhtnode_kademlia_lookup_duration_seconds", "dhtnode_kademlia_table_peers"} {
			if !names[want] {
				t.Errorf("no %s{algo=\"kademlia\"} in %v", want, names)
			}
		}
	})
}
