package p2pgossip

import (
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/gossip"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// member is one gossip member on its own loopback libp2p host.
type member struct {
	h   host.Host
	tr  *Transport
	g   *gossip.Gossip
	reg *prometheus.Registry
}

// testLogger discards unless P2PGOSSIP_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("P2PGOSSIP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newLoopbackHost is a libp2p host on 127.0.0.1 TCP with a free port.
func newLoopbackHost(t testing.TB, opts ...libp2p.Option) host.Host {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.NoTransports,
		libp2p.DefaultTransports,
	}, opts...)
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// newMember starts gossip over libp2p on a fresh loopback host. mod may change
// the gossip config (secret, profile) before start.
func newMember(t testing.TB, mod func(*gossip.Config)) *member {
	t.Helper()
	h := newLoopbackHost(t)
	return newMemberOn(t, h, mod)
}

// newMemberOn starts gossip over libp2p on h, advertising addrs (default: h's).
func newMemberOn(t testing.TB, h host.Host, mod func(*gossip.Config), addrs ...ma.Multiaddr) *member {
	t.Helper()
	m := &member{h: h, reg: prometheus.NewRegistry()}
	var g atomic.Pointer[gossip.Gossip]
	tr, err := New(Config{
		Host:       h,
		Logger:     testLogger(),
		Registerer: m.reg,
		Addrs: func(id peer.ID) []ma.Multiaddr {
			if gs := g.Load(); gs != nil {
				for _, mem := range gs.Members() {
					if mem.PeerID == id {
						return mem.Addrs
					}
				}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := gossip.DefaultConfig()
	cfg.Profile = gossip.ProfileLocal
	cfg.NodeName = h.ID().String()
	cfg.Transport = tr
	cfg.Logger = testLogger()
	cfg.Registerer = m.reg
	if mod != nil {
		mod(&cfg)
	}
	if len(addrs) == 0 {
		addrs = h.Addrs()
	}
	gs, err := gossip.New(cfg, h.Peerstore().PrivKey(h.ID()), addrs)
	if err != nil {
		t.Fatal(err)
	}
	g.Store(gs)
	m.tr, m.g = tr, gs
	t.Cleanup(func() { _ = gs.Shutdown() })
	return m
}

// p2pAddr is the member's first listen multiaddr with /p2p/<id>.
func (m *member) p2pAddr() string {
	return fmt.Sprintf("%s/p2p/%s", m.h.Addrs()[0], m.h.ID())
}

// join makes m join the member at a through JoinAddr.
func (m *member) join(a string) error {
	s, err := m.tr.JoinAddr(a)
	if err != nil {
		return err
	}
	_, err = m.g.Join([]string{s})
	return err
}

// stateOf is name's state in g's view ("" if unknown).
func stateOf(g *gossip.Gossip, name string) gossip.State {
	for _, m := range g.Members() {
		if m.Name == name {
			return m.State
		}
	}
	return ""
}

// aliveIn counts alive members in g's view, itself included.
func aliveIn(g *gossip.Gossip) int {
	n := 0
	for _, m := range g.Members() {
		if m.State == gossip.StateAlive {
			n++
		}
	}
	return n
}

// waitFor polls cond every 50 ms until it holds or timeout passes; then it fails
// with what and every member's view.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool, ms []*member) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; views:\n%s", timeout, what, views(ms))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func views(ms []*member) string {
	var b strings.Builder
	for _, m := range ms {
		var parts []string
		for _, mem := range m.g.Members() {
			parts = append(parts, fmt.Sprintf("%s=%s", mem.Name[len(mem.Name)-6:], mem.State))
		}
		sort.Strings(parts)
		fmt.Fprintf(&b, "  %s: %s\n", m.h.ID().String()[len(m.h.ID().String())-6:], strings.Join(parts, " "))
	}
	return b.String()
}

// fullView holds when every member sees all of ms alive.
func fullView(ms []*member) func() bool {
	return func() bool {
		for _, m := range ms {
			if aliveIn(m.g) != len(ms) {
				return false
			}
		}
		return true
	}
}

// counter reads one counter series from a registry by name and label values.
func counter(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
