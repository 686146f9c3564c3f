package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/exchange"
	"github.com/dhtnode/dhtnode/internal/p2pgossip"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// libp2pGossipConfig is testConfig with gossip over libp2p and every router on.
func libp2pGossipConfig(secret string) Config {
	cfg := testConfig()
	cfg.Addresses.API = ""
	cfg.Gossip.Transport = GossipLibp2p
	cfg.Gossip.Secret = secret
	cfg.Routing.Routers = []string{"chord", "kademlia", "onehop"}
	cfg.Routing.Default = "chord"
	cfg.Routing.Kademlia.IPDiversity = "off"
	return cfg
}

// startLibp2pGossipCluster starts n nodes gossiping over libp2p, the others
// joining the first by the multiaddr its id reports, and waits for a full view.
func startLibp2pGossipCluster(t *testing.T, n int, secret string) []*Node {
	t.Helper()
	var nodes []*Node
	for i := range n {
		cfg := libp2pGossipConfig(secret)
		cfg.Content.BlocksDir, cfg.Content.NoSync = t.TempDir(), true // content exchange on
		if i > 0 {
			cfg.Gossip.Join = []string{nodes[0].IDInfo().GossipAddr}
		}
		nd, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nd.Close() })
		nodes = append(nodes, nd)
	}
	waitAlivePeers(t, nodes, n-1)
	return nodes
}

func waitAlivePeers(t *testing.T, nodes []*Node, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for _, nd := range nodes {
		for len(nd.AlivePeers()) != want {
			if time.Now().After(deadline) {
				t.Fatalf("gossip never showed %d other members to %s: %d", want, nd.ID(), len(nd.AlivePeers()))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestGossipOverLibp2pNodes: nodes on gossip.transport libp2p join by multiaddr
// (retry-join and the API's Join), converge, and report the transport in id.
func TestGossipOverLibp2pNodes(t *testing.T) {
	nodes := startLibp2pGossipCluster(t, 3, "")
	info := nodes[0].IDInfo()
	if info.GossipTransport != GossipLibp2p || !strings.HasSuffix(info.GossipAddr, "/p2p/"+nodes[0].ID().String()) {
		t.Fatalf("id: transport %q, gossip addr %q", info.GossipTransport, info.GossipAddr)
	}
	if want := p2pgossip.AddrOf(nodes[0].ID(), p2pgossip.DefaultPort).String(); info.GossipBind != want {
		t.Fatalf("gossip bind %q, want the derived %q", info.GossipBind, want)
	}
	if seeds := nodes[1].IDInfo().Cluster.Seeds; len(seeds) != 1 || seeds[0] != info.GossipAddr {
		t.Fatalf("seeds shown as %v, want the configured multiaddr", seeds)
	}
	late, err := New(libp2pGossipConfig(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = late.Close() })
	if _, err := late.Join([]string{"127.0.0.1:7946"}); err == nil || !strings.Contains(err.Error(), "/p2p/") {
		t.Fatalf("join by host:port over libp2p: %v, want an error asking for a /p2p/ multiaddr", err)
	}
	if _, err := late.Join([]string{nodes[2].IDInfo().GossipAddr}); err != nil {
		t.Fatal(err)
	}
	waitAlivePeers(t, append(nodes, late), 3)
}

// TestGossipTransportMismatchIsClear: a node gossiping over libp2p that joins a
// node gossiping over UDP gets an error that names the transports.
func TestGossipTransportMismatchIsClear(t *testing.T) {
	cfg := testConfig()
	cfg.Addresses.API = ""
	udp, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = udp.Close() })
	p2p, err := New(libp2pGossipConfig(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p2p.Close() })
	target := udp.Host().Addrs()[0].String() + "/p2p/" + udp.ID().String()
	_, err = p2p.Join([]string{target})
	if err == nil || !strings.Contains(err.Error(), "gossip.transport=udp") {
		t.Fatalf("libp2p-gossip node joining a udp-gossip node: %v, want an error naming gossip.transport=udp", err)
	}
	if _, err := udp.Join([]string{target}); err == nil || !strings.Contains(err.Error(), "gossip.transport") {
		t.Fatalf("udp-gossip node joining a multiaddr: %v, want an error naming gossip.transport", err)
	}
	// A udp-gossip node given the libp2p port of a libp2p-gossip node as host:port.
	tcpPort, err := p2p.Host().Addrs()[0].ValueForProtocol(ma.P_TCP)
	if err != nil {
		t.Fatal(err)
	}
	_, err = udp.Join([]string{"127.0.0.1:" + tcpPort})
	if err == nil || !strings.Contains(err.Error(), "libp2p") {
		t.Fatalf("udp-gossip node joining a libp2p port: %v, want a hint naming libp2p", err)
	}
	t.Logf("udp → libp2p port: %v", err)
}

// TestGossipOverLibp2pGate: with a cluster secret and gossip over libp2p, a
// non-member connects and may open the gossip streams (that is how a joiner
// joins), but every other stream, to or from it, is refused and counted, and it
// enters no router table; a node holding the secret joins through that gate and
// becomes a full member.
func TestGossipOverLibp2pGate(t *testing.T) {
	secret := newSecret(t)
	nodes := startLibp2pGossipCluster(t, 2, secret)
	target := nodes[0]
	rogue := rogueHost(t)
	// The rogue serves Chord too, so that a refusal of the node's own dial is the
	// gate's doing and not a missing handler.
	rogue.SetStreamHandler(chord.ProtocolID, func(s network.Stream) { _, _ = s.Write([]byte{1}); _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := rogue.Connect(ctx, peer.AddrInfo{ID: target.ID(), Addrs: target.Host().Addrs()}); err != nil {
		t.Fatalf("a non-member could not connect at all: %v", err)
	}
	for _, proto := range p2pgossip.Protocols {
		s, err := rogue.NewStream(ctx, target.ID(), proto)
		if err == nil {
			_, err = s.Write([]byte{0x01, 0x00}) // a one-byte packet frame, or junk for memberlist
			_ = s.CloseWrite()
		}
		if err != nil {
			t.Fatalf("a non-member could not open %s: %v", proto, err)
		}
		defer s.Reset()
	}
	// The node's gossip transport took both (negotiation may be lazy, so the
	// dialer's success alone proves nothing).
	for deadline := time.Now().Add(30 * time.Second); ; {
		pk := gathered(t, target, "dhtnode_gossip_libp2p_packets_total", "direction", "received")
		st := gathered(t, target, "dhtnode_gossip_libp2p_streams_total", "direction", "received")
		if pk >= 1 && st >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the non-member's gossip streams never reached the transport (packets %v, streams %v)", pk, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := refused(t, target, "stream")
	for _, proto := range []protocol.ID{chord.ProtocolID, exchange.ProtocolID, "/dhtnode/kad/1.0.0"} {
		if err := streamWorks(ctx, rogue.NewStream, target.ID(), proto); err == nil {
			t.Fatalf("a non-member opened a %s stream", proto)
		} else {
			t.Logf("%s from a non-member: %v", proto, err)
		}
	}
	if err := streamWorks(ctx, target.Host().NewStream, rogue.ID(), chord.ProtocolID); err == nil {
		t.Fatal("the node opened a Chord stream to a non-member")
	}
	if got := refused(t, target, "stream"); got < before+4 {
		t.Fatalf("refused streams counted %v → %v, want 4 more", before, got)
	}
	chordErr, onehopErr := rogueJoins(t, rogue, target)
	if chordErr == nil || onehopErr == nil {
		t.Fatalf("a non-member's router joins were answered: chord %v, onehop %v", chordErr, onehopErr)
	}

	// A joiner with the secret gets in through the same gate and routes.
	cfg := libp2pGossipConfig(secret)
	cfg.Gossip.Join = []string{target.IDInfo().GossipAddr}
	joiner, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = joiner.Close() })
	nodes = append(nodes, joiner)
	waitAlivePeers(t, nodes, 2)
	keys := peerKeys(nodes)
	k := routing.PeerKey(joiner.ID())
	for {
		owners, _, err := target.Router("chord").Lookup(ctx, k)
		if err == nil && len(owners) > 0 && routing.PeerKey(owners[0].ID) == ringOwner(keys, k) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the joined member never owned its key in the ring: %v %v", owners, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, nd := range nodes {
		if table := inAnyTable(nd, rogue.ID()); table != "" {
			t.Errorf("node %d: non-member in the %s table", i, table)
		}
	}
	if got := refused(t, target, "connection"); got != 0 {
		t.Errorf("connections refused %v times: with gossip over libp2p the gate works per stream", got)
	}
}

// TestGossipOverLibp2pOpenWithoutSecret: without a cluster secret nothing is
// gated on this transport either: a stranger's Chord stream is served.
func TestGossipOverLibp2pOpenWithoutSecret(t *testing.T) {
	nodes := startLibp2pGossipCluster(t, 2, "")
	rogue := rogueHost(t)
	chordErr, onehopErr := rogueJoins(t, rogue, nodes[0])
	if chordErr != nil || onehopErr != nil {
		t.Fatalf("open node refused: chord %v, onehop %v", chordErr, onehopErr)
	}
	if got := refused(t, nodes[0], "stream"); got != 0 {
		t.Fatalf("open node refused %v streams", got)
	}
}

// streamWorks opens a stream for proto and proves the far side took it by a
// write and a read (negotiation may be lazy); any error means it did not.
func streamWorks(ctx context.Context, open func(context.Context, peer.ID, ...protocol.ID) (network.Stream, error), to peer.ID, proto protocol.ID) error {
	s, err := open(ctx, to, proto)
	if err != nil {
		return err
	}
	defer s.Reset()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.Write([]byte{0}); err != nil {
		return err
	}
	_ = s.CloseWrite()
	if _, err := s.Read(make([]byte, 1)); err != nil {
		return err
	}
	return nil
}

// TestGossipTransportConfig: gossip.transport and the join addresses each
// transport takes are checked with errors that say what to do.
func TestGossipTransportConfig(t *testing.T) {
	const p2pJoin = "/ip4/127.0.0.1/tcp/4101/p2p/12D3KooWGRUVh9mEiDQyYkYLzV9nSyMAE1jkTAZDt2qCr9LVVn3F"
	for _, tc := range []struct {
		transport, join, advertise string
		want                       string // "" = valid
	}{
		{GossipUDP, "127.0.0.1:7946", "", ""},
		{GossipLibp2p, p2pJoin, "", ""},
		{GossipUDP, p2pJoin, "", "needs gossip.transport \"libp2p\""},
		{GossipLibp2p, "127.0.0.1:7946", "", "/p2p/<peer ID>"},
		{GossipLibp2p, "/ip4/127.0.0.1/tcp/4101", "", "/p2p/<peer ID>"},
		{GossipLibp2p, p2pJoin, "1.2.3.4:7946", "addresses.gossip_advertise"},
		{"tcp", "", "", "gossip.transport"},
	} {
		cfg := DefaultConfig()
		cfg.Gossip.Transport = tc.transport
		if tc.join != "" {
			cfg.Gossip.Join = []string{tc.join}
		}
		cfg.Addresses.GossipAdvertise = tc.advertise
		err := cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %s: %v", tc.transport, tc.join, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidConfig)):
			t.Errorf("%s %s: %v, want an error containing %q", tc.transport, tc.join, err, tc.want)
		}
	}
}

// gathered sums n's counter series name whose label key has value val.
func gathered(t *testing.T, n *Node, name, key, val string) float64 {
	t.Helper()
	families, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == key && l.GetValue() == val {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// TestGossipTransportMismatchWithSecret: with a cluster secret a udp-gossip node
// closes libp2p connections of non-members, and the joiner's error says why.
func TestGossipTransportMismatchWithSecret(t *testing.T) {
	secret := newSecret(t)
	cfg := testConfig()
	cfg.Addresses.API = ""
	cfg.Gossip.Secret = secret
	udp, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = udp.Close() })
	p2p, err := New(libp2pGossipConfig(secret), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p2p.Close() })
	_, err = p2p.Join([]string{udp.Host().Addrs()[0].String() + "/p2p/" + udp.ID().String()})
	if err == nil || !strings.Contains(err.Error(), "gossip.transport=udp") {
		t.Fatalf("join: %v, want an error naming gossip.transport=udp", err)
	}
}

// TestPickJoinAddr: id offers the address most others can dial, QUIC before TCP.
func TestPickJoinAddr(t *testing.T) {
	m := func(s ...string) []ma.Multiaddr {
		var out []ma.Multiaddr
		for _, x := range s {
			out = append(out, ma.StringCast(x))
		}
		return out
	}
	const relayed = "/ip4/93.184.216.35/tcp/4101/p2p/12D3KooWGRUVh9mEiDQyYkYLzV9nSyMAE1jkTAZDt2qCr9LVVn3F/p2p-circuit"
	for _, tc := range []struct {
		in   []ma.Multiaddr
		want string
	}{
		{m("/ip4/127.0.0.1/tcp/4101", "/ip4/192.168.1.5/tcp/4101", "/ip4/93.184.216.34/tcp/4101"), "/ip4/93.184.216.34/tcp/4101"},
		{m(relayed, "/ip4/127.0.0.1/tcp/4101", "/ip4/192.168.1.5/tcp/4101"), "/ip4/192.168.1.5/tcp/4101"},
		{m(relayed, "/ip4/127.0.0.1/tcp/4101"), "/ip4/127.0.0.1/tcp/4101"},
		{m(relayed), relayed},
		{m("/ip4/93.184.216.34/tcp/4101", "/ip4/93.184.216.34/udp/4101/quic-v1", "/ip4/192.168.1.5/udp/4101/quic-v1"), "/ip4/93.184.216.34/udp/4101/quic-v1"},
		{m("/ip4/192.168.1.5/tcp/4101", "/ip4/127.0.0.1/udp/4101/quic-v1"), "/ip4/192.168.1.5/tcp/4101"},
	} {
		if got := pickJoinAddr(tc.in); got == nil || got.String() != tc.want {
			t.Errorf("pickJoinAddr(%v) = %v, want %s", tc.in, got, tc.want)
		}
	}
	if pickJoinAddr(nil) != nil {
		t.Error("an address picked from none")
	}
}
