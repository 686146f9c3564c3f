package gossip

import (
	"io"
	"log"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/libp2p/go-libp2p/core/crypto"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// The attacks here are the ones signing the gossip address and a freshness value
// into the metadata stops: someone who copied a member's metadata bytes (any
// member sees them, and without a cluster secret anyone can listen) replays them
// from a memberlist node of their own, under the member's name.

// lyingTransport announces an address it is not bound to, as an attacker's
// memberlist would to claim a victim's gossip address (alive messages carry the
// address in their body, not the packet's source).
type lyingTransport struct {
	memberlist.NodeAwareTransport
	ip   net.IP
	port int
}

func (t lyingTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.ip, t.port, nil
}

// rogue starts a plain memberlist (no gossip package) on net at bindAddr that
// calls itself name, announces announceAddr (bindAddr if empty), advertises
// meta, and joins via seed.
func rogue(t *testing.T, net_ *MemNetwork, name, bindAddr, announceAddr string, meta []byte, seed string) *memberlist.Memberlist {
	t.Helper()
	tr, err := net_.NewTransport(bindAddr)
	if err != nil {
		t.Fatal(err)
	}
	if announceAddr != "" {
		host, port, err := splitHostPort(announceAddr)
		if err != nil {
			t.Fatal(err)
		}
		tr = lyingTransport{NodeAwareTransport: tr, ip: net.ParseIP(host), port: port}
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name, mc.Transport, mc.Delegate = name, tr, forgedDelegate{meta: meta}
	mc.Logger = log.New(io.Discard, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ml.Join([]string{seed})
	t.Logf("rogue %s at %s announcing %s joined: err=%v", name, bindAddr, ml.LocalNode().Address(), err)
	return ml
}

// memNodeAt starts a member at addr with key.
func memNodeAt(t *testing.T, net_ *MemNetwork, addr string, key crypto.PrivKey, mod func(*Config)) *Gossip {
	t.Helper()
	tr, err := net_.NewTransport(addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Transport = tr
	cfg.Logger = testLogger()
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(cfg, key, testAddrs(t, 7))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func metaOf(g *Gossip) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.meta)
}

func memberOf(g *Gossip, name string) (Member, bool) {
	for _, m := range g.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// replayCluster is three members plus a victim at victimAddr, all with a full view.
func replayCluster(t *testing.T, net_ *MemNetwork, victimAddr string, victimKey crypto.PrivKey, mod func(*Config)) ([]*Gossip, *Gossip) {
	t.Helper()
	nodes := startCluster(t, net_, 3, mod)
	victim := memNodeAt(t, net_, victimAddr, victimKey, mod)
	if _, err := victim.Join([]string{nodes[0].BoundAddr()}); err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(nodes), victim)
	waitFor(t, 90*time.Second, "full view with the victim", fullView(all), all...)
	return nodes, victim
}

// noImpersonation checks that no node lists name at any address but want, and
// none lists it alive unless alive is true.
func noImpersonation(t *testing.T, nodes []*Gossip, name, want string, alive bool) {
	t.Helper()
	for _, g := range nodes {
		m, ok := memberOf(g, name)
		if !ok {
			continue
		}
		if m.Addr != want {
			t.Fatalf("%s lists %s at %s (state %s): impersonated; want %s%s", g.Local().Name, name, m.Addr, m.State, want, views(nodes))
		}
		if !alive && (m.State == StateAlive || m.State == StateSuspect) {
			t.Fatalf("%s lists %s %s at %s although it is gone%s", g.Local().Name, name, m.State, m.Addr, views(nodes))
		}
	}
}

func refusedCount(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	m, err := newMetricsView(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m["dhtnode_gossip_refused_members_total{reason="+reason+"}"]
}

// A member leaves; a rogue replays its metadata bytes under its name, first from
// the rogue's own address, then claiming the member's old address. Neither is
// accepted (without the address and freshness in the signature, the first made
// every member list the peer alive at the rogue's address and locked the real
// node out: "Conflicting address"). Then the real node restarts at its address
// and is back everywhere, the rogues still running.
func TestReplayAfterLeaveIsRefused(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net_ := NewMemNetwork()
		reg := prometheus.NewRegistry()
		const victimAddr = "10.9.9.9:7946"
		victimKey := newKey(t)
		nodes, victim := replayCluster(t, net_, victimAddr, victimKey, nil)
		defer func() { shutdownAll(nodes) }()
		// A fresh observer with a registry, so the counter is this test's alone.
		observer := memNode(t, net_, 5, func(c *Config) { c.Registerer = reg })
		if _, err := observer.Join([]string{nodes[0].BoundAddr()}); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, observer)
		all := append(slices.Clone(nodes), victim)
		waitFor(t, 90*time.Second, "full view with the observer", fullView(all), all...)

		name, stolen := victim.Local().Name, metaOf(victim)
		if err := victim.Leave(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		_ = victim.Shutdown()
		waitFor(t, 90*time.Second, "victim marked left by all", func() bool {
			for _, g := range nodes {
				if stateOf(g, name) != StateLeft {
					return false
				}
			}
			return true
		}, nodes...)

		// From elsewhere. The rogues join the observer, so that its counter sees
		// the refusal whichever members the rogue's later gossip reaches.
		r1 := rogue(t, net_, name, "10.6.6.6:7946", "", stolen, observer.BoundAddr())
		time.Sleep(15 * time.Second)
		defer r1.Shutdown()
		noImpersonation(t, nodes, name, victimAddr, false)
		if refusedCount(t, reg, refusedAddress) == 0 {
			t.Fatalf("replay from another address not counted as refused (reason address)")
		}

		// Claiming the victim's own address: the record is older than its leave.
		r2 := rogue(t, net_, name, "10.6.6.7:7946", victimAddr, stolen, observer.BoundAddr())
		time.Sleep(15 * time.Second)
		defer r2.Shutdown()
		noImpersonation(t, nodes, name, victimAddr, false)
		if refusedCount(t, reg, refusedStale) == 0 {
			t.Fatalf("replay of a record older than the leave not counted as refused (reason stale)")
		}
		t.Logf("refused on the observer: address=%v stale=%v",
			refusedCount(t, reg, refusedAddress), refusedCount(t, reg, refusedStale))

		// The real node comes back at its address with a fresh record, while both
		// rogues keep replaying.
		back := memNodeAt(t, net_, victimAddr, victimKey, nil)
		if _, err := back.Join([]string{nodes[1].BoundAddr()}); err != nil {
			t.Fatalf("restarted victim cannot join: %v", err)
		}
		nodes = append(nodes, back)
		waitFor(t, 90*time.Second, "restarted victim alive everywhere", fullView(nodes), nodes...)
		noImpersonation(t, nodes, name, victimAddr, true)
	})
}

// A member crashes and is forgotten (memberlist's GossipToTheDeadTime and our
// ReconnectTimeout both pass); its metadata replayed from another address is
// refused, and the real node can come back at a new address.
func TestReplayAfterForgottenIsRefused(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net_ := NewMemNetwork()
		short := func(c *Config) { c.ReconnectInterval, c.ReconnectTimeout = 10*time.Second, time.Minute }
		const victimAddr = "10.9.9.9:7946"
		victimKey := newKey(t)
		nodes, victim := replayCluster(t, net_, victimAddr, victimKey, short)
		defer func() { shutdownAll(nodes) }()
		name, stolen := victim.Local().Name, metaOf(victim)
		_ = victim.Shutdown() // crash: no leave
		waitFor(t, 3*time.Minute, "victim forgotten by all", func() bool {
			for _, g := range nodes {
				if stateOf(g, name) != "" {
					return false
				}
			}
			return true
		}, nodes...)

		r := rogue(t, net_, name, "10.6.6.6:7946", "", stolen, nodes[0].BoundAddr())
		time.Sleep(15 * time.Second)
		for _, g := range nodes {
			if m, ok := memberOf(g, name); ok {
				t.Fatalf("%s took the forgotten %s back from a replay: %+v", g.Local().Name, name, m)
			}
		}
		_ = r.Shutdown()

		// The real node restarts on another host; it is taken back there.
		const newAddr = "10.9.9.10:7946"
		back := memNodeAt(t, net_, newAddr, victimKey, short)
		if _, err := back.Join([]string{nodes[2].BoundAddr()}); err != nil {
			t.Fatalf("restarted victim cannot join: %v", err)
		}
		nodes = append(nodes, back)
		waitFor(t, 90*time.Second, "restarted victim alive everywhere", fullView(nodes), nodes...)
		noImpersonation(t, nodes, name, newAddr, true)
	})
}

// A member changes its libp2p addresses (a newer record); a rogue replays the
// older record claiming the member's own gossip address, with a higher
// incarnation (memberlist hands it one when it refutes the member's state). The
// older record is refused and the members keep the new addresses.
func TestOlderRecordIsRefused(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net_ := NewMemNetwork()
		reg := prometheus.NewRegistry()
		nodes := startCluster(t, net_, 2, nil)
		observer := memNode(t, net_, 5, func(c *Config) { c.Registerer = reg })
		if _, err := observer.Join([]string{nodes[0].BoundAddr()}); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, observer)
		defer func() { shutdownAll(nodes) }()
		waitFor(t, 90*time.Second, "full view", fullView(nodes), nodes...)
		victim := nodes[1]
		name, old := victim.Local().Name, metaOf(victim)
		newAddrs := []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4999")}
		if err := victim.SetAddrs(newAddrs); err != nil {
			t.Fatal(err)
		}
		hasNew := func() bool {
			for _, g := range nodes {
				m, _ := memberOf(g, name)
				if len(m.Addrs) != 1 || !m.Addrs[0].Equal(newAddrs[0]) {
					return false
				}
			}
			return true
		}
		waitFor(t, 60*time.Second, "new addresses everywhere", hasNew, nodes...)

		r := rogue(t, net_, name, "10.6.6.6:7946", victim.BoundAddr(), old, observer.BoundAddr())
		defer r.Shutdown()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if !hasNew() {
				t.Fatalf("an older record replaced the newer one%s", views(nodes))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if refusedCount(t, reg, refusedStale) == 0 {
			t.Fatal("older record not counted as refused (reason stale)")
		}
	})
}

// A member that crashes, is declared dead and comes back on another address is
// taken back there at once, not only after memberlist forgets it
// (DeadNodeReclaimTime): its fresh record, signed for the new address, is what
// proves it is the same peer.
func TestDeadMemberComesBackAtNewAddress(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net_ := NewMemNetwork()
		const victimAddr = "10.9.9.9:7946"
		victimKey := newKey(t)
		nodes, victim := replayCluster(t, net_, victimAddr, victimKey, nil)
		defer func() { shutdownAll(nodes) }()
		name := victim.Local().Name
		_ = victim.Shutdown()
		waitFor(t, time.Minute, "victim dead everywhere", func() bool {
			for _, g := range nodes {
				if stateOf(g, name) != StateDead {
					return false
				}
			}
			return true
		}, nodes...)
		const newAddr = "10.9.9.10:7946"
		back := memNodeAt(t, net_, newAddr, victimKey, nil)
		start := time.Now()
		if _, err := back.Join([]string{nodes[0].BoundAddr()}); err != nil {
			t.Fatalf("restarted victim cannot join: %v", err)
		}
		all := append(slices.Clone(nodes), back)
		// Within a few probe intervals, far below memberlist's 30 s
		// GossipToTheDeadTime after which it would forget the dead member and take
		// any newcomer under its name.
		waitFor(t, 10*time.Second, "restarted victim alive at its new address everywhere", func() bool {
			for _, g := range all {
				if m, ok := memberOf(g, name); !ok || m.Addr != newAddr || m.State != StateAlive {
					return false
				}
			}
			return true
		}, all...)
		t.Logf("back at the new address on every member after %v (fake time)", time.Since(start))
		nodes = all
	})
}

// A member whose earlier life signed a record with a clock ahead of today's (the
// clock was stepped back between runs) restarts with a record the others find
// older than what they saw. It notices its own newer record in the gossip it
// merges, re-signs past it and is taken back.
func TestRestartAfterClockWentBack(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net_ := NewMemNetwork()
		const victimAddr = "10.9.9.9:7946"
		victimKey := newKey(t)
		nodes, victim := replayCluster(t, net_, victimAddr, victimKey, nil)
		defer func() { shutdownAll(nodes) }()
		name := victim.Local().Name
		// The earlier life's clock: an hour ahead. Its record reaches everyone.
		ahead := uint64(time.Now().Add(time.Hour).UnixNano())
		future, err := SignMeta(name, victimKey, netip.MustParseAddrPort(victimAddr), ahead, testAddrs(t, 7))
		if err != nil {
			t.Fatal(err)
		}
		victim.mu.Lock()
		victim.meta, victim.issued = future, ahead
		victim.mu.Unlock()
		if err := victim.ml.UpdateNode(time.Second); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "the record from the clock ahead everywhere", func() bool {
			for _, g := range nodes {
				g.mu.Lock()
				r := g.members[name]
				ok := r != nil && r.issued == ahead
				g.mu.Unlock()
				if !ok {
					return false
				}
			}
			return true
		})
		_ = victim.Shutdown()

		// Checked on the clock, not on back.issued: gossip still addressed to the
		// old life can reach the new node as soon as it binds, and it may re-sign
		// past the earlier record before we look, which is what is under test.
		if uint64(time.Now().UnixNano()) >= ahead {
			t.Fatal("test broken: the restarted node's clock is not behind")
		}
		back := memNodeAt(t, net_, victimAddr, victimKey, nil)
		if _, err := back.Join([]string{nodes[0].BoundAddr()}); err != nil {
			t.Fatal(err)
		}
		all := append(slices.Clone(nodes), back)
		nodes = all
		waitFor(t, 90*time.Second, "restarted victim alive everywhere with a record past the earlier one", func() bool {
			for _, g := range nodes[:3] {
				g.mu.Lock()
				r := g.members[name]
				ok := r != nil && r.State == StateAlive && r.issued > ahead
				g.mu.Unlock()
				if !ok {
					return false
				}
			}
			return true
		}, nodes...)
	})
}
