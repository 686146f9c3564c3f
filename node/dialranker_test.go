package node

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TestTCPFirstDialRanker: TCP addresses are dialed at once, QUIC and the rest only after
// every TCP address had its head start, whatever order the peer listed them in.
func TestTCPFirstDialRanker(t *testing.T) {
	addrs := []ma.Multiaddr{
		ma.StringCast("/ip4/10.0.0.1/udp/4101/quic-v1"),
		ma.StringCast("/ip4/10.0.0.1/tcp/4101"),
		ma.StringCast("/ip4/10.0.0.1/tcp/4101/ws"),
		ma.StringCast("/ip4/203.0.113.5/udp/4101/quic-v1"),
		ma.StringCast("/ip4/203.0.113.5/tcp/4101"),
	}
	ranked := tcpFirstDialRanker(addrs)
	if len(ranked) != len(addrs) {
		t.Fatalf("%d addresses ranked, want %d: %v", len(ranked), len(addrs), ranked)
	}
	// The swarm dials in order of delay; the slice's own order does not matter.
	var lastTCP, firstOther time.Duration = -1, time.Hour
	for _, ad := range ranked {
		if isPlainTCP(ad.Addr) {
			lastTCP = max(lastTCP, ad.Delay)
		} else {
			firstOther = min(firstOther, ad.Delay)
		}
	}
	if ranked[0].Delay != 0 || !isPlainTCP(ranked[0].Addr) {
		t.Fatalf("first dial %v, want a TCP address at once", ranked[0])
	}
	if firstOther < lastTCP+quicFallbackDelay {
		t.Fatalf("first non-TCP dial at %v, want ≥ %v (last TCP %v + fallback)", firstOther, lastTCP+quicFallbackDelay, lastTCP)
	}
	// A peer with only QUIC is dialed at once.
	quicOnly := tcpFirstDialRanker([]ma.Multiaddr{ma.StringCast("/ip4/10.0.0.1/udp/4101/quic-v1")})
	if len(quicOnly) != 1 || quicOnly[0].Delay != 0 {
		t.Fatalf("QUIC-only peer ranked %v, want one dial at once", quicOnly)
	}
}

// TestNodesConnectOverTCP: two nodes listening on TCP and QUIC, one told both of the
// other's addresses (as a provider record or gossip tells it), connect over TCP, the
// transport pieces are fastest on.
func TestNodesConnectOverTCP(t *testing.T) {
	a, _ := contentNode(t, nil)
	b, _ := contentNode(t, nil)
	var haveQUIC bool
	for _, addr := range b.Host().Addrs() {
		if !isPlainTCP(addr) {
			haveQUIC = true
		}
	}
	if !haveQUIC {
		t.Fatalf("test config should listen on QUIC too: %v", b.Host().Addrs())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Host().Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	conns := a.Host().Network().ConnsToPeer(b.ID())
	if len(conns) == 0 {
		t.Fatal("connected but no connection")
	}
	for _, c := range conns {
		if !isPlainTCP(c.RemoteMultiaddr()) {
			t.Fatalf("connected over %s, want TCP", c.RemoteMultiaddr())
		}
	}
}
