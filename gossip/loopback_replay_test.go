package gossip

import (
	"io"
	"log"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// loopbackRogue is a plain memberlist node on real sockets at 127.0.0.1 that
// advertises meta under name.
func loopbackRogue(t *testing.T, name string, meta func(addr netip.AddrPort) []byte) *memberlist.Memberlist {
	t.Helper()
	nt, err := listen("127.0.0.1:0", log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(nt.GetAutoBindPort()))
	mc := memberlist.DefaultLocalConfig()
	mc.Name, mc.Transport = name, nt
	mc.AdvertiseAddr, mc.AdvertisePort = "127.0.0.1", nt.GetAutoBindPort()
	mc.Delegate = forgedDelegate{meta: meta(addr)}
	mc.Logger = log.New(io.Discard, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	return ml
}

// The replay attack on real UDP/TCP sockets, the attacker learning the bytes
// the way it would: as an ordinary member of an open cluster (a valid identity
// of its own), it reads the victim's metadata from its memberlist view. After
// the victim leaves, it comes back under the victim's name with those bytes.
// The cluster refuses it and counts it; the victim restarts at its address and
// is back.
func TestLoopbackReplayRefused(t *testing.T) {
	reg := prometheus.NewRegistry()
	local := func(c *Config) { c.Profile = ProfileLocal }
	seed := loopbackNode(t, 0, func(c *Config) { local(c); c.Registerer = reg })
	defer seed.Shutdown()
	other := loopbackNode(t, 1, local)
	defer other.Shutdown()
	victimKey := newKey(t)
	startVictim := func(bind string) *Gossip {
		cfg := DefaultConfig()
		cfg.BindAddr, cfg.Profile, cfg.Logger = bind, ProfileLocal, testLogger()
		g, err := New(cfg, victimKey, testAddrs(t, 2))
		// The old port came from the ephemeral range, so while it was free
		// an outgoing connection of this machine may have been given it as
		// its local port; it is free again once that connection closes.
		for deadline := time.Now().Add(40 * time.Second); err != nil && strings.Contains(err.Error(), "address already in use") && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			g, err = New(cfg, victimKey, testAddrs(t, 2))
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Join([]string{seed.BoundAddr()}); err != nil {
			t.Fatal(err)
		}
		return g
	}
	victim := startVictim("127.0.0.1:0")
	victimAddr, name := victim.BoundAddr(), victim.Local().Name
	if _, err := other.Join([]string{seed.BoundAddr()}); err != nil {
		t.Fatal(err)
	}
	nodes := []*Gossip{seed, other, victim}
	waitFor(t, 40*time.Second, "3 members on loopback", fullView(nodes), nodes...)

	// The spy: an honest-looking member with its own key.
	spyKey := newKey(t)
	spy := loopbackRogue(t, "spy", func(a netip.AddrPort) []byte {
		b, err := SignMeta("spy", spyKey, a, uint64(time.Now().UnixNano()), nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
	if _, err := spy.Join([]string{seed.BoundAddr()}); err != nil {
		t.Fatalf("spy join: %v", err)
	}
	var stolen []byte
	waitFor(t, 40*time.Second, "the spy to see the victim's metadata", func() bool {
		for _, n := range spy.Members() {
			if n.Name == name {
				stolen = append([]byte(nil), n.Meta...)
				return true
			}
		}
		return false
	})
	_ = spy.Leave(time.Second)
	_ = spy.Shutdown()

	if err := victim.Leave(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	_ = victim.Shutdown()
	nodes = nodes[:2]
	waitFor(t, 40*time.Second, "victim marked left", func() bool {
		return stateOf(seed, name) == StateLeft && stateOf(other, name) == StateLeft
	}, nodes...)

	r := loopbackRogue(t, name, func(netip.AddrPort) []byte { return stolen })
	defer r.Shutdown()
	_, err := r.Join([]string{seed.BoundAddr()})
	t.Logf("rogue %s at %s joined: %v", name, r.LocalNode().Address(), err)
	waitFor(t, 40*time.Second, "the replay refused and counted", func() bool {
		return refusedCount(t, reg, refusedAddress) > 0
	}, nodes...)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		noImpersonation(t, nodes, name, victimAddr, false)
		time.Sleep(100 * time.Millisecond)
	}

	// The victim restarts at its old port; that the rogue is still replaying
	// makes no difference.
	_, port, _ := net.SplitHostPort(victimAddr)
	back := startVictim(net.JoinHostPort("127.0.0.1", port))
	defer back.Shutdown()
	nodes = append(nodes, back)
	waitFor(t, 40*time.Second, "restarted victim alive everywhere", func() bool {
		for _, g := range nodes {
			if m, ok := memberOf(g, name); !ok || m.State != StateAlive || m.Addr != victimAddr {
				return false
			}
		}
		return true
	}, nodes...)
	t.Logf("refused on the seed: address=%v stale=%v", refusedCount(t, reg, refusedAddress), refusedCount(t, reg, refusedStale))
}
