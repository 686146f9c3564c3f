package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/onehop"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// startGatedCluster starts n in-process nodes running every router, sharing secret
// ("" for an open cluster), the others joining through the first, and waits until
// each sees all the others alive.
func startGatedCluster(t *testing.T, n int, secret string) []*Node {
	t.Helper()
	var nodes []*Node
	for i := range n {
		cfg := testConfig()
		cfg.Addresses.API = ""
		cfg.Gossip.Secret = secret
		cfg.Routing.Routers = []string{"chord", "kademlia", "onehop"}
		cfg.Routing.Default = "chord"
		cfg.Routing.Kademlia.IPDiversity = "off"
		if i > 0 {
			cfg.Gossip.Join = []string{nodes[0].Gossip().BoundAddr()}
		}
		nd, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nd.Close() })
		nodes = append(nodes, nd)
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, nd := range nodes {
		for len(nd.AlivePeers()) < n-1 {
			if time.Now().After(deadline) {
				t.Fatalf("gossip never showed %d members to %s: %d", n, nd.ID(), len(nd.AlivePeers()))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes
}

func newSecret(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// rogueHost is a libp2p host that never joined gossip: loopback TCP and QUIC,
// libp2p's default security, nothing else of dhtnode's.
func rogueHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"),
		libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// addrsOver is n's listen addresses that use the transport protocol code.
func addrsOver(n *Node, code int) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range n.Host().Addrs() {
		if _, err := a.ValueForProtocol(code); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// inAnyTable reports in which of n's routers' tables id appears ("" for none).
func inAnyTable(n *Node, id peer.ID) string {
	for _, r := range n.Routers() {
		tr, ok := r.(routing.TableReporter)
		if !ok {
			continue
		}
		for _, s := range tr.RoutingTable().Sections {
			for _, e := range s.Entries {
				if e.Peer == id {
					return r.Name()
				}
			}
		}
	}
	return ""
}

// chordHolds reports whether id is in n's Chord table (predecessor, successors,
// fingers).
func chordHolds(n *Node, id peer.ID) bool {
	for _, s := range n.Router("chord").(*chord.Chord).RoutingTable().Sections {
		for _, e := range s.Entries {
			if e.Peer == id {
				return true
			}
		}
	}
	return false
}

// refused reads n's dhtnode_nonmembers_refused_total{at=at}.
func refused(t *testing.T, n *Node, at string) float64 {
	t.Helper()
	families, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "dhtnode_nonmembers_refused_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "at" && l.GetValue() == at {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// rogueJoins runs a Chord and a one-hop router on the rogue host and joins both
// through target the way a new member would (a find_successor for its own key; the
// one-hop router announces itself with a find_owner for its own key and then asks
// target for target's key), returning each one's error.
func rogueJoins(t *testing.T, rogue host.Host, target *Node) (chordErr, onehopErr error) {
	t.Helper()
	ccfg := chord.DefaultConfig()
	c, err := chord.New(rogue, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info := peer.AddrInfo{ID: target.ID(), Addrs: target.Host().Addrs()}
	chordErr = c.Join(ctx, info)

	o, err := onehop.New(rogue, onehop.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	o.PeerUp(info)
	// The target owns its own key in the rogue's two-member view, so this asks it.
	// A lookup that gets no answer falls back to the rogue's own view minus the
	// target (now a suspect), so "answered" means the target was named.
	owners, _, err := o.Lookup(ctx, routing.PeerKey(target.ID()))
	if err == nil && (len(owners) == 0 || owners[0].ID != target.ID()) {
		err = fmt.Errorf("target not named: %v", owners)
	}
	return chordErr, err
}

// TestRogueHostRefusedWithSecret: with a cluster secret, a libp2p host that never
// joined gossip cannot connect to a member at all (over TCP or QUIC: the connection
// gater closes it after the handshake), so its Chord join and one-hop announcement
// fail; the refusals are counted; it is in no member's ring, view or k-buckets; and
// lookups of its own key name members only, agreeing with the members-only oracle.
func TestRogueHostRefusedWithSecret(t *testing.T) {
	nodes := startGatedCluster(t, 3, newSecret(t))
	rogue := rogueHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for _, tc := range []struct {
		name string
		code int
	}{{"tcp", ma.P_TCP}, {"quic", ma.P_QUIC_V1}} {
		addrs := addrsOver(nodes[0], tc.code)
		if len(addrs) == 0 {
			t.Fatalf("node has no %s address: %v", tc.name, nodes[0].Host().Addrs())
		}
		// One host per transport, knowing only that transport's addresses. With
		// the muxer negotiated inside the handshake the dialer may see its
		// connection set up before the gater on the far side closes it, so what
		// counts is that no stream gets through.
		r := rogueHost(t)
		start := time.Now()
		connErr := r.Connect(ctx, peer.AddrInfo{ID: nodes[0].ID(), Addrs: addrs})
		s, err := r.NewStream(ctx, nodes[0].ID(), chord.ProtocolID)
		if err == nil {
			_, err = s.Write([]byte{0})
			if err == nil {
				_, err = s.Read(make([]byte, 1))
			}
			_ = s.Reset()
		}
		if err == nil {
			t.Fatalf("a non-member opened a Chord stream over %s", tc.name)
		}
		t.Logf("%s: non-member refused after %v (connect: %v; stream: %v)",
			tc.name, time.Since(start).Round(time.Millisecond), connErr, err)
	}
	chordErr, onehopErr := rogueJoins(t, rogue, nodes[0])
	if chordErr == nil {
		t.Error("a non-member joined the Chord ring")
	}
	if onehopErr == nil {
		t.Error("a non-member's one-hop lookup was answered")
	}
	if got := refused(t, nodes[0], "connection"); got < 2 {
		t.Errorf("refused connections counted %v, want at least 2", got)
	}

	keys := peerKeys(nodes)
	rogueKey := routing.PeerKey(rogue.ID())
	for _, name := range []string{"chord", "onehop", "kademlia"} {
		for i, nd := range nodes {
			for {
				owners, _, err := nd.Router(name).Lookup(ctx, rogueKey)
				if err == nil && name != "kademlia" && routing.PeerKey(owners[0].ID) == ringOwner(keys, rogueKey) {
					break
				}
				if err == nil && name == "kademlia" && len(owners) == len(nodes) {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("node %d: %s lookup never matched the members-only oracle: %v %v", i, name, owners, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	for i, nd := range nodes {
		if table := inAnyTable(nd, rogue.ID()); table != "" {
			t.Errorf("node %d: non-member in the %s table", i, table)
		}
		if nd.Host().Network().Connectedness(rogue.ID()) == network.Connected {
			t.Errorf("node %d holds a connection to the non-member", i)
		}
	}
}

// TestRogueHostAdmittedWithoutSecret: without a cluster secret the node is open, as
// documented: the same rogue host connects, and its Chord join and one-hop lookup are
// answered. But Chord's tables hold gossip members only, secret or not (a peer that is
// not in the gossip view is no member; it may join gossip to become one): after many
// stabilization rounds the rogue is in no member's Chord table and the members' ring
// does not name it the owner of its own key.
func TestRogueHostAdmittedWithoutSecret(t *testing.T) {
	nodes := startGatedCluster(t, 2, "")
	rogue := rogueHost(t)
	chordErr, onehopErr := rogueJoins(t, rogue, nodes[0])
	if chordErr != nil || onehopErr != nil {
		t.Fatalf("open node refused: chord %v, onehop %v", chordErr, onehopErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The rogue's Chord notifies its successor each round; give the members many
	// rounds to (wrongly) take it in.
	for _, nd := range nodes {
		c := nd.Router("chord").(*chord.Chord)
		for base := c.StabilizeRounds(); c.StabilizeRounds() < base+10; {
			if ctx.Err() != nil {
				t.Fatalf("chord ran %d stabilize rounds in 60 s", c.StabilizeRounds()-base)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	keys := peerKeys(nodes)
	rogueKey := routing.PeerKey(rogue.ID())
	for i, nd := range nodes {
		if chordHolds(nd, rogue.ID()) {
			t.Errorf("node %d: a peer outside gossip is in the open node's chord table", i)
		}
		owners, _, err := nd.Router("chord").Lookup(ctx, rogueKey)
		if err != nil || routing.PeerKey(owners[0].ID) != ringOwner(keys, rogueKey) {
			t.Errorf("node %d: chord lookup of the rogue's key: %v %v, want the members' owner", i, owners, err)
		}
	}
	if got := refused(t, nodes[0], "connection"); got != 0 {
		t.Errorf("open node counted %v refused connections", got)
	}
}

// TestStartLogSaysWhetherOpen: the node says in one line at start whether it is
// open (no secret) or members-only.
func TestStartLogSaysWhetherOpen(t *testing.T) {
	for _, tc := range []struct {
		secret string
		want   string
	}{{"", "no cluster secret: the node is open"}, {newSecret(t), "cluster secret set: only gossip members"}} {
		var buf bytes.Buffer
		cfg := testConfig()
		cfg.Addresses.API = ""
		cfg.Gossip.Secret = tc.secret
		n, err := New(cfg, nil, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
		if err != nil {
			t.Fatal(err)
		}
		_ = n.Close()
		if !strings.Contains(buf.String(), tc.want) {
			t.Errorf("start log lacks %q:\n%s", tc.want, buf.String())
		}
	}
}
