package gossip

import (
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/libp2p/go-libp2p/core/crypto"
	ma "github.com/multiformats/go-multiaddr"
)

func newKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testAddrs(t testing.TB, i int) []ma.Multiaddr {
	t.Helper()
	a, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 4000+i))
	if err != nil {
		t.Fatal(err)
	}
	return []ma.Multiaddr{a}
}

func testLogger() *slog.Logger {
	if os.Getenv("GOSSIP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// memNode starts a member on n at an automatic address.
func memNode(t testing.TB, n *MemNetwork, i int, mod func(*Config)) *Gossip {
	t.Helper()
	tr, err := n.NewTransport("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Transport = tr
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

// waitFor polls cond until it holds or timeout passes. Under synctest the
// sleeps are fake time, so generous timeouts cost nothing.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool, nodes ...*Gossip) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s%s", timeout, what, views(nodes))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stateOf returns name's state in g's view ("" if unknown).
func stateOf(g *Gossip, name string) State {
	for _, m := range g.Members() {
		if m.Name == name {
			return m.State
		}
	}
	return ""
}

func aliveCount(g *Gossip) int {
	n := 0
	for _, m := range g.Members() {
		if m.State == StateAlive {
			n++
		}
	}
	return n
}

func fullView(nodes []*Gossip) func() bool {
	return func() bool {
		for _, g := range nodes {
			if aliveCount(g) != len(nodes) {
				return false
			}
		}
		return true
	}
}

// views renders every node's view for failure messages.
func views(nodes []*Gossip) string {
	var b strings.Builder
	for i, g := range nodes {
		fmt.Fprintf(&b, "\nnode %d %s:", i, g.BoundAddr())
		for _, m := range g.Members() {
			fmt.Fprintf(&b, " %s=%s", m.Addr, m.State)
		}
	}
	return b.String()
}

func startCluster(t testing.TB, n *MemNetwork, count int, mod func(*Config)) []*Gossip {
	t.Helper()
	nodes := make([]*Gossip, count)
	for i := range nodes {
		nodes[i] = memNode(t, n, i, mod)
		if i > 0 {
			if _, err := nodes[i].Join([]string{nodes[0].BoundAddr()}); err != nil {
				t.Fatalf("node %d join: %v", i, err)
			}
		}
	}
	return nodes
}

// shutdownAll stops every node and, inside a synctest bubble, lets fake time run
// on so memberlist's in-flight probes and stream handlers finish: the bubble must
// be empty when the test function returns.
func shutdownAll(nodes []*Gossip) {
	for _, g := range nodes {
		_ = g.Shutdown()
	}
	time.Sleep(20 * time.Second)
}

func TestClusterConvergesFailsAndLeaves(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := NewMemNetwork()
		nodes := startCluster(t, net, 8, nil)
		defer shutdownAll(nodes)
		waitFor(t, 90*time.Second, "8 nodes to see 8 alive", fullView(nodes), nodes...)

		// Every member carries the verified libp2p identity of the others.
		for _, g := range nodes {
			for _, m := range g.Members() {
				if m.PeerID == "" || len(m.Addrs) != 1 {
					t.Fatalf("%s sees %s without identity: %+v", g.Local().Name, m.Name, m)
				}
			}
		}

		// Subscribe on node 0 before the changes, to check event order and types.
		events, cancel := nodes[0].Subscribe()
		defer cancel()
		for range 7 { // replay of the current members
			if ev := <-events; ev.Type != EventJoin {
				t.Fatalf("replayed event %v, want join", ev.Type)
			}
		}

		// Node 7 stops without leaving: everyone else marks it dead (failed).
		crashed := nodes[7]
		crashedName := crashed.Local().Name
		_ = crashed.Shutdown()
		start := time.Now()
		waitFor(t, 60*time.Second, "crashed node marked dead by all", func() bool {
			for _, g := range nodes[:7] {
				if stateOf(g, crashedName) != StateDead {
					return false
				}
			}
			return true
		})
		t.Logf("failure detected by all 7 after %v (fake time, LAN profile)", time.Since(start))

		// Node 6 leaves gracefully: everyone else marks it left.
		leaver := nodes[6]
		leaverName := leaver.Local().Name
		if err := leaver.Leave(5 * time.Second); err != nil {
			t.Fatalf("leave: %v", err)
		}
		_ = leaver.Shutdown()
		// The intent is gossiped; a member the broadcast missed (a dropped packet) learns it
		// from the recent intents every push/pull carries, one per 30 s per member on the
		// LAN profile: allow a few rounds (fake time, so the wait costs nothing).
		waitFor(t, 90*time.Second, "leaver marked left by all", func() bool {
			for _, g := range nodes[:6] {
				if stateOf(g, leaverName) != StateLeft {
					return false
				}
			}
			return true
		}, nodes[:6]...)

		// Events on node 0: failed for 7, then leave (or failed, if the dead
		// message overtook the intent there) for 6.
		ev := <-events
		if ev.Type != EventFailed || ev.Member.Name != crashedName {
			t.Fatalf("first event %v %s, want failed %s", ev.Type, ev.Member.Name, crashedName)
		}
		ev = <-events
		if ev.Member.Name != leaverName || (ev.Type != EventLeave && ev.Type != EventFailed) {
			t.Fatalf("second event %v %s, want leave %s", ev.Type, ev.Member.Name, leaverName)
		}
		// Members() still lists the dead and the left node.
		if got := len(nodes[0].Members()); got != 8 {
			t.Fatalf("node 0 lists %d members, want 8 (incl. dead and left)", got)
		}
	})
}

func TestPartitionHealsWithoutOperator(t *testing.T) {
	bubble(t, func(t *testing.T) {
		nodes, _ := partitionAndHeal(t, nil)
		healed := time.Now()
		waitFor(t, 60*time.Second, "re-merge within 60 s of healing", fullView(nodes), nodes...)
		t.Logf("re-merged %v after healing (fake time)", time.Since(healed))
	})
}

// The control: without reconnect, memberlist alone leaves the halves split,
// which is why reconnect exists.
func TestPartitionStaysSplitWithoutReconnect(t *testing.T) {
	bubble(t, func(t *testing.T) {
		nodes, _ := partitionAndHeal(t, func(c *Config) { c.ReconnectInterval = 24 * time.Hour })
		time.Sleep(3 * time.Minute)
		for _, g := range nodes {
			if c := aliveCount(g); c != 4 {
				t.Fatalf("%s sees %d alive after healing without reconnect; memberlist re-merged by itself?", g.Local().Name, c)
			}
		}
	})
}

// partitionAndHeal starts 8 nodes, splits them 4/4 for 90 s (well past
// memberlist's 30 s GossipToTheDeadTime), checks each half sees only itself,
// heals, and returns the nodes (shut down when the test ends).
func partitionAndHeal(t *testing.T, mod func(*Config)) ([]*Gossip, *MemNetwork) {
	t.Helper()
	// A few milliseconds of one-way latency, as between machines on a LAN.
	net := NewMemNetwork(WithLatency(func(from, to string) time.Duration {
		return time.Duration(1+len(from)%3) * time.Millisecond
	}))
	nodes := startCluster(t, net, 8, mod)
	t.Cleanup(func() { shutdownAll(nodes) })
	waitFor(t, 90*time.Second, "full view", fullView(nodes), nodes...)

	var a, b []string
	for i, g := range nodes {
		if i < 4 {
			a = append(a, g.BoundAddr())
		} else {
			b = append(b, g.BoundAddr())
		}
	}
	net.Partition(a, b)
	waitFor(t, 60*time.Second, "each half to see the other half dead", func() bool {
		for _, g := range nodes {
			if aliveCount(g) != 4 {
				return false
			}
		}
		return true
	}, nodes...)
	time.Sleep(90 * time.Second)
	for _, g := range nodes {
		if c := aliveCount(g); c != 4 {
			t.Fatalf("during partition %s sees %d alive, want 4", g.Local().Name, c)
		}
	}
	net.Heal()
	return nodes, net
}

func TestWrongSecretIsRefused(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := NewMemNetwork()
		secret := []byte("0123456789abcdef")
		nodes := startCluster(t, net, 3, func(c *Config) { c.SecretKey = secret })
		defer shutdownAll(nodes)
		waitFor(t, 90*time.Second, "full view", fullView(nodes), nodes...)

		plain := memNode(t, net, 8, nil) // a member of another cluster with no secret
		defer plain.Shutdown()
		for name, key := range map[string][]byte{"wrong": []byte("fedcba9876543210"), "none": nil, "extra": secret} {
			intruder := memNode(t, net, 9, func(c *Config) { c.SecretKey = key })
			target := nodes[0].BoundAddr()
			if name == "extra" { // we have a secret, the node we join has none
				target = plain.BoundAddr()
			}
			_, err := intruder.Join([]string{target})
			if err == nil {
				t.Fatalf("%s secret: join succeeded", name)
			}
			t.Logf("%s secret: %v", name, err)
			if !strings.Contains(err.Error(), "check the cluster secret") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("%s secret: error does not say why: %v", name, err)
			}
			time.Sleep(5 * time.Second)
			for _, g := range nodes {
				if aliveCount(g) != 3 || stateOf(g, intruder.Local().Name) != "" || stateOf(plain, intruder.Local().Name) != "" {
					t.Fatalf("%s secret: intruder got into %s's view", name, g.Local().Name)
				}
			}
			_ = intruder.Shutdown()
		}
	})
}

// forgedDelegate is a plain memberlist member (no gossip package) advertising
// whatever metadata an attacker chose.
type forgedDelegate struct{ meta []byte }

func (d forgedDelegate) NodeMeta(int) []byte           { return d.meta }
func (forgedDelegate) NotifyMsg([]byte)                {}
func (forgedDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (forgedDelegate) LocalState(bool) []byte          { return nil }
func (forgedDelegate) MergeRemoteState([]byte, bool)   {}

func TestImpostorPeerIDIsRefused(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := NewMemNetwork()
		nodes := startCluster(t, net, 3, nil)
		defer shutdownAll(nodes)
		waitFor(t, 90*time.Second, "full view", fullView(nodes), nodes...)
		victim := nodes[1].Local().PeerID

		// Signed by the impostor's own key, but claiming the victim's peer ID.
		impostorKey := newKey(t)
		forged := NodeMeta{PeerID: victim, GossipAddr: netip.MustParseAddrPort(nodes[1].BoundAddr()), Issued: uint64(time.Now().UnixNano()), Addrs: testAddrs(t, 9)}
		var err error
		forged.Signature, err = impostorKey.Sign(signingInput("impostor", forged.body()))
		if err != nil {
			t.Fatal(err)
		}
		// An older dhtnode's format-1 metadata (no gossip address, no freshness).
		v1 := append([]byte{1, byte(len(victim))}, victim...)
		v1 = append(v1, 0, 0, 0)
		cases := map[string][]byte{
			"impostor":   forged.Marshal(),
			"garbage":    []byte("not metadata"),
			"old-format": v1,
		}
		for name, meta := range cases {
			tr, err := net.NewTransport("")
			if err != nil {
				t.Fatal(err)
			}
			mc := memberlist.DefaultLANConfig()
			mc.Name, mc.Transport, mc.Delegate = name, tr, forgedDelegate{meta: meta}
			mc.Logger = log.New(io.Discard, "", 0)
			attacker, err := memberlist.Create(mc)
			if err != nil {
				t.Fatal(err)
			}
			_, err = attacker.Join([]string{nodes[0].BoundAddr()})
			t.Logf("%s join: %v", name, err)
			time.Sleep(10 * time.Second)
			for _, g := range nodes {
				if st := stateOf(g, name); st != "" {
					t.Fatalf("%s accepted %s (state %s)", g.Local().Name, name, st)
				}
				if aliveCount(g) != 3 {
					t.Fatalf("%s sees %d alive, want 3", g.Local().Name, aliveCount(g))
				}
			}
			// A good node that is pointed at the attacker refuses to merge with it.
			loner := memNode(t, net, 10, nil)
			_, err = loner.Join([]string{attacker.LocalNode().Address()})
			if err == nil || !strings.Contains(err.Error(), "refused to merge with that cluster") {
				t.Fatalf("joining the %s attacker: %v", name, err)
			}
			if older := strings.Contains(err.Error(), "older dhtnode"); older != (name == "old-format") {
				t.Fatalf("joining the %s attacker: the error blames an older dhtnode wrongly or not at all: %v", name, err)
			}
			t.Logf("good node joining the %s attacker: %v", name, err)
			if aliveCount(loner) != 1 {
				t.Fatalf("loner merged the attacker: %s", views([]*Gossip{loner}))
			}
			_ = loner.Shutdown()
			_ = attacker.Shutdown()
		}
	})
}
