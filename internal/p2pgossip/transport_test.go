package p2pgossip

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/gossip"
	"github.com/hashicorp/memberlist"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// TestClusterOverLibp2p: five members on loopback libp2p hosts join through
// /p2p/ multiaddrs, converge, see a killed member fail and a leaving one leave.
func TestClusterOverLibp2p(t *testing.T) {
	ms := make([]*member, 5)
	for i := range ms {
		ms[i] = newMember(t, nil)
	}
	start := time.Now()
	for _, m := range ms[1:] {
		if err := m.join(ms[0].p2pAddr()); err != nil {
			t.Fatalf("join: %v", err)
		}
	}
	waitFor(t, 60*time.Second, "5 members over libp2p to converge", fullView(ms), ms)
	t.Logf("converged %v after the first join", time.Since(start))
	for _, m := range ms {
		if want := AddrOf(m.h.ID(), DefaultPort).String(); m.g.Local().Addr != want {
			t.Fatalf("member gossip address %q, want the derived %q", m.g.Local().Addr, want)
		}
	}

	// Kill: stop gossip and close the host, with no leave.
	killed := ms[4]
	start = time.Now()
	_ = killed.g.Shutdown()
	_ = killed.h.Close()
	rest := ms[:4]
	waitFor(t, 60*time.Second, "the killed member to be declared dead", func() bool {
		for _, m := range rest {
			if stateOf(m.g, killed.h.ID().String()) != gossip.StateDead {
				return false
			}
		}
		return true
	}, rest)
	t.Logf("kill detected after %v", time.Since(start))
	for _, m := range rest[:3] {
		if st := stateOf(m.g, rest[3].h.ID().String()); st != gossip.StateAlive {
			t.Fatalf("a live member is %s", st)
		}
	}

	leaver := ms[3]
	start = time.Now()
	if err := leaver.g.Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	_ = leaver.g.Shutdown()
	rest = ms[:3]
	waitFor(t, 60*time.Second, "the leave to be seen", func() bool {
		for _, m := range rest {
			if stateOf(m.g, leaver.h.ID().String()) != gossip.StateLeft {
				return false
			}
		}
		return true
	}, rest)
	t.Logf("leave seen after %v", time.Since(start))
	if got := counter(t, ms[0].reg, "dhtnode_gossip_libp2p_bytes_total", map[string]string{"direction": "received", "kind": "packet"}); got == 0 {
		t.Fatal("no packet bytes counted")
	}
	if got := counter(t, ms[0].reg, "dhtnode_gossip_libp2p_bytes_total", map[string]string{"direction": "received", "kind": "stream"}); got == 0 {
		t.Fatal("no stream bytes counted")
	}
}

// TestSecretOverLibp2p: with a cluster secret memberlist still encrypts on this
// transport; a joiner with another secret is refused with the secret hint, one
// with the same secret joins.
func TestSecretOverLibp2p(t *testing.T) {
	secret := []byte("0123456789abcdef")
	a := newMember(t, func(c *gossip.Config) { c.SecretKey = secret })
	wrong := newMember(t, func(c *gossip.Config) { c.SecretKey = []byte("fedcba9876543210") })
	err := wrong.join(a.p2pAddr())
	if err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("join with the wrong secret: %v, want a refusal naming the secret", err)
	}
	none := newMember(t, nil)
	if err := none.join(a.p2pAddr()); err == nil {
		t.Fatal("join without a secret into an encrypted cluster succeeded")
	}
	right := newMember(t, func(c *gossip.Config) { c.SecretKey = secret })
	if err := right.join(a.p2pAddr()); err != nil {
		t.Fatalf("join with the right secret: %v", err)
	}
	ms := []*member{a, right}
	waitFor(t, 30*time.Second, "the right-secret pair to converge", fullView(ms), ms)
	if stateOf(a.g, wrong.h.ID().String()) != "" || stateOf(a.g, none.h.ID().String()) != "" {
		t.Fatalf("a refused joiner is in the view:\n%s", views(ms))
	}
}

// TestSignedMetadataOverLibp2p: the members' signed metadata carries their peer
// IDs and libp2p addresses and is bound to the derived gossip address.
func TestSignedMetadataOverLibp2p(t *testing.T) {
	a, b := newMember(t, nil), newMember(t, nil)
	if err := b.join(a.p2pAddr()); err != nil {
		t.Fatal(err)
	}
	ms := []*member{a, b}
	waitFor(t, 30*time.Second, "two members to converge", fullView(ms), ms)
	for _, mem := range a.g.Members() {
		if mem.Name != b.h.ID().String() {
			continue
		}
		if mem.PeerID != b.h.ID() || len(mem.Addrs) == 0 || mem.Addr != AddrOf(b.h.ID(), DefaultPort).String() {
			t.Fatalf("b as a sees it: %+v", mem)
		}
		// What gossip's reconnect does: name the member by gossip address alone.
		if id, err := a.tr.resolve(memberlist.Address{Addr: mem.Addr}); err != nil || id != b.h.ID() {
			t.Fatalf("resolving b's gossip address: %v %v", id, err)
		}
		return
	}
	t.Fatal("b not in a's view")
}

// TestJoinUDPPeerIsClearError: joining a libp2p host that gossips over UDP (it
// has no gossip protocol handler) fails with an error that says so.
func TestJoinUDPPeerIsClearError(t *testing.T) {
	udpNode := newLoopbackHost(t) // a dhtnode on gossip.transport=udp still runs a libp2p host
	m := newMember(t, nil)
	err := m.join(udpNode.Addrs()[0].String() + "/p2p/" + udpNode.ID().String())
	if err == nil || !strings.Contains(err.Error(), "gossip.transport=udp") {
		t.Fatalf("join of a UDP-gossip node: %v, want an error naming gossip.transport=udp", err)
	}
	if !strings.Contains(err.Error(), udpNode.ID().String()) {
		t.Fatalf("error %v does not name the peer", err)
	}
}

// TestJoinAddrRejectsBadInput: join addresses must be multiaddrs with a peer ID.
func TestJoinAddrRejectsBadInput(t *testing.T) {
	m := newMember(t, nil)
	for _, s := range []string{"127.0.0.1:7946", "/ip4/127.0.0.1/tcp/4001", "/p2p/notapeerid", m.p2pAddr()} {
		if _, err := m.tr.JoinAddr(s); err == nil {
			t.Errorf("JoinAddr(%q) accepted", s)
		}
	}
	if _, err := m.tr.WriteTo([]byte("x"), "[fd64:68::1]:7946"); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("WriteTo an unknown address: %v, want ErrUnknownPeer", err)
	}
	if _, err := m.tr.WriteTo(make([]byte, DefaultMaxPacket+1), m.g.Local().Addr); err == nil {
		t.Error("an oversized packet was accepted")
	}
}

// TestMalformedFramesResetStream: a peer sending garbage on the packet protocol
// gets its stream reset; the transport keeps working and nothing panics.
func TestMalformedFramesResetStream(t *testing.T) {
	m := newMember(t, nil)
	other := newLoopbackHost(t)
	other.Peerstore().AddAddrs(m.h.ID(), m.h.Addrs(), time.Minute)
	for _, payload := range [][]byte{
		{0x00},                         // empty frame
		{0xff, 0xff, 0xff, 0xff, 0x0f}, // 4 GiB frame
		{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, // varint overflow
		{0x05, 'a', 'b'}, // truncated
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := other.NewStream(ctx, m.h.ID(), PacketProtocol)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = s.Write(payload)
		_ = s.CloseWrite()
		_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = s.Read(make([]byte, 1))
		if err == nil {
			t.Fatalf("payload %x: stream still open", payload)
		}
		_ = s.Reset()
	}
	if got := counter(t, m.reg, "dhtnode_gossip_libp2p_dropped_total", map[string]string{"reason": "malformed"}); got < 4 {
		t.Fatalf("malformed drops = %v, want 4", got)
	}
	// A well-formed frame still arrives.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := other.NewStream(ctx, m.h.ID(), PacketProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	var buf bytes.Buffer
	if err := writeFrame(&buf, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	waitForCounter(t, m, "dhtnode_gossip_libp2p_packets_total", map[string]string{"direction": "received"}, 1)
}

func waitForCounter(t *testing.T, m *member, name string, labels map[string]string, min float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for counter(t, m.reg, name, labels) < min {
		if time.Now().After(deadline) {
			t.Fatalf("%s%v stayed below %v", name, labels, min)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSendQueueDropsWhenFull: WriteTo never blocks; packets beyond the queue of
// an unreachable peer are dropped and counted.
func TestSendQueueDropsWhenFull(t *testing.T) {
	h := newLoopbackHost(t)
	reg := prometheus.NewRegistry()
	tr, err := New(Config{Host: h, SendQueue: 4, DialTimeout: 2 * time.Second, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown()
	gone := newLoopbackHost(t)
	id := gone.ID()
	_ = gone.Close()
	addr := memberlist.Address{Addr: AddrOf(id, DefaultPort).String(), Name: id.String()}
	start := time.Now()
	for range 100 {
		if _, err := tr.WriteToAddress([]byte("ping"), addr); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("100 writes to an unreachable peer took %v", d)
	}
	// Every packet is accounted for: dropped at the full queue, or dequeued and
	// dropped because no stream to the peer could be opened.
	deadline := time.Now().Add(30 * time.Second)
	for {
		full := counter(t, reg, "dhtnode_gossip_libp2p_dropped_total", map[string]string{"reason": "queue_full"})
		unreachable := counter(t, reg, "dhtnode_gossip_libp2p_dropped_total", map[string]string{"reason": "unreachable"})
		if full+unreachable == 100 && full > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue_full %v + unreachable %v drops, want 100 with some queue_full", full, unreachable)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FuzzReadFrame: any input either decodes to frames that re-encode to the same
// bytes, or fails with an error; never a panic or an oversized buffer.
func FuzzReadFrame(f *testing.F) {
	var seed bytes.Buffer
	_ = writeFrame(&seed, []byte("hello"))
	_ = writeFrame(&seed, bytes.Repeat([]byte{7}, 300))
	f.Add(seed.Bytes())
	f.Add([]byte{0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 1024
		r := bufio.NewReader(bytes.NewReader(in))
		var out bytes.Buffer
		consumed := 0
		for {
			b, err := readFrame(r, max)
			if err != nil {
				break
			}
			if len(b) == 0 || len(b) > max {
				t.Fatalf("frame of %d bytes", len(b))
			}
			_ = writeFrame(&out, b)
			consumed = out.Len()
		}
		if !bytes.Equal(out.Bytes(), in[:consumed]) {
			t.Fatalf("re-encoding differs from the input prefix")
		}
	})
}

// TestGossipThroughRelay: a member nobody can dial (no listen address) and that
// can dial only its relay (a gater stands in for a NAT and firewall) reserves a
// slot on a circuit relay. The other member joins it through its /p2p-circuit
// address; gossip then runs both ways on the relay's limited connection, keeps
// the member alive across many probe rounds, and still detects its crash.
func TestGossipThroughRelay(t *testing.T) {
	relayHost := newLoopbackHost(t, libp2p.EnableRelayService(), libp2p.ForceReachabilityPublic())
	var allow atomic.Bool // lifts the dial restriction
	natted := newLoopbackHost(t, libp2p.NoListenAddrs, libp2p.EnableRelay(),
		libp2p.ConnectionGater(onlyDial{peer: relayHost.ID(), all: &allow}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	relayInfo := peer.AddrInfo{ID: relayHost.ID(), Addrs: relayHost.Addrs()}
	if err := natted.Connect(ctx, relayInfo); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, natted, relayInfo); err != nil {
		t.Fatalf("reserve: %v", err)
	}
	circuit := ma.StringCast(fmt.Sprintf("%s/p2p/%s/p2p-circuit", relayHost.Addrs()[0], relayHost.ID()))

	public := newMember(t, nil)
	hidden := newMemberOn(t, natted, nil, circuit)
	ms := []*member{public, hidden}
	if err := public.join(fmt.Sprintf("%s/p2p/%s", circuit, natted.ID())); err != nil {
		t.Fatalf("join through the relay: %v", err)
	}
	waitFor(t, 30*time.Second, "the relayed member to converge", fullView(ms), ms)
	if c := public.h.Network().Connectedness(natted.ID()); c != network.Limited {
		t.Fatalf("public↔hidden connection is %v, want only a limited (relayed) one", c)
	}
	// Stay alive across many probe rounds (local profile: a probe every 100 ms
	// per member), every one through the relay.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if st := stateOf(public.g, natted.ID().String()); st != gossip.StateAlive {
			t.Fatalf("the relayed member became %s while up:\n%s", st, views(ms))
		}
		if st := stateOf(hidden.g, public.h.ID().String()); st != gossip.StateAlive {
			t.Fatalf("the public member became %s in the relayed member's view:\n%s", st, views(ms))
		}
	}

	// A direct connection appears (here the NATed side may dial out again, as
	// after a hole punch): both packet streams leave the relay.
	allow.Store(true)
	if err := natted.Connect(network.WithForceDirectDial(ctx, "test"), peer.AddrInfo{ID: public.h.ID(), Addrs: public.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if c := natted.Network().Connectedness(public.h.ID()); c != network.Connected {
		t.Fatalf("no direct connection after a direct dial: %v", c)
	}
	waitFor(t, 30*time.Second, "packet streams to move to the direct connection", func() bool {
		return packetStreamsDirect(public.h, natted.ID()) && packetStreamsDirect(natted, public.h.ID())
	}, ms)

	_ = hidden.g.Shutdown()
	_ = natted.Close()
	waitFor(t, 30*time.Second, "the relayed member's crash to be detected", func() bool {
		return stateOf(public.g, natted.ID().String()) == gossip.StateDead
	}, ms[:1])
}

// onlyDial is a connection gater that lets its host dial one peer only, the
// way a host behind NAT and a strict firewall reaches its relay and nothing else.
type onlyDial struct {
	peer peer.ID
	all  *atomic.Bool // when set, every dial is let through
}

func (g onlyDial) InterceptPeerDial(p peer.ID) bool             { return p == g.peer || g.all.Load() }
func (g onlyDial) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }
func (g onlyDial) InterceptAccept(network.ConnMultiaddrs) bool  { return true }
func (g onlyDial) InterceptSecured(network.Direction, peer.ID, network.ConnMultiaddrs) bool {
	return true
}
func (g onlyDial) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// forgedDelegate is a bare memberlist member advertising chosen metadata bytes.
type forgedDelegate struct{ meta []byte }

func (d forgedDelegate) NodeMeta(int) []byte           { return d.meta }
func (forgedDelegate) NotifyMsg([]byte)                {}
func (forgedDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (forgedDelegate) LocalState(bool) []byte          { return nil }
func (forgedDelegate) MergeRemoteState([]byte, bool)   {}

// TestReplayedMetadataRefusedOverLibp2p: a member's signed metadata replayed by
// another libp2p peer is refused (it is bound to the victim's derived gossip
// address, and the replayer's is derived from its own peer ID), counted, and the
// replayer never becomes a member.
func TestReplayedMetadataRefusedOverLibp2p(t *testing.T) {
	victim, target := newMember(t, nil), newMember(t, nil)
	if err := victim.join(target.p2pAddr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "two members", fullView([]*member{victim, target}), []*member{victim, target})
	// The victim's record as anyone in the cluster has seen it go by.
	replayed, err := gossip.SignMeta(victim.h.ID().String(), victim.h.Peerstore().PrivKey(victim.h.ID()),
		AddrOf(victim.h.ID(), DefaultPort), uint64(time.Now().UnixNano()), victim.h.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	attacker := newLoopbackHost(t)
	tr, err := New(Config{Host: attacker})
	if err != nil {
		t.Fatal(err)
	}
	mc := memberlist.DefaultLocalConfig()
	mc.Name = attacker.ID().String()
	mc.Transport = tr
	mc.Delegate = forgedDelegate{meta: replayed}
	mc.LogOutput = io.Discard
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Shutdown()
	j, err := tr.JoinAddr(target.p2pAddr())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = ml.Join([]string{j}) // refused: memberlist may or may not report it
	waitForCounter(t, target, "dhtnode_gossip_refused_members_total", nil, 1)
	if st := stateOf(target.g, attacker.ID().String()); st == gossip.StateAlive || st == gossip.StateSuspect {
		t.Fatalf("the replayer is %s in the target's view", st)
	}
}

// switchGater cuts its host off from one peer while on, both ways.
type switchGater struct {
	peer peer.ID
	on   *atomic.Bool
}

func (g switchGater) cut(p peer.ID) bool                           { return g.on.Load() && p == g.peer }
func (g switchGater) InterceptPeerDial(p peer.ID) bool             { return !g.cut(p) }
func (g switchGater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }
func (g switchGater) InterceptAccept(network.ConnMultiaddrs) bool  { return true }
func (g switchGater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.cut(p)
}
func (g switchGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// TestPartitionHealsOverLibp2p: two members cut off from each other declare
// each other dead; once the cut heals they merge again, over new libp2p
// connections the transport opens by itself (memberlist keeps gossiping to the
// dead for a while, and gossip's reconnect joins failed members by gossip
// address alone, which the transport maps back to the peer).
func TestPartitionHealsOverLibp2p(t *testing.T) {
	a := newMember(t, nil)
	var cut atomic.Bool
	bh := newLoopbackHost(t, libp2p.ConnectionGater(switchGater{peer: a.h.ID(), on: &cut}))
	b := newMemberOn(t, bh, func(c *gossip.Config) { c.ReconnectInterval = time.Second })
	ms := []*member{a, b}
	if err := b.join(a.p2pAddr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "two members", fullView(ms), ms)
	cut.Store(true)
	_ = bh.Network().ClosePeer(a.h.ID())
	waitFor(t, 60*time.Second, "both sides to declare the other dead", func() bool {
		return stateOf(a.g, bh.ID().String()) == gossip.StateDead && stateOf(b.g, a.h.ID().String()) == gossip.StateDead
	}, ms)
	cut.Store(false)
	start := time.Now()
	waitFor(t, 60*time.Second, "the partition to heal", fullView(ms), ms)
	t.Logf("healed %v after the cut was lifted", time.Since(start))
}

// packetStreamsDirect reports whether h has an outbound gossip packet stream to
// p and none of them runs on a limited (relayed) connection.
func packetStreamsDirect(h host.Host, p peer.ID) bool {
	found := false
	for _, c := range h.Network().ConnsToPeer(p) {
		for _, s := range c.GetStreams() {
			if s.Protocol() != PacketProtocol || s.Stat().Direction != network.DirOutbound {
				continue
			}
			if c.Stat().Limited {
				return false
			}
			found = true
		}
	}
	return found
}
