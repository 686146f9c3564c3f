package gossip

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A node whose cluster secret differs from the cluster's keeps running and
// retrying; JoinStatus says it has not joined and why. The cluster's members
// say joined, a lone first member says alone.
func TestJoinStatusSaysWhyNotJoined(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net_ := NewMemNetwork()
		secret := []byte("0123456789abcdef")
		lone := memNode(t, net_, 9, nil)
		if st := lone.JoinStatus(); st.State != JoinAlone || st.Joined || st.Reason == "" {
			t.Fatalf("lone member: %+v", st)
		}
		nodes := startCluster(t, net_, 2, func(c *Config) { c.SecretKey = secret })
		waitFor(t, 90*time.Second, "full view", fullView(nodes), nodes...)
		for _, g := range nodes {
			if st := g.JoinStatus(); st.State != JoinJoined || !st.Joined || st.Reason != "" {
				t.Fatalf("%s: %+v", g.Local().Name, st)
			}
		}
		reg := prometheus.NewRegistry()
		wrong := memNode(t, net_, 5, func(c *Config) {
			c.Registerer = reg
			c.SecretKey = []byte("fedcba9876543210")
			c.RetryJoin = []string{nodes[0].BoundAddr()}
			c.RetryJoinInterval = 5 * time.Second
		})
		defer shutdownAll(append(nodes, lone, wrong))
		if st := wrong.JoinStatus(); st.Joined || st.State != JoinJoining {
			t.Fatalf("before the first attempt: %+v", st)
		}
		waitFor(t, 30*time.Second, "a failed join attempt", func() bool { return !wrong.JoinStatus().LastAttempt.IsZero() })
		st := wrong.JoinStatus()
		t.Logf("wrong secret: %+v", st)
		if st.Joined || st.State != JoinJoining || !strings.Contains(st.Reason, "cluster secret") ||
			strings.Contains(st.Reason, "\n") || len(st.Seeds) != 1 {
			t.Fatalf("wrong secret: %+v", st)
		}
		m, err := newMetricsView(reg)
		if err != nil || m["dhtnode_gossip_joined{}"] != 0 {
			t.Fatalf("joined gauge %v (%v)", m["dhtnode_gossip_joined{}"], err)
		}
		if _, ok := m["dhtnode_gossip_joined{}"]; !ok {
			t.Fatalf("no joined gauge: %v", m)
		}
	})
}
