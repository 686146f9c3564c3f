package node

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
)

// TestReachRelayMembersOnly runs a cluster with a secret where one node is declared
// public (it relays) and one private (it reserves a slot on the relay, from
// relay.static). A member reaches the private node through the relay and the
// private node's gate lets the relayed connection in; a host that is not a member
// cannot use the relay at all. id reports each node's reachability.
func TestReachRelayMembersOnly(t *testing.T) {
	secret := newSecret(t)
	start := func(reach string, static []string, join string) *Node {
		cfg := testConfig()
		cfg.Addresses.API = ""
		cfg.Gossip.Secret = secret
		cfg.Addresses.Reachability = reach
		cfg.Relay.Static = static
		if join != "" {
			cfg.Gossip.Join = []string{join}
		}
		nd, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nd.Close() })
		return nd
	}
	relayNode := start(ReachPublic, nil, "")
	relayAddr := addrsOver(relayNode, ma.P_TCP)[0].Encapsulate(ma.StringCast("/p2p/" + relayNode.ID().String()))
	natted := start(ReachPrivate, []string{relayAddr.String()}, relayNode.Gossip().BoundAddr())
	member := start(ReachAuto, nil, relayNode.Gossip().BoundAddr())

	deadline := time.Now().Add(60 * time.Second)
	for _, nd := range []*Node{relayNode, natted, member} {
		for len(nd.AlivePeers()) < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("gossip never converged at %s", nd.ID())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	if got := relayNode.IDInfo().Reach; got.Reachability != "public" || !got.RelayService {
		t.Errorf("relay node reach = %+v, want public with the relay service", got)
	}
	if got := natted.IDInfo().Reach; got.Reachability != "private" || got.RelayService {
		t.Errorf("private node reach = %+v, want private without a relay service", got)
	}
	if got := member.IDInfo().Reach.Reachability; got != "unknown" && got != "private" {
		// On loopback AutoNAT has no public address to test, so it cannot say public.
		t.Errorf("auto node on loopback reach = %q, want unknown (or private)", got)
	}

	circuit := relayAddr.Encapsulate(ma.StringCast("/p2p-circuit/p2p/" + natted.ID().String()))
	dialRelayed := func(ctx context.Context, h interface{ Network() network.Network }, p peer.ID) error {
		sw := h.Network().(*swarm.Swarm)
		tpt := sw.TransportForDialing(circuit)
		if tpt == nil {
			t.Fatalf("no transport dials %s: the relay transport is off", circuit)
		}
		c, err := tpt.Dial(ctx, circuit, p)
		if err != nil {
			return err
		}
		// Open a stream so the far side has surely accepted (its gate ran).
		s, err := c.OpenStream(ctx)
		if err == nil {
			_ = s.Close()
		}
		_ = c.Close()
		return err
	}

	// The reservation is made in the background: retry until the relay knows natted.
	refusedBefore := refused(t, natted, "connection")
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = dialRelayed(ctx, member.Host(), natted.ID())
		cancel()
		if err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("member could not reach the private node through the relay: %v", err)
	}
	if n := refused(t, natted, "connection"); n != refusedBefore {
		t.Errorf("private node refused %v connections while a member dialled it through the relay", n-refusedBefore)
	}

	// A plain libp2p host (relay transport on, as by default) that never joined.
	rogue, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rogue.Close() })
	rogue.Peerstore().AddAddrs(relayNode.ID(), relayNode.Host().Addrs(), time.Hour)
	before := refused(t, relayNode, "connection")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rogue.Connect(ctx, peer.AddrInfo{ID: natted.ID(), Addrs: []ma.Multiaddr{circuit}}); err == nil {
		t.Fatal("a non-member reached the private node through the relay")
	}
	if after := refused(t, relayNode, "connection"); after <= before {
		t.Errorf("relay's refusals went %v -> %v: the non-member was not turned away by the gate", before, after)
	}
}
